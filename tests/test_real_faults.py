"""Faults on the real binary: what Docker's health status says of MMR v1.3.8 while Postgres or Redis is gone, and
that the watchdog restarts only a hung MMR (issue #37).

A stack with Redis, deployed by the real Pulumi CLI on a dockerd of its own (as tests/test_real_pulumi.py does),
then one fault at a time, each measured from the moment it was injected:
- Postgres stopped: MMR's health check turns unhealthy (the readiness probe's lookup gets 500), and healthy
  again once Postgres is back; MMR is never restarted meanwhile.
- Redis stopped: the same, since with one shard every download fails (upstream #350).
- MMR hung (its process stopped with SIGSTOP, its port still open): the watchdog restarts it.
An upload acknowledged before the faults is downloaded after them, bytes compared. The times are printed
(``pytest -s``) and the README's table quotes them.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator

import docker
import pytest

from config_schema.images import REDIS_IMAGE
from tests.docker_engine import running_engine
from tests.real_engine.mmr_process import another_process
from tests.real_engine.pulumi_project import PulumiProject, docker_project
from tests.real_mmr_image import build_real_tier_images

pytestmark = pytest.mark.real_pulumi

STACK = "faults"
MMR = f"mmr-{STACK}"
# The Done-when of issue #37: unhealthy within 30 s of Postgres stopping, healthy within 30 s of its return.
WITHIN_SECONDS = 30
# The watchdog's failures under test (the default is 6, a minute at the default 10 s interval).
WATCHDOG_FAILURES = 3
# How soon downloads through another process succeed again after one of three Redis shards stops, and the
# longest an upload may take meanwhile.
RECOVERY_SECONDS = 30
UPLOAD_SECONDS = 120


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.APIClient]:
    with running_engine(build_real_tier_images) as client:
        yield client


@pytest.fixture(scope="module")
def stack(engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulumiProject]:
    project = docker_project(engine, tmp_path_factory.mktemp("real-faults"))
    project.sh(
        f"pulumi stack init {STACK}\n"
        "pulumi config set --path 'homeservers[0].name' example.org\n"
        "pulumi config set --path 'homeservers[0].csApi' https://matrix.example.org\n"
        "pulumi config set --path redis.enabled true\n"
        f"pulumi config set --path docker.watchdog.failures {WATCHDOG_FAILURES}\n"
    )
    project.pulumi("up", "--yes")
    yield project
    project.pulumi("state", "unprotect", "--all")
    project.pulumi("destroy")


def _health(engine: docker.APIClient) -> tuple[str, int, str]:
    state = engine.inspect_container(MMR)
    return state["State"].get("Health", {}).get("Status", ""), state["RestartCount"], state["State"]["StartedAt"]


def _until(engine: docker.APIClient, status: str, limit: float) -> float:
    """Seconds until MMR's health status is ``status``; fails past ``limit`` with the last check's output."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if _health(engine)[0] == status:
            return time.monotonic() - start
        time.sleep(0.5)
    log = engine.inspect_container(MMR)["State"].get("Health", {}).get("Log", [])
    raise AssertionError(f"{MMR} not {status} within {limit} s; last check: {log[-1:]}")


def _token(project: PulumiProject) -> str:
    return project.outputs(show_secrets=True)["sharedSecretToken"]


def _upload(project: PulumiProject, body: bytes) -> str:
    path = project.directory / "upload.bin"
    path.write_bytes(body)
    answer = project.sh(
        "curl -sf -X POST -H 'Host: example.org' -H 'Content-Type: application/octet-stream' "
        f"-H 'Authorization: Bearer {_token(project)}' --data-binary @upload.bin "
        "http://127.0.0.1:8000/_matrix/media/v3/upload"
    ).stdout
    return answer.split('"content_uri":"mxc://example.org/', 1)[1].split('"', 1)[0]


def _download(project: PulumiProject, media_id: str) -> bytes:
    project.sh(
        f"curl -sf -o download.bin -H 'Host: example.org' -H 'Authorization: Bearer {_token(project)}' "
        f"http://127.0.0.1:8000/_matrix/client/v1/media/download/example.org/{media_id}"
    )
    return (project.directory / "download.bin").read_bytes()


@pytest.fixture(scope="module")
def acknowledged(stack: PulumiProject, engine: docker.APIClient) -> tuple[str, bytes]:
    assert _until(engine, "healthy", 60) >= 0
    body = secrets.token_bytes(4096)
    return _upload(stack, body), body


