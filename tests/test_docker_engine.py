"""The program's docker resources on a real Docker engine (Debian's dockerd, in its own network namespace).

Each test runs ``__main__.py`` under Pulumi's mocks with ``tests/docker_replay.py``
as the docker provider: every network, volume and container the program
declares is created on the daemon as the provider would create it, and the
program sees the engine's real answers. The images are stand-ins
(``tests/standin_images.py``): they prove the container mechanics, not MMR.

What the real-engine tier (tests/test_real_pulumi.py) proves with the real CLI and the real MMR is not repeated
here: every container of the dev stack up and MMR healthy, a dump restored by the printed command, the import.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pulumi
import pytest

from components.docker.media_repo_files import MEDIA_MARKER
from tests.docker_replay import (
    CONTAINER,
    START_INTERVAL_API,
    VOLUME_OPTIONS_API,
    ApplyError,
    EngineMocks,
    EngineMonitor,
    EngineState,
    create_container,
    engine_api,
)
from tests.pulumi_harness import ProgramRun, run_program
from tests.standin_images import MMR_IMAGE
from tests.variants import VARIANTS, aws_s3, operations

MMR_UID = "10001"


def apply(state: EngineState, config: dict[str, Any], stack: str) -> ProgramRun:
    """One `pulumi up`: the program, with the real engine as its docker provider."""
    # The program asks this engine for its API version, as it asks the one `docker:host` names.
    socket_path = state.client.get_adapter("http+docker://localhost").socket_path
    try:
        return run_program(
            config,
            stack=stack,
            monitor_factory=lambda mocks: EngineMonitor(EngineMocks(state, mocks.overrides)),
            extra_config={"docker:host": f"unix://{socket_path}"},
        )
    finally:
        state.finish_run()


def tear_down(client: docker.APIClient, stack: str) -> None:
    """Everything of one stack, volumes included: the next test starts from an empty engine."""
    prefix = f"mmr-{stack}"
    # Twice: a failed run may still have been creating a container in another thread.
    for _ in range(2):
        for container in client.containers(all=True, filters={"name": prefix}):
            client.remove_container(container["Id"], force=True, v=True)
        time.sleep(1)
    for network in client.networks(names=[prefix]):
        if network["Name"].startswith(prefix):
            client.remove_network(network["Id"])
    for volume in client.volumes(filters={"name": prefix}).get("Volumes") or []:
        client.remove_volume(volume["Name"], force=True)


def run_in(client: docker.APIClient, container: str, command: list[str], user: str = "") -> tuple[int, str]:
    execution = client.exec_create(container, command, user=user)
    output = client.exec_start(execution["Id"]).decode()
    return client.exec_inspect(execution["Id"])["ExitCode"], output


def container_ids(client: docker.APIClient, stack: str) -> dict[str, str]:
    return {c["Names"][0].lstrip("/"): c["Id"] for c in client.containers(all=True, filters={"name": f"mmr-{stack}"})}


@pytest.fixture(scope="module")
def dev_engine(docker_engine: docker.APIClient) -> Iterator[tuple[EngineState, ProgramRun]]:
    state = EngineState(docker_engine)
    try:
        yield state, apply(state, VARIANTS["dev"](), "dev")
    finally:
        tear_down(docker_engine, "dev")


def test_the_program_sends_only_what_this_engine_takes(dev_engine: tuple[EngineState, ProgramRun]) -> None:
    """Debian 12's docker.io 20.10 is API 1.41: no health-check start interval (1.44), no volume options (1.45)."""
    state, run = dev_engine
    api = engine_api(state.client)
    for container in run.of_type(CONTAINER):
        assert all("volumeOptions" not in mount for mount in container.inputs.get("mounts") or []), container.name
        check = container.inputs.get("healthcheck")
        if check:
            assert check.get("startInterval") == ("2s" if api >= START_INTERVAL_API else None), container.name
            started = state.client.inspect_container(container.name)["Config"]["Healthcheck"]
            assert started.get("StartInterval", 0) == (2 * 10**9 if api >= START_INTERVAL_API else 0)


