"""A real Docker engine for the tests: Debian's dockerd, alone in a network namespace the test run makes.

The daemon's unix socket is the one way in. It starts with no default bridge,
no iptables and no forwarding, inside `unshare --net`, so no container and no
daemon traffic can leave the namespace: no registry pull, no DNS, no outside
address. Images are the stand-ins of ``tests/standin_images.py``. The daemon
is stopped by its pid and its directories removed at the end of the session.

Where dockerd cannot start (not installed, not root) the tier skips with the
reason; under CI (``CI=true``) it fails instead, since tests/run installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import docker
import pytest

from tests.host_tools import in_new_network_namespace, require_tool, unavailable
from tests.standin_images import build_all

START_TIMEOUT_SECONDS = 60


def _unavailable(reason: str) -> NoReturn:
    unavailable(f"no real Docker engine: {reason}")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.APIClient]:
    """An API client for a throwaway dockerd with the stand-in images loaded."""
    with running_engine(build_all) as client:
        yield client


@contextlib.contextmanager
def running_engine(
    build_images: Callable[[Path, str], None],
    *,
    configured: Callable[[Path], tuple[Path, list[str]]] | None = None,
) -> Iterator[docker.APIClient]:
    """A dockerd of its own, with the images ``build_images(workdir, docker_host)`` makes; stopped at the end.

    ``configured(workdir)``: a daemon.json (which then names the data root) and more ``--host`` addresses.
    """
    dockerd = str(require_tool("dockerd"))
    if os.geteuid() != 0:
        _unavailable("dockerd must start as root")
    workdir = Path(tempfile.mkdtemp(prefix="mmr-dockerd-"))
    socket = workdir / "docker.sock"
    if configured is None:
        engine_flags = [f"--data-root={workdir / 'data'}"]
    else:
        config_file, hosts = configured(workdir)
        engine_flags = [f"--config-file={config_file}", *(f"--host={host}" for host in hosts)]
    log = (workdir / "dockerd.log").open("w")
    process = subprocess.Popen(
        [
            *in_new_network_namespace(),
            dockerd,
            *engine_flags,
            f"--exec-root={workdir / 'exec'}",
            f"--pidfile={workdir / 'dockerd.pid'}",
            f"--host=unix://{socket}",
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group: stopping it stops dockerd and the containerd it started.
        start_new_session=True,
    )
    try:
        client = _wait_for(socket, process, workdir)
        build_images(workdir / "images", f"unix://{socket}")
        yield client
    finally:
        _stop(process, workdir)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def engine_pid(client: docker.APIClient) -> int:
    """dockerd's pid: ``nsenter --net --target`` it to reach what it publishes on its 127.0.0.1."""
    socket = Path(client.get_adapter("http+docker://localhost").socket_path)
    return int((socket.parent / "dockerd.pid").read_text())


def _wait_for(socket: Path, process: subprocess.Popen[bytes], workdir: Path) -> docker.APIClient:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _unavailable(f"dockerd exited with {process.returncode}: {(workdir / 'dockerd.log').read_text()[-2000:]}")
        if socket.exists():
            client = docker.APIClient(base_url=f"unix://{socket}", timeout=120)
            try:
                client.ping()
                return client
            except Exception:
                pass
        time.sleep(0.2)
    _unavailable(f"dockerd did not answer within {START_TIMEOUT_SECONDS}s")
    raise AssertionError("unreachable")


def _stop(process: subprocess.Popen[bytes], workdir: Path) -> None:
    """SIGTERM to dockerd's pid (it stops its containers and its containerd), SIGKILL to what lingers."""
    pidfile = workdir / "dockerd.pid"
    if process.poll() is None and pidfile.exists():
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    # Mounts dockerd left behind (overlay layers, volumes) would keep the directory from being removed.
    subprocess.run(["umount", "-R", "-l", str(workdir / "exec")], capture_output=True)
    for mount in reversed(Path("/proc/mounts").read_text().splitlines()):
        target = mount.split()[1]
        if target.startswith(str(workdir)):
            subprocess.run(["umount", "-l", target], capture_output=True)
