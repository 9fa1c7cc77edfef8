"""A Docker host that runs for months, on the real engine: bounded logs and memory, and a hung MMR restarted.

The MMR stand-in (tests/standins/media_repo.sh) hangs when told to: its process lives and its
port stays open, but nothing answers, as upstream issue #470 describes. The watchdog in MMR's
health check (components/docker/host_limits.py) must restart it within the stated bound, and
must leave alone an MMR that is slow to answer at its first start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from config_schema.docker_host import media_repo_mib
from config_schema.loading import load_stack_config
from tests.docker_replay import CONTAINER, EngineState
from tests.pulumi_harness import ProgramRun
from tests.test_docker_engine import apply, run_in, tear_down
from tests.variants import VARIANTS

# The watchdog's settings under test: a check every 2 s, 3 failures in a row.
INTERVAL, FAILURES = 2, 3
# Stated in the README: after a hang, MMR runs again within (failures + 1) x interval + the check's 5 s
# timeout x failures + the restart. Here: 8 + 15 + a few seconds.
BOUND_SECONDS = (FAILURES + 1) * INTERVAL + 5 * FAILURES + 10


def _config() -> dict[str, Any]:
    config = VARIANTS["dev"]()
    config["docker"] = {"watchdog": {"intervalSeconds": INTERVAL, "failures": FAILURES}}
    return config


@pytest.fixture(scope="module")
def host(docker_engine: docker.APIClient) -> Iterator[tuple[EngineState, ProgramRun]]:
    state = EngineState(docker_engine)
    try:
        yield state, apply(state, _config(), "host")
    finally:
        tear_down(docker_engine, "host")


def _state(client: docker.APIClient) -> dict[str, Any]:
    inspected = client.inspect_container("mmr-host")
    return {"restarts": inspected["RestartCount"], "started": inspected["State"]["StartedAt"], **inspected["State"]}


def _wait_healthy(client: docker.APIClient, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        state = client.inspect_container("mmr-host")["State"]
        if state["Running"] and state.get("Health", {}).get("Status") == "healthy":
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"mmr-host not healthy within {timeout}s: {client.logs('mmr-host').decode()[-1500:]}")


def test_every_container_has_bounded_logs_and_a_memory_limit(host: tuple[EngineState, ProgramRun]) -> None:
    state, run = host
    client = state.client
    expected_mmr = media_repo_mib(*(lambda s: (s.docker, s.thumbnails))(load_stack_config(_config())))
    for registration in run.of_type(CONTAINER):
        inspected = client.inspect_container(registration.inputs["name"])["HostConfig"]
        assert inspected["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "5"}}
        assert inspected["Memory"] > 0 and inspected["MemorySwap"] == inspected["Memory"], registration.name
    assert client.inspect_container("mmr-host")["HostConfig"]["Memory"] == expected_mmr * 2**20
    # The kernel holds MMR to it: the cgroup's limit as the container sees it (cgroup v1 or v2).
    code, limit = run_in(
        client,
        "mmr-host",
        ["sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"],
    )
    assert code == 0 and int(limit.strip()) == expected_mmr * 2**20


def test_a_slow_first_start_is_not_restarted(host: tuple[EngineState, ProgramRun]) -> None:
    client = host[0].client
    # Longer than FAILURES checks: a watchdog that counted them would stop it.
    slow = (FAILURES + 3) * INTERVAL
    code, _ = run_in(client, "mmr-host", ["sh", "-c", f"echo {slow} > /tmp/.standin-slow-start"])
    assert code == 0
    client.restart("mmr-host", timeout=10)
    before = _state(client)
    waited = _wait_healthy(client, timeout=slow + 60)
    after = _state(client)
    assert waited >= slow - 1
    assert (after["restarts"], after["started"]) == (before["restarts"], before["started"])
    assert "watchdog" not in client.logs("mmr-host", since=int(time.time()) - 120).decode()


def test_a_hung_mmr_is_restarted_within_the_bound(host: tuple[EngineState, ProgramRun]) -> None:
    client = host[0].client
    _wait_healthy(client, timeout=60)
    before = _state(client)
    hung_at = time.monotonic()
    code, _ = run_in(client, "mmr-host", ["touch", "/tmp/.standin-hang"])
    assert code == 0
    # The port stays open while it hangs: only /healthz's answer is missing.
    deadline = hung_at + BOUND_SECONDS
    while time.monotonic() < deadline and _state(client)["restarts"] == before["restarts"]:
        time.sleep(0.5)
    after = _state(client)
    assert after["restarts"] == before["restarts"] + 1, client.logs("mmr-host").decode()[-2000:]
    _wait_healthy(client, timeout=max(1.0, deadline - time.monotonic()) + 5)
    elapsed = time.monotonic() - hung_at
    assert elapsed <= BOUND_SECONDS + 5
    logs = client.logs("mmr-host").decode()
    assert "watchdog: /healthz failed 3 checks in a row; sending SIGTERM to MMR" in logs
    # Docker saw it exit, as `docker events` and the exit code show.
    events = client.events(since=int(time.time()) - 300, until=int(time.time()), decode=True,
                           filters={"container": "mmr-host", "event": "die"})  # fmt: skip
    assert any(event["Actor"]["Attributes"].get("exitCode") for event in events)


def _health(client: docker.APIClient) -> str:
    return client.inspect_container("mmr-host")["State"].get("Health", {}).get("Status", "")


def _until(client: docker.APIClient, status: str, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if _health(client) == status:
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"mmr-host not {status} within {timeout}s")


def test_a_database_that_does_not_answer_makes_mmr_unhealthy_and_never_restarts_it(
    host: tuple[EngineState, ProgramRun],
) -> None:
    """The stand-in answers the readiness probe's download 500 while the hook is set, as MMR does without its
    database: unhealthy within two checks, no restart however long it lasts, healthy at the next check after."""
    client = host[0].client
    _wait_healthy(client, timeout=60)
    before = _state(client)
    code, _ = run_in(client, "mmr-host", ["touch", "/media/.standin-database-down"])
    assert code == 0
    assert _until(client, "unhealthy", timeout=3 * INTERVAL + 10) <= 3 * INTERVAL + 10
    # Longer than the watchdog's FAILURES checks: a readiness failure is never counted as a hang.
    time.sleep((FAILURES + 2) * INTERVAL)
    assert _health(client) == "unhealthy"
    log = client.inspect_container("mmr-host")["State"]["Health"]["Log"][-1]["Output"]
    assert "cannot reach its database" in log, log
    code, _ = run_in(client, "mmr-host", ["rm", "/media/.standin-database-down"])
    assert code == 0
    assert _until(client, "healthy", timeout=2 * INTERVAL + 10)
    after = _state(client)
    assert (after["restarts"], after["started"]) == (before["restarts"], before["started"])