def test_the_replay_refuses_what_the_provider_refuses_on_this_engine(docker_engine: docker.APIClient) -> None:
    api = engine_api(docker_engine)
    mount = {"type": "volume", "source": "mmr-refused", "target": "/media", "volumeOptions": {"noCopy": True}}
    check = {"tests": ["CMD", "true"], "interval": "10s", "startInterval": "2s"}
    for field, value, needs in (("mounts", [mount], VOLUME_OPTIONS_API), ("healthcheck", check, START_INTERVAL_API)):
        inputs = {"name": "mmr-refused", "image": MMR_IMAGE, "start": False, field: value}
        if api >= needs:
            continue
        with pytest.raises(ApplyError, match=r"1\.4[45]"):
            create_container(docker_engine, inputs)
        assert not container_ids(docker_engine, "refused")


def test_capabilities_read_back_as_the_program_wrote_them(dev_engine: tuple[EngineState, ProgramRun]) -> None:
    """What a `pulumi refresh` reads: the provider stores HostConfig.CapAdd/CapDrop as the engine reports them.

    Docker 28 reports added capabilities in their CAP_ form whatever was sent; the program once wrote "CHOWN",
    and the real engine's refresh then proposed "CHOWN" => "CAP_CHOWN" forever
    (../shared/upstream/pulumi/real-engine.md). Debian's 20.10, which this tier runs, reports them as sent, so
    the test asks for the CAP_ form outright, and checks that 20.10 takes it and reports it back unchanged.
    """
    state, run = dev_engine
    for registration in run.of_type(CONTAINER):
        capabilities = registration.inputs.get("capabilities")
        if not capabilities:
            continue
        host_config = state.client.inspect_container(registration.inputs["name"])["HostConfig"]
        reported = {"adds": sorted(host_config["CapAdd"] or []), "drops": sorted(host_config["CapDrop"] or [])}
        written = {key: sorted(capabilities.get(key) or []) for key in ("adds", "drops")}
        assert reported == written, registration.name
        assert all(name == "ALL" or name.startswith("CAP_") for name in written["adds"]), registration.name


def test_config_is_readable_by_mmr_alone(dev_engine: tuple[EngineState, ProgramRun]) -> None:
    client = dev_engine[0].client
    for path in ("/config/repo/media-repo.yaml", "/config/signing-key-0.pem"):
        code, listing = run_in(client, "mmr-dev", ["stat", "-c", "%u:%g %a", path])
        assert (code, listing.strip()) == (0, "10001:10001 400"), path
        assert run_in(client, "mmr-dev", ["cat", path], user=MMR_UID)[0] == 0
        assert run_in(client, "mmr-dev", ["cat", path], user="10002:10002")[0] != 0
    # The staging copies, and nothing half-written, are gone; the config directory holds the config alone.
    assert run_in(client, "mmr-dev", ["ls", "-A", "/config"])[1].split() == ["repo", "signing-key-0.pem"]
    assert run_in(client, "mmr-dev", ["ls", "-A", "/config/repo"])[1].split() == ["media-repo.yaml"]


def test_media_and_scratch_are_writable_by_mmr(dev_engine: tuple[EngineState, ProgramRun]) -> None:
    client = dev_engine[0].client
    for directory in ("/media", "/tmp"):
        probe = f"{directory}/.probe"
        assert run_in(client, "mmr-dev", ["sh", "-c", f": > {probe} && rm {probe}"], user=MMR_UID)[0] == 0
    assert run_in(client, "mmr-dev", ["stat", "-c", "%u", "/media"])[1].strip() == MMR_UID
    assert run_in(client, "mmr-dev", ["stat", "-c", "%a", "/tmp"])[1].strip() == "1777"


def test_mmr_root_is_read_only_without_capabilities(dev_engine: tuple[EngineState, ProgramRun]) -> None:
    client = dev_engine[0].client
    inspected = client.inspect_container("mmr-dev")
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert inspected["HostConfig"]["CapDrop"] == ["ALL"]
    assert run_in(client, "mmr-dev", ["touch", "/etc/probe"], user=MMR_UID)[0] != 0
    status = run_in(client, "mmr-dev", ["cat", "/proc/1/status"])[1]
    assert "CapEff:\t0000000000000000" in status and "CapPrm:\t0000000000000000" in status
    assert run_in(client, "mmr-dev", ["id", "-u"])[1].strip() == MMR_UID


