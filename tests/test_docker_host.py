"""What the Docker host platform promises that the real engine would otherwise contradict, under mocks.

Each test here pins a fix from reading the docker provider's and Docker's source;
``tests/test_docker_engine.py`` shows the same on a real engine where it can.
"""

from __future__ import annotations

import re

import pulumi
import pytest

from config_schema import load_stack_config
from config_schema.errors import StackConfigError
from config_schema.postgres_data import POSTGRES_MAJOR_LABEL, image_major
from tests.docker_replay import go_duration_ns
from tests.pulumi_harness import ProgramRun, RecordingMonitor, run_program
from tests.variants import HOMESERVER, VARIANTS

CONTAINER = "docker:index/container:Container"
DURATION_KEYS = ("interval", "timeout", "startPeriod", "startInterval")


def go_duration_string(nanoseconds: int) -> str:
    """Go's time.Duration.String() for whole seconds and above, as the provider stores a duration it reads."""
    if nanoseconds == 0:
        return "0s"
    seconds = nanoseconds // 10**9
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def test_go_duration_string_matches_go() -> None:
    # Values printed by Go: fmt.Println(120*time.Second, 90*time.Second, time.Hour, 5*time.Second).
    assert [go_duration_string(go_duration_ns(text)) for text in ("120s", "90s", "1h", "5s")] == [
        "2m0s",
        "1m30s",
        "1h0m0s",
        "5s",
    ]


@pytest.mark.parametrize("variant", ["dev", "operations"])
def test_every_healthcheck_duration_is_written_as_it_is_read_back(variant: str) -> None:
    """The provider reads durations back with Duration.String() (funcs.go 961-969): any other spelling drifts."""
    run = run_program(VARIANTS[variant]())
    checked = 0
    for container in run.of_type(CONTAINER):
        for key in DURATION_KEYS:
            if value := (container.inputs.get("healthcheck") or {}).get(key):
                assert value == go_duration_string(go_duration_ns(value)), (container.name, key, value)
                checked += 1
    assert checked >= 8


@pytest.fixture(scope="module")
def ops() -> ProgramRun:
    return run_program(VARIANTS["operations"]())


def test_containers_stop_gracefully_and_go_before_they_come_back(ops: ProgramRun) -> None:
    """Without destroy_grace_seconds the provider stops with a timeout of 0, a kill (funcs.go 1085-1093)."""
    dev = run_program(VARIANTS["dev"]())
    grace = {c.name: c.inputs.get("destroyGraceSeconds") for run in (dev, ops) for c in run.of_type(CONTAINER)}
    assert grace["mmr-dev-postgres"] >= 60
    assert grace["mmr-dev"] >= 30
    assert grace["mmr-dev-redis"] >= 10
    for run in (dev, ops):
        for container in run.of_type(CONTAINER):
            # A fixed name (and MMR's fixed host port) cannot exist twice.
            assert container.delete_before_replace, container.name
            if not container.inputs.get("attach") and container.inputs.get("mustRun", True):
                assert container.inputs["stopTimeout"] == container.inputs["destroyGraceSeconds"], container.name


def test_mmr_scratch_space_is_on_disk(ops: ProgramRun) -> None:
    mmr = ops.one(CONTAINER, "mmr-dev").inputs
    assert "/tmp" not in mmr["tmpfs"]
    tmp = next(mount for mount in mmr["mounts"] if mount["target"] == "/tmp")
    assert (tmp["type"], tmp["source"]) == ("volume", "mmr-dev-tmp")


def test_a_failed_one_shot_stops_the_deployment_with_its_log() -> None:
    overrides = {"mmr-dev-setup": {"exitCode": 1, "containerLogs": "cp: can't create '/config/x': No space left\n"}}
    with pytest.raises(pulumi.RunError) as failure:
        run_program(VARIANTS["dev"](), overrides=overrides)
    message = str(failure.value)
    assert "mmr-dev-setup exited with code 1" in message
    assert "No space left" in message
    assert "pulumi up --replace 'urn:pulumi:dev::matrix-media-repo::" in message


def test_a_failed_grant_stops_the_deployment() -> None:
    overrides = {
        "mmr-dev-grant": {"exitCode": 2, "containerLogs": 'psql: error: permission denied for schema "public"'}
    }
    config = VARIANTS["digitalocean"]()
    extra = {"digitalocean:spacesAccessId": "id", "digitalocean:spacesSecretKey": "secret"}
    with pytest.raises(pulumi.RunError, match=r"mmr-dev-grant exited with code 2(.|\n)*permission denied"):
        run_program(config, overrides=overrides, extra_config=extra)


@pytest.mark.parametrize(
    ("image", "fallback", "major"),
    [
        ("postgres:16.10-alpine", "17", "16"),
        ("registry.example.org:5000/postgres:15", "17", "15"),
        ("postgres@sha256:" + "a" * 64, "17", "17"),
        ("postgres:bookworm", "16", "16"),
    ],
)
def test_image_major(image: str, fallback: str, major: str) -> None:
    assert image_major(image, fallback) == major


