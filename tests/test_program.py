"""The dev stack and its variants under Pulumi's mocks: resources, options, outputs, and secrets kept secret."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import yaml

from config_schema.images import default_backup_image
from tests.pulumi_harness import (
    MOCK_PASSWORD,
    MOCK_SECRETS,
    ProgramRun,
    is_secret_marker,
    plain_text_leaks,
    run_program,
)
from tests.upstream_keys import upstream_violations
from tests.variants import VARIANTS

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
PASSWORD = "random:index/randomPassword:RandomPassword"
IMAGE = "docker:index/remoteImage:RemoteImage"
NETWORK = "docker:index/network:Network"


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_program(VARIANTS["dev"]())


def test_dev_stack_registers_the_whole_deployment(dev: ProgramRun) -> None:
    components = sorted(r.type for r in dev.registrations if not r.custom)
    assert components == [
        "matrix-media-repo:index:ConfigApplied",
        "matrix-media-repo:index:DockerNetworks",
        "matrix-media-repo:index:MediaDatabase",
        "matrix-media-repo:index:MediaRepo",
        "matrix-media-repo:index:MediaStorage",
        "matrix-media-repo:index:PostgresBackup",
        "matrix-media-repo:index:SigningKeys",
        "matrix-media-repo:index:SmokeTest",
    ]
    assert sorted(r.name for r in dev.of_type(CONTAINER)) == [
        "mmr-dev",
        "mmr-dev-config-applied",
        "mmr-dev-postgres",
        "mmr-dev-postgres-backup",
        "mmr-dev-setup",
        "mmr-dev-smoke",
    ]
    assert sorted(r.name for r in dev.of_type(VOLUME)) == [
        "mmr-dev-backups",
        "mmr-dev-config",
        "mmr-dev-data",
        "mmr-dev-media",
        "mmr-dev-tmp",
    ]
    assert sorted(r.inputs["name"] for r in dev.of_type(IMAGE)) == [
        "ghcr.io/t2bot/matrix-media-repo:v1.3.8",
        "postgres:17.10-alpine",
        default_backup_image("17"),
    ]
    # The database's, the shared secret the smoke test calls MMR with, and the key of the config's version.
    assert sorted(r.name for r in dev.of_type(PASSWORD)) == [
        "mmr-dev-config-version-key",
        "mmr-dev-password",
        "mmr-dev-shared-secret",
    ]


def test_every_resource_is_parented_to_a_component(dev: ProgramRun) -> None:
    for registration in dev.registrations:
        if registration.custom:
            parent = dev.by_urn(registration.parent)
            assert parent.type.startswith("matrix-media-repo:index:"), registration.name
            # Children are named after their component.
            assert registration.name.startswith(parent.name), registration.name


def test_stateful_resources_are_protected_and_retained(dev: ProgramRun) -> None:
    for volume in dev.of_type(VOLUME):
        # The config and scratch volumes hold only what every new MMR container gets afresh.
        stateful = volume.name not in ("mmr-dev-config", "mmr-dev-tmp")
        assert volume.protect is stateful and volume.retain_on_delete is stateful, volume.name
    # The data volume keeps the first password: regenerating it would lock MMR out.
    assert dev.one(PASSWORD, "mmr-dev-password").protect
    for container in dev.of_type(CONTAINER):
        assert not container.protect, container.name


def test_media_repo_container(dev: ProgramRun) -> None:
    container = dev.one(CONTAINER, "mmr-dev").inputs
    assert container["user"] == "10001:10001"
    assert container["entrypoints"] == ["media_repo"]
    assert container["workingDir"] == "/data"
    # A tenth below the 1024 MiB limit: 10 MiB thumbnail sources x 1.5 x 10 workers on top of 768 MiB, rounded.
    assert container["envs"] == ["REPO_CONFIG=/config/repo", "GOMEMLIMIT=921MiB"]
    assert (container["memory"], container["memorySwap"], container["init"]) == (1024, 1024, True)
    assert container["restart"] == "unless-stopped"
    assert container["wait"] is True
    # The watchdog (components/docker/host_limits.py), run by the image's shell; tests/test_docker_host_real.py
    # runs it on the real engine.
    shell, flag, script = container["healthcheck"]["tests"][1:]
    assert container["healthcheck"]["tests"][0] == "CMD" and (shell, flag) == ("/bin/sh", "-c")
    assert (
        "timeout 4 wget -q -O /dev/null --header 'X-Forwarded-For: 127.0.0.254' http://127.0.0.1:8000/healthz" in script
    )
    # Readiness: a missing media id's lookup, on the server's name (config_schema/health.py).
    assert "--header 'Host: localhost'" in script and "/localhost/readiness-probe?allow_remote=false" in script
    assert container["ports"] == [{"internal": 8000, "external": 8000, "ip": "127.0.0.1"}]
    # No volumeOptions: the provider refuses any below API 1.45 (components/docker/media_repo_files.py).
    assert container["mounts"] == [
        {"type": "volume", "source": "mmr-dev-media", "target": "/media", "readOnly": False},
        {"type": "volume", "source": "mmr-dev-config", "target": "/config", "readOnly": True},
        {"type": "volume", "source": "mmr-dev-tmp", "target": "/tmp", "readOnly": False},
    ]
    assert "volumes" not in container
    # Read-only root, and nothing uploaded into it: Docker refuses that (tests/test_docker_engine.py).
    assert container["readOnly"] is True
    assert "uploads" not in container
    assert sorted(container["tmpfs"]) == ["/data"]
    assert sorted(n["name"] for n in container["networksAdvanced"]) == ["mmr-dev-edge", "mmr-dev-private"]
    assert container["capabilities"] == {"drops": ["ALL"]}
    assert container["securityOpts"] == ["no-new-privileges:true"]
    assert (container["destroyGraceSeconds"], container["stopTimeout"]) == (30, 30)
    assert dev.one(CONTAINER, "mmr-dev").delete_before_replace


def test_setup_installs_the_config_as_a_secret_and_valid(dev: ProgramRun) -> None:
    setup = dev.one(CONTAINER, "mmr-dev-setup")
    # The config, and the signing key generated for the dev stack's homeserver: both secret.
    upload, key = setup.raw_inputs["uploads"]
    # The config goes into its own directory, REPO_CONFIG, which MMR watches (config_schema/live_config.py).
    assert upload["file"] == "/staging/repo__media-repo.yaml"
    assert key["file"] == "/staging/signing-key-0.pem"
    assert "mv -f /config/.repo__media-repo.yaml.new /config/repo/media-repo.yaml" in setup.inputs["command"][0]
    assert is_secret_marker(upload["content"]) and is_secret_marker(key["content"])
    document = yaml.safe_load(setup.inputs["uploads"][0]["content"])
    assert upstream_violations(document) == []
    assert document["database"]["postgres"] == (
        f"postgres://mediarepo:{quote(MOCK_PASSWORD, safe='')}@mmr-dev-postgres:5432/mediarepo?sslmode=disable"
    )


def test_media_repo_starts_after_postgres_and_its_setup(dev: ProgramRun) -> None:
    container = dev.one(CONTAINER, "mmr-dev")
    depends = {dev.by_urn(urn).name for urn in container.dependencies}
    assert {"mmr-dev-postgres", "mmr-dev-setup"} <= depends
    # What MMR reads only at start, as a digest in a label: a change there, and only there, replaces MMR.
    labels = {label["label"]: label["value"] for label in container.inputs["labels"]}
    assert re.fullmatch(r"[0-9a-f]{16}", labels["org.matrix-media-repo.restart"])


def test_setup_runs_once_as_root_without_network(dev: ProgramRun) -> None:
    setup = dev.one(CONTAINER, "mmr-dev-setup")
    inputs = setup.inputs
    assert inputs["user"] == "0:0"
    assert inputs["entrypoints"] == ["/bin/sh", "-c"]
    assert "\nchown 10001:10001 /media\n" in inputs["command"][0]
    assert inputs["mustRun"] is False and inputs["attach"] is True and inputs["logs"] is True
    assert inputs["networkMode"] == "none"
    assert inputs["capabilities"] == {"drops": ["ALL"], "adds": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]}
    assert setup.delete_before_replace


def test_postgres_container(dev: ProgramRun) -> None:
    postgres = dev.one(CONTAINER, "mmr-dev-postgres")
    inputs = postgres.inputs
    assert "ports" not in inputs
    assert [n["name"] for n in inputs["networksAdvanced"]] == ["mmr-dev-private"]
    assert sorted(inputs["envs"]) == [
        "PGDATA=/var/lib/postgresql/data/pgdata",
        "POSTGRES_DB=mediarepo",
        "POSTGRES_PASSWORD_FILE=/run/postgres-password",
        "POSTGRES_USER=mediarepo",
    ]
    assert inputs["healthcheck"]["tests"][:2] == ["CMD", "pg_isready"]
    assert inputs["wait"] is True
    [upload] = postgres.raw_inputs["uploads"]
    assert upload["file"] == "/run/postgres-password"
    assert is_secret_marker(upload["content"])
    private = dev.one(NETWORK, "mmr-dev-private").inputs
    assert private["internal"] is True


def test_dev_outputs(dev: ProgramRun) -> None:
    assert dev.outputs["endpoint"] == "http://127.0.0.1:8000"
    assert dev.outputs["healthUrl"] == "http://127.0.0.1:8000/healthz"
    assert dev.outputs["databaseHost"] == "mmr-dev-postgres:5432"
    assert dev.outputs["datastoreIds"] == {"file": "file"}
    assert "metricsEndpoint" not in dev.outputs
    assert dev.secret_outputs == {"databaseDsn", "mediaRepoConfig", "homeserverSigningKeys", "sharedSecretToken"}
    # Under mocks nothing ran: the smoke test's last line is empty until a real `pulumi up`.
    assert dev.outputs["smokeTest"] == ""
    assert upstream_violations(yaml.safe_load(dev.outputs["mediaRepoConfig"])) == []


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_no_secret_in_plain_text_anywhere(name: str) -> None:
    from tests.variants import EXTERNAL_DSN, EXTERNAL_S3_SECRET, IMPORT_DB_PASSWORD, PROVIDER_CONFIG, SIGNING_KEY

    run = run_program(VARIANTS[name](), secret_keys=("s3", "database"), extra_config=PROVIDER_CONFIG.get(name))
    secrets = [
        *MOCK_SECRETS,
        EXTERNAL_S3_SECRET,
        EXTERNAL_DSN,
        IMPORT_DB_PASSWORD,
        SIGNING_KEY.split("\n\n")[1].split("\n")[0],  # the key's body
    ]
    assert plain_text_leaks(run, secrets) == []


def test_metrics_are_published_only_when_enabled() -> None:
    run = run_program(VARIANTS["everything-on"]())
    container = run.one(CONTAINER, "mmr-dev").inputs
    published = sorted((p["ip"], p["internal"], p["external"]) for p in container["ports"])
    assert published == [("0.0.0.0", 8080, 8080), ("0.0.0.0", 9100, 9100)]
    assert run.outputs["metricsEndpoint"] == "http://127.0.0.1:9100/metrics"
    assert run.outputs["endpoint"] == "http://127.0.0.1:8080"
    assert run.one(IMAGE, "mmr-dev-postgres-image").inputs["name"] == "postgres:16.14-alpine"


def _identity(run: ProgramRun) -> dict[str, tuple[str, str]]:
    stateful = (VOLUME, PASSWORD, "aws:s3/bucket:Bucket", "digitalocean:index/spacesBucket:SpacesBucket")
    return {
        r.urn: (r.type, str(r.inputs.get("name") or r.inputs.get("bucket") or r.inputs.get("length")))
        for r in run.registrations
        if r.type in stateful
    }


@pytest.mark.parametrize(
    "change",
    [
        {"image": "ghcr.io/t2bot/matrix-media-repo:v1.3.8"},
        {"database": {"maxConnections": 100, "maxIdleConnections": 20}},
        {"homeservers": [{"name": "other.org", "csApi": "https://matrix.other.org"}]},
        {"metrics": {"enabled": True, "port": 9100}},
        {"http": {"port": 8081, "bindAddress": "0.0.0.0"}},
        {"accessTokens": {"maxCacheTimeSeconds": 0}},
        {"database": {"postgresVersion": "16"}},
    ],
)
def test_config_changes_never_touch_stateful_resources(dev: ProgramRun, change: dict) -> None:
    changed = run_program({**VARIANTS["dev"](), **change})
    assert _identity(changed) == _identity(dev)
    assert _identity(dev)  # the comparison above is about something


def test_stack_name_separates_docker_objects() -> None:
    prod = run_program(VARIANTS["dev"](), stack="prod")
    assert sorted(r.inputs["name"] for r in prod.of_type(VOLUME)) == [
        "mmr-prod-backups",
        "mmr-prod-config",
        "mmr-prod-data",
        "mmr-prod-media",
        "mmr-prod-tmp",
    ]