@pytest.mark.parametrize("server", ["postgres", "redis"])
def test_a_lost_dependency_turns_mmr_unhealthy_and_back_without_a_restart(
    stack: PulumiProject, engine: docker.APIClient, acknowledged: tuple[str, bytes], server: str
) -> None:
    _until(engine, "healthy", 60)
    _, restarts, started = _health(engine)
    engine.stop(f"{MMR}-{server}", timeout=10)
    try:
        unhealthy_after = _until(engine, "unhealthy", WITHIN_SECONDS)
        # Longer than the watchdog's failures at its interval: a readiness failure is never counted as a hang.
        time.sleep(WATCHDOG_FAILURES * 10 + 5)
        assert _health(engine)[:1] == ("unhealthy",)
    finally:
        engine.start(f"{MMR}-{server}")
    healthy_after = _until(engine, "healthy", WITHIN_SECONDS)
    assert _health(engine)[1:] == (restarts, started), "MMR was restarted while its dependency was gone"
    print(f"\n{server} stopped: unhealthy after {unhealthy_after:.1f} s; back: healthy after {healthy_after:.1f} s")


def test_a_hung_mmr_is_restarted_by_the_watchdog_and_keeps_what_it_acknowledged(
    stack: PulumiProject, engine: docker.APIClient, acknowledged: tuple[str, bytes]
) -> None:
    _until(engine, "healthy", 60)
    _, restarts, _ = _health(engine)
    processes = engine.top(MMR, ps_args="-eo pid,comm")["Processes"]
    (pid,) = [int(row[0]) for row in processes if row[1] == "media_repo"]
    hung_at = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    # (failures + 1) checks at the 10 s interval, each failing at its 4 s limit, then Docker's restart.
    bound = (WATCHDOG_FAILURES + 1) * (10 + 4) + 15
    while _health(engine)[1] == restarts:
        assert time.monotonic() - hung_at < bound, f"the hung MMR was not restarted within {bound} s"
        time.sleep(0.5)
    restarted_after = time.monotonic() - hung_at
    _until(engine, "healthy", 60)
    assert "watchdog: /healthz failed" in engine.logs(MMR).decode(errors="replace")
    media_id, body = acknowledged
    assert _download(stack, media_id) == body
    print(f"\nMMR hung: restarted after {restarted_after:.1f} s")


def test_a_setting_mmr_takes_live_keeps_its_container_and_up_returns_once_mmr_serves_it(
    stack: PulumiProject, engine: docker.APIClient, acknowledged: tuple[str, bytes]
) -> None:
    """uploads.maxBytes changed: the setup rewrites the config, MMR reloads it (fsnotify on its config directory),
    its container is the same, `pulumi up` waited for the new config, and the next preview has nothing to do."""
    _until(engine, "healthy", 60)
    before = engine.inspect_container(MMR)["Id"]
    stack.pulumi("config", "set", "--path", "uploads.maxBytes", "52428800")
    stack.pulumi("up", "--yes")
    assert engine.inspect_container(MMR)["Id"] == before
    applied = stack.outputs()["configApplied"]
    assert applied.startswith("MMR serves config version "), applied
    limits = stack.sh(
        f"curl -sf -H 'Host: example.org' -H 'Authorization: Bearer {_token(stack)}' "
        "http://127.0.0.1:8000/_matrix/client/v1/media/config"
    ).stdout
    assert '"m.upload.size":52428800' in limits, limits
    assert "Config file change detected" in engine.logs(MMR).decode(errors="replace")
    stack.pulumi("preview", "--expect-no-changes")
    media_id, body = acknowledged
    assert _download(stack, media_id) == body


SHARDS_STACK = "shards"
SHARDS_NETWORK = "redis-shards"
SHARD_NAMES = ("redis-a", "redis-b", "redis-c")
# MMR's port in that stack (the faults stack holds 8000), and the second process's published port.
FIRST_PORT, SECOND_PORT = 8010, 8011


@pytest.fixture(scope="module")
def two_processes_three_shards(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PulumiProject]:
    """A stack on three Redis shards of its own, and a second MMR process (machine id 1) beside the first on the
    same config and media, as on Kubernetes."""
    engine.create_network(SHARDS_NETWORK, driver="bridge", internal=True)
    for shard in SHARD_NAMES:
        engine.create_container(
            REDIS_IMAGE, name=shard, host_config=engine.create_host_config(network_mode=SHARDS_NETWORK)
        )
        engine.start(shard)
    project = docker_project(engine, tmp_path_factory.mktemp("real-shards"))
    shards = "".join(
        f"pulumi config set --path 'redis.shards[{i}].name' {name}\n"
        f"pulumi config set --path 'redis.shards[{i}].addr' {name}:6379\n"
        for i, name in enumerate(SHARD_NAMES)
    )
    project.sh(
        f"pulumi stack init {SHARDS_STACK}\n"
        "pulumi config set --path 'homeservers[0].name' example.org\n"
        "pulumi config set --path 'homeservers[0].csApi' https://matrix.example.org\n"
        "pulumi config set --path redis.enabled true\n"
        f"pulumi config set --path http.port {FIRST_PORT}\n"
        f"pulumi config set --path 'docker.networks[0]' {SHARDS_NETWORK}\n" + shards
    )
    project.pulumi("up", "--yes")
    second = another_process(engine, f"mmr-{SHARDS_STACK}", machine_id=1, port=FIRST_PORT, published=SECOND_PORT)
    try:
        yield project
    finally:
        engine.remove_container(second, force=True)
        project.pulumi("state", "unprotect", "--all")
        project.pulumi("destroy")
        for shard in SHARD_NAMES:
            engine.remove_container(shard, force=True)
        engine.remove_network(SHARDS_NETWORK)


