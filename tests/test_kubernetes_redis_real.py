"""The Kubernetes Redis's arguments, given to Debian's real redis-server: the settings it ends up with."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from components.kubernetes.redis_cache import redis_args
from tests.host_tools import require_tool
from tests.kubernetes_stacks import one, run_variant


def _redis_server() -> str:
    return str(require_tool("redis-server"))


def test_redis_runs_with_no_persistence_and_an_lfu_cache(tmp_path: Path) -> None:
    shards = one(run_variant("done-when"), "StatefulSet", "mmr-prod-redis")
    (container,) = shards["spec"]["template"]["spec"]["containers"]
    assert container["args"] == redis_args("1gb")
    socket = tmp_path / "redis.sock"
    # No TCP port: the test talks over a unix socket in its own temp dir.
    server = subprocess.Popen(
        [_redis_server(), *container["args"], "--port", "0", "--unixsocket", str(socket), "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)

        def config_get(key: str) -> str:
            out = subprocess.run(
                ["redis-cli", "-s", str(socket), "CONFIG", "GET", key], capture_output=True, text=True, check=True
            )
            return out.stdout.splitlines()[1] if len(out.stdout.splitlines()) > 1 else ""

        assert config_get("save") == ""
        assert config_get("appendonly") == "no"
        assert config_get("maxmemory") == str(1024 * 1024 * 1024)
        assert config_get("maxmemory-policy") == "allkeys-lfu"
        assert config_get("protected-mode") == "no"
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