def test_postgres_is_private(dev_engine: tuple[EngineState, ProgramRun]) -> None:
    client = dev_engine[0].client
    assert not client.inspect_container("mmr-dev-postgres")["HostConfig"]["PortBindings"]
    assert set(client.inspect_container("mmr-dev-postgres")["NetworkSettings"]["Networks"]) == {"mmr-dev-private"}
    # From the edge network, where a reverse proxy would sit, the name does not even resolve.
    probe = client.create_container(
        MMR_IMAGE, entrypoint=["sh", "-c", "nc -w 3 mmr-dev-postgres 5432 < /dev/null"], name="mmr-dev-edge-probe"
    )
    with contextlib.suppress(docker.errors.APIError):  # a daemon started with --bridge=none has no default bridge
        client.disconnect_container_from_network(probe["Id"], "bridge")
    client.connect_container_to_network(probe["Id"], "mmr-dev-edge")
    client.start(probe["Id"])
    assert client.wait(probe["Id"])["StatusCode"] != 0
    client.remove_container(probe["Id"], force=True)


def test_the_backup_container_is_private_and_dumps_at_start(dev_engine: tuple[EngineState, ProgramRun]) -> None:
    """Where the backup runs; that a dump restores, by the printed command, MMR then serving again, is the real
    tier's (tests/test_real_pulumi.py, on the real MMR)."""
    client = dev_engine[0].client
    backup = client.inspect_container("mmr-dev-postgres-backup")
    assert backup["State"]["Running"], client.logs("mmr-dev-postgres-backup").decode()
    assert set(backup["NetworkSettings"]["Networks"]) == {"mmr-dev-private"}
    # BACKUP_ON_START: a dump exists as soon as the container runs.
    assert "SQL backup created successfully" in client.logs("mmr-dev-postgres-backup").decode()
    listing = run_in(client, "mmr-dev-postgres-backup", ["ls", "/backups/last"])[1]
    assert "mediarepo-latest.dump" in listing


def test_a_live_change_keeps_mmr_and_a_restart_replaces_it_under_the_same_name_and_port(
    dev_engine: tuple[EngineState, ProgramRun],
) -> None:
    state = dev_engine[0]
    client = state.client
    before = container_ids(client, "dev")
    # Nothing left on the media volume but the setup's marker: an empty volume would be handed back to root
    # by the next container that mounts it (components/docker/media_repo_files.py MEDIA_MARKER).
    marker = f"/media/{MEDIA_MARKER}"
    emptied = f'for f in /media/* /media/.[!.]*; do [ "$f" = {marker} ] || rm -rf "$f"; done; ls -A /media'
    assert run_in(client, "mmr-dev", ["sh", "-c", emptied])[1].split() == [MEDIA_MARKER]
    # Taken live (config_schema/live_config.py): the setup installs the new file, MMR's container stays.
    changed = {**VARIANTS["dev"](), "accessTokens": {"maxCacheTimeSeconds": 0}}
    apply(state, changed, "dev")
    live = container_ids(client, "dev")
    assert live["mmr-dev"] == before["mmr-dev"] and live["mmr-dev-setup"] != before["mmr-dev-setup"]
    assert "maxCacheTimeSeconds: 0" in run_in(client, "mmr-dev", ["cat", "/config/repo/media-repo.yaml"], MMR_UID)[1]
    # A setting of the container itself: a new one under the same name and port.
    restarted = {**changed, "docker": {"watchdog": {"failures": 7}}}
    apply(state, restarted, "dev")
    after = container_ids(client, "dev")
    assert after["mmr-dev"] != before["mmr-dev"]
    assert after["mmr-dev-postgres"] == before["mmr-dev-postgres"]
    inspected = client.inspect_container("mmr-dev")
    assert inspected["State"]["Health"]["Status"] == "healthy"
    assert inspected["HostConfig"]["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000"}]}
    # The media volume's root stays MMR's after a new container mounted it (no copy-up).
    assert run_in(client, "mmr-dev", ["stat", "-c", "%u", "/media"])[1].strip() == MMR_UID
    assert run_in(client, "mmr-dev", ["sh", "-c", ": > /media/.probe && rm /media/.probe"], user=MMR_UID)[0] == 0
    # The same config again changes nothing.
    apply(state, restarted, "dev")
    assert container_ids(client, "dev") == after