def _request(project: PulumiProject, script: str) -> bool:
    return project.sh(script, check=False).returncode == 0


def test_with_three_redis_shards_one_lost_uploads_go_on_and_downloads_recover(
    engine: docker.APIClient, two_processes_three_shards: PulumiProject
) -> None:
    """For 90 s after one shard stops, round after round: an upload through one process and a download of it
    through the other. Every upload must succeed within UPLOAD_SECONDS; a download may fail only within
    RECOVERY_SECONDS of the stop. Measured: uploads 10-50 s each (MMR's Redis client waits 10 s to dial the lost
    shard, redislib/connection.go), downloads unaffected."""
    project = two_processes_three_shards
    token = _token(project)
    (project.directory / "item.bin").write_bytes(secrets.token_bytes(2048))
    upload = (
        "curl -s -m 150 -X POST -H 'Host: example.org' -H 'Content-Type: application/octet-stream' "
        f"-H 'Authorization: Bearer {token}' --data-binary @item.bin http://127.0.0.1:{{port}}/_matrix/media/v3/upload"
    )
    download = (
        f"curl -sf -m 60 -o /dev/null -H 'Host: example.org' -H 'Authorization: Bearer {token}' "
        "http://127.0.0.1:{port}/_matrix/client/v1/media/download/example.org/{media}"
    )
    deadline = time.monotonic() + 60
    while not _request(project, f"curl -sf http://127.0.0.1:{SECOND_PORT}/healthz"):
        assert time.monotonic() < deadline, engine.logs(f"mmr-{SHARDS_STACK}-machine-1").decode()[-2000:]
        time.sleep(1)
    engine.stop("redis-b", timeout=5)
    stopped_at = time.monotonic()
    rounds: list[tuple[float, float, bool, str]] = []  # (started after the stop, upload seconds, served, error)
    try:
        for round_number in range(60):
            if time.monotonic() - stopped_at > 90 and len(rounds) >= 4:
                break
            first, second = (FIRST_PORT, SECOND_PORT) if round_number % 2 == 0 else (SECOND_PORT, FIRST_PORT)
            began = time.monotonic()
            answer = project.sh(upload.format(port=first), check=False)
            took = time.monotonic() - began
            if answer.returncode != 0 or '"content_uri"' not in answer.stdout:
                rounds.append((began - stopped_at, took, False, f"upload: {answer.stdout[-300:]}"))
                continue
            media = answer.stdout.split('"content_uri":"mxc://example.org/', 1)[1].split('"', 1)[0]
            fetched = project.sh(download.format(port=second, media=media), check=False)
            rounds.append((began - stopped_at, took, fetched.returncode == 0, f"download: {fetched.stdout[-300:]}"))
    finally:
        engine.start("redis-b")
    for at, took, served, error in rounds:
        print(f"\n  at {at:5.1f} s: upload {took:4.1f} s, {'served' if served else 'FAILED ' + error}", end="")
    uploads_failed = [r for r in rounds if not r[2] and r[3].startswith("upload")]
    downloads = [r for r in rounds if not r[3].startswith("upload") or r[2]]
    failed_downloads = [r for r in downloads if not r[2]]
    last_failed_download = max((r[0] for r in failed_downloads), default=0.0)
    slowest = max((r[1] for r in rounds), default=0.0)
    print(
        f"\none of 3 Redis shards stopped, 2 MMR processes: {len(uploads_failed)} of {len(rounds)} uploads failed "
        f"(the slowest {slowest:.1f} s), {len(failed_downloads)} of {len(downloads)} downloads failed, the last "
        f"{last_failed_download:.1f} s after the stop"
    )
    assert not uploads_failed
    assert slowest <= UPLOAD_SECONDS
    assert len(downloads) >= 4
    assert last_failed_download <= RECOVERY_SECONDS