def test_a_new_postgres_major_never_starts_on_old_data() -> None:
    recorded_16 = {"mmr-dev-data": {"labels": [{"label": POSTGRES_MAJOR_LABEL, "value": "16"}]}}
    with pytest.raises(pulumi.RunError) as failure:
        run_program(VARIANTS["dev"](), overrides=recorded_16, preview=True)
    message = str(failure.value)
    assert message.startswith("matrix-media-repo:database.postgresVersion ")
    assert "asks for Postgres 17, but volume mmr-dev-data holds data written by Postgres 16" in message
    assert "docker exec mmr-dev-postgres pg_dump --format=custom" in message
    assert f"docker volume create --label {POSTGRES_MAJOR_LABEL}=17 mmr-dev-data" in message
    assert "pulumi config set --path database.postgresVersion 16" in message
    # A downgrade is refused the same way.
    with pytest.raises(pulumi.RunError, match="asks for Postgres 16, but volume mmr-dev-data holds data written by P"):
        run_program(
            {**VARIANTS["dev"](), "database": {"postgresVersion": 16}},
            overrides={"mmr-dev-data": {"labels": [{"label": POSTGRES_MAJOR_LABEL, "value": "17"}]}},
            preview=True,
        )


def test_the_data_volume_records_its_major_without_ever_replacing_it() -> None:
    volume = run_program(VARIANTS["dev"]()).one("docker:index/volume:Volume", "mmr-dev-data")
    assert volume.inputs["labels"] == [{"label": POSTGRES_MAJOR_LABEL, "value": "17"}]
    # Labels are ForceNew on a volume (resource_docker_volume.go line 52): ignored, so a new major or a
    # volume made before the label existed never plans a replacement of the data.
    assert volume.ignore_changes == ["labels"]
    # A volume made before the label existed: nothing to compare, the deployment goes on.
    legacy = run_program(VARIANTS["dev"](), overrides={"mmr-dev-data": {"labels": []}}, preview=True)
    assert legacy.one(CONTAINER, "mmr-dev-postgres").inputs["volumes"][0]["volumeName"] == "mmr-dev-data"


def test_the_postgres_container_waits_for_the_major_check() -> None:
    """The check feeds the container's volume input, so a refused major never registers the container."""
    recorded_16 = {"mmr-dev-data": {"labels": [{"label": POSTGRES_MAJOR_LABEL, "value": "16"}]}}
    monitors: list[RecordingMonitor] = []

    def recording(mocks: pulumi.runtime.Mocks) -> RecordingMonitor:
        monitors.append(RecordingMonitor(mocks))
        return monitors[-1]

    with pytest.raises(pulumi.RunError):
        run_program(VARIANTS["dev"](), overrides=recorded_16, monitor_factory=recording)
    containers = {r.name for r in monitors[0].registrations if r.type == CONTAINER}
    assert "mmr-dev-data" in {r.name for r in monitors[0].registrations}
    assert not containers & {"mmr-dev-postgres", "mmr-dev"}


def test_mmr_and_the_importer_join_the_homeservers_network(ops: ProgramRun) -> None:
    run = run_program({**VARIANTS["operations"](), "docker": {"networks": ["synapse_default", "traefik"]}})
    for name in ("mmr-dev", "mmr-dev-import"):
        networks = [n["name"] for n in run.one(CONTAINER, name).inputs["networksAdvanced"]]
        assert "synapse_default" in networks, name
        # Named once, even where Traefik's network is also listed.
        assert len(networks) == len(set(networks)), name
    assert "synapse_default" not in [n["name"] for n in ops.one(CONTAINER, "mmr-dev").inputs["networksAdvanced"]]


@pytest.mark.parametrize(
    ("networks", "problem"),
    [(["synapse default"], r"\[0\] .*not a Docker network name"), (["a", "a"], r"\[1\] .*lists 'a' again")],
)
def test_bad_docker_networks(networks: list[str], problem: str) -> None:
    with pytest.raises(StackConfigError, match=rf"matrix-media-repo:docker.networks{problem}"):
        load_stack_config({"homeservers": [HOMESERVER], "docker": {"networks": networks}})


@pytest.mark.parametrize("path", ["/tmp/mmr-s3", "/tmp/s3.buffer"])
def test_s3_temp_path_directly_under_tmp(path: str) -> None:
    assert load_stack_config({"homeservers": [HOMESERVER], "s3": {"tempPath": path}}).s3.temp_path == path


@pytest.mark.parametrize("path", ["/tmp/a/b", "/var/mmr", "/tmp/", "/tmp/..", "tmp/x"])
def test_s3_temp_path_that_os_mkdir_cannot_make(path: str) -> None:
    with pytest.raises(StackConfigError, match=re.escape("matrix-media-repo:s3.tempPath") + ".*directly under /tmp"):
        load_stack_config({"homeservers": [HOMESERVER], "s3": {"tempPath": path}})


def test_default_image_is_the_patched_release() -> None:
    stack = load_stack_config({"homeservers": [HOMESERVER]})
    assert stack.image == "ghcr.io/t2bot/matrix-media-repo:v1.3.8"
    assert stack.repo.freeze_unauthenticated_media is True