def test_operations_stack_runs_redis_and_the_importer(docker_engine: docker.APIClient) -> None:
    state = EngineState(docker_engine)
    # Networks the operator already has: Traefik's, and the homeserver's.
    for network in ("traefik", "synapse_default"):
        docker_engine.create_network(network)
    # Ports of their own: the dev stack of this module may still hold 8000.
    config = {
        **operations(),
        "docker": {"networks": ["synapse_default"]},
        "http": {"port": 8001},
        "metrics": {"enabled": True, "port": 9001},
    }
    try:
        run = apply(state, config, "ops")
        # Every container, the importer and Redis included, with rotated logs and a memory limit.
        for registration in run.of_type(CONTAINER):
            host_config = docker_engine.inspect_container(registration.inputs["name"])["HostConfig"]
            assert host_config["LogConfig"]["Config"] == {"max-size": "10m", "max-file": "5"}, registration.name
            assert host_config["Memory"] > 0 and host_config["MemorySwap"] == host_config["Memory"], registration.name
        assert run_in(docker_engine, "mmr-ops-redis", ["redis-cli", "config", "get", "maxmemory"])[1].split() == [
            "maxmemory",
            str(256 * 2**20),
        ]
        mmr = docker_engine.inspect_container("mmr-ops")
        assert mmr["State"]["Health"]["Status"] == "healthy"
        assert set(mmr["NetworkSettings"]["Networks"]) == {
            "mmr-ops-private",
            "mmr-ops-edge",
            "traefik",
            "synapse_default",
        }
        assert run_in(docker_engine, "mmr-ops", ["cat", "/config/signing-key-0.pem"], user=MMR_UID)[0] == 0
        redis = docker_engine.inspect_container("mmr-ops-redis")
        assert redis["State"]["Health"]["Status"] == "healthy" and not redis["HostConfig"]["PortBindings"]
        assert run_in(docker_engine, "mmr-ops-redis", ["redis-cli", "config", "get", "save"])[1].split() == ["save"]
        # The importer's run is the real tier's: the real import_synapse against real Synapse.
    finally:
        tear_down(docker_engine, "ops")
        for network in ("traefik", "synapse_default"):
            docker_engine.remove_network(network)


def test_aws_stack_runs(docker_engine: docker.APIClient) -> None:
    state = EngineState(docker_engine)
    try:
        apply(state, {**aws_s3(), "http": {"port": 8002}}, "aws")
        assert docker_engine.inspect_container("mmr-aws")["State"]["Health"]["Status"] == "healthy"
    finally:
        tear_down(docker_engine, "aws")


def test_a_failed_one_shot_fails_the_apply(docker_engine: docker.APIClient, tmp_path: Path) -> None:
    """A media volume that refuses chown (here a read-only bind; NFS with root_squash does the same)."""
    state = EngineState(docker_engine)
    docker_engine.create_volume(
        "mmr-broken-media", driver="local", driver_opts={"type": "none", "o": "bind,ro", "device": str(tmp_path)}
    )
    config = {**VARIANTS["dev"](), "http": {"port": 8003}}
    try:
        # Docker itself refuses first: an empty volume gets the image's owner and mode when a container is created
        # (components/docker/media_repo_files.py MEDIA_MARKER). A volume with files in it reaches the setup's
        # chown, which fails the same `pulumi up` with its own message.
        with pytest.raises(ApplyError, match=r"mmr-broken-setup: failed to chmod on .*: read-only file system"):
            apply(state, config, "broken")
        (tmp_path / "media-from-before").write_text("")
        with pytest.raises(pulumi.RunError, match=r"mmr-broken-setup exited with code 1") as failure:
            apply(state, config, "broken")
        assert "Read-only file system" in str(failure.value)
        assert "pulumi up --replace 'urn:pulumi:broken::" in str(failure.value)
        # Nothing that needs the setup was started.
        assert "mmr-broken" not in container_ids(docker_engine, "broken")
    finally:
        tear_down(docker_engine, "broken")


def test_an_upload_into_a_read_only_root_is_refused(docker_engine: docker.APIClient) -> None:
    """The defect the setup container exists for, replayed: the provider extracts uploads at "/"."""
    upload = {"file": "/config/media-repo.yaml", "content": "repo: {}\n", "permissions": "0400"}
    docker_engine.create_volume("mmr-readonly-config")
    inputs = {
        "name": "mmr-readonly",
        "image": MMR_IMAGE,
        "readOnly": True,
        "mounts": [{"type": "volume", "source": "mmr-readonly-config", "target": "/config"}],
        "uploads": [upload],
        "mustRun": False,
        "start": False,
    }
    try:
        with pytest.raises(ApplyError, match="container rootfs is marked read-only"):
            create_container(docker_engine, inputs)
    finally:
        tear_down(docker_engine, "readonly")
