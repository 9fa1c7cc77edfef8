"""Data safety and container hardening, for every backend.

No `pulumi up` after a config change may destroy media or a database: stateful
resources are protected, retained, and named from the stack alone. Long-running
containers run with the least they need.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pulumi_harness import ProgramRun, Registration, run_program
from tests.variants import PROVIDER_CONFIG, VARIANTS

CONTAINER = "docker:index/container:Container"
# Each stateful type with the inputs that make it what it is: a change to them replaces it.
STATEFUL: dict[str, tuple[str, ...]] = {
    "docker:index/volume:Volume": ("name",),
    "random:index/randomPassword:RandomPassword": ("length", "special", "overrideSpecial"),
    "aws:s3/bucket:Bucket": ("bucket", "region"),
    "digitalocean:index/spacesBucket:SpacesBucket": ("name", "region"),
    "digitalocean:index/databaseCluster:DatabaseCluster": ("engine", "region", "version"),
    # What replaces the instance when it changes (terraform-provider-aws instance.go: ForceNew).
    "aws:rds/instance:Instance": ("identifier", "engine", "storageEncrypted", "username"),
    # A new seed is a new signing key, which every homeserver would have to publish again.
    "random:index/randomBytes:RandomBytes": ("length", "keepers"),
}
# Hold only what the program writes again on each `pulumi up`.
NOT_STATEFUL = {"mmr-dev-config", "mmr-dev-tmp", "mmr-dev-shared-secret", "mmr-dev-config-version-key"}


def stateful(run: ProgramRun) -> list[Registration]:
    return [r for r in run.registrations if r.type in STATEFUL and r.name not in NOT_STATEFUL]


def identity(run: ProgramRun) -> dict[str, tuple[Any, ...]]:
    return {r.urn: tuple(r.inputs.get(key) for key in STATEFUL[r.type]) for r in stateful(run)}


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in change.items():
        merged[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


# Settings an operator changes in the life of a stack, none of which may replace stored data.
CHANGES: dict[str, dict[str, Any]] = {
    "image": {"image": "ghcr.io/t2bot/matrix-media-repo:v1.3.9"},
    "pool": {"database": {"maxConnections": 80, "maxIdleConnections": 20}},
    "homeservers": {"homeservers": [{"name": "other.org", "csApi": "https://matrix.other.org"}]},
    "metrics": {"metrics": {"enabled": True, "port": 9100}},
    "http": {"http": {"port": 8081, "bindAddress": "0.0.0.0"}},
    "cache": {"accessTokens": {"maxCacheTimeSeconds": 0}},
    "kinds": {"datastores": {"file": {"forKinds": ["thumbnails", "remote_media", "local_media", "archives"]}}},
    "redis": {"redis": {"enabled": True}},
    "traefik": {"proxy": {"traefik": {"enabled": True}}},
    "uploads": {"uploads": {"maxBytes": 1048576}},
    "admins": {},  # filled in per variant: an admin on its first homeserver
}
S3_CHANGES: dict[str, dict[str, Any]] = {
    "s3 kinds": {"datastores": {"s3": {"forKinds": ["local_media"]}}},
    "s3 options": {
        "s3": {"prefixLength": 4, "storageClass": "STANDARD_IA", "publicBaseUrl": "https://cdn.example.org/"}
    },
    "s3 retired": {"datastores": {"s3": {"forKinds": []}}},
}


def cases() -> list[tuple[str, str]]:
    pairs = [
        (variant, change)
        for variant in ("dev", "aws", "digitalocean")
        for change in CHANGES
        # With S3 in use, the file datastore's kinds are the ones S3 does not take.
        if not (change == "kinds" and variant != "dev")
    ]
    return pairs + [(variant, change) for variant in ("aws", "digitalocean") for change in S3_CHANGES]


@pytest.mark.parametrize(("variant", "change"), cases())
def test_config_changes_keep_every_stateful_resource(variant: str, change: str) -> None:
    base_config = VARIANTS[variant]()
    if change == "homeservers" and variant == "digitalocean":
        base_config["homeservers"] = base_config["homeservers"][:1]
    base = run_program(base_config, extra_config=PROVIDER_CONFIG.get(variant))
    setting = {**CHANGES, **S3_CHANGES}[change]
    if change == "admins":
        setting = {"admins": [f"@root:{base_config['homeservers'][0]['name']}"]}
    if change == "homeservers":
        # A homeserver added: the first keeps everything it had (its signing key among them); the new one
        # brings a key of its own. Taking one away deletes its key, which protect refuses until unprotected.
        setting = {"homeservers": [*base_config["homeservers"][:1], *setting["homeservers"]]}
    changed = run_program(merge(base_config, setting), extra_config=PROVIDER_CONFIG.get(variant))
    assert identity(base), "nothing stateful to compare"
    added = (
        {urn for urn in identity(changed) if urn.endswith("-signing-key-other.org")}
        if change == "homeservers"
        else set()
    )
    assert {urn: value for urn, value in identity(changed).items() if urn not in added} == identity(base)
    for resource in stateful(changed):
        assert resource.protect and resource.retain_on_delete, resource.name


@pytest.mark.parametrize(
    ("variant", "setting", "unprotected"),
    [
        ("dev", {"datastores": {"file": {"protect": False}}}, {"mmr-dev-media"}),
        ("dev", {"database": {"protect": False}}, {"mmr-dev-data", "mmr-dev-password"}),
        ("aws", {"s3": {"protect": False}}, {"mmr-dev-bucket"}),
        ("digitalocean", {"database": {"protect": False}}, {"mmr-dev-cluster"}),
    ],
)
def test_protection_is_configurable_per_item(variant: str, setting: dict, unprotected: set[str]) -> None:
    run = run_program(merge(VARIANTS[variant](), setting), extra_config=PROVIDER_CONFIG.get(variant))
    assert {r.name for r in stateful(run) if not r.protect} == unprotected


def test_stateful_resources_are_never_force_destroyed() -> None:
    for variant in ("aws", "digitalocean"):
        run = run_program(VARIANTS[variant](), extra_config=PROVIDER_CONFIG.get(variant))
        for bucket in run.registrations:
            if bucket.type in ("aws:s3/bucket:Bucket", "digitalocean:index/spacesBucket:SpacesBucket"):
                assert bucket.inputs["forceDestroy"] is False


@pytest.fixture(scope="module")
def operations() -> ProgramRun:
    return run_program(VARIANTS["operations"]())


def test_media_repo_runs_unprivileged(operations: ProgramRun) -> None:
    media_repo = operations.one(CONTAINER, "mmr-dev").inputs
    assert media_repo["user"] == "10001:10001"
    assert media_repo["capabilities"] == {"drops": ["ALL"]}
    # The importer starts as root only to read its password file, then drops to MMR's user.
    importer = operations.one(CONTAINER, "mmr-dev-import").inputs
    assert importer["entrypoints"][2].startswith("exec su-exec 10001:10001 ")
    assert importer["capabilities"] == {"drops": ["ALL"], "adds": ["CAP_SETGID", "CAP_SETUID"]}
    for container in (media_repo, importer):
        assert container["securityOpts"] == ["no-new-privileges:true"]
    media_repo = operations.one(CONTAINER, "mmr-dev").inputs
    assert media_repo["readOnly"] is True
    assert "privileged" not in media_repo or media_repo["privileged"] is False


def test_media_repo_logs_to_stdout(operations: ProgramRun) -> None:
    import yaml

    config = yaml.safe_load(operations.outputs["mediaRepoConfig"])
    assert config["repo"]["logDirectory"] == "-"
    # A driver `docker logs` reads, rotated.
    inputs = operations.one(CONTAINER, "mmr-dev").inputs
    assert inputs["logDriver"] == "json-file" and inputs["logOpts"] == {"max-size": "10m", "max-file": "5"}


@pytest.mark.parametrize("name", ["mmr-dev-postgres", "mmr-dev-redis"])
def test_back_ends_are_private(operations: ProgramRun, name: str) -> None:
    container = operations.one(CONTAINER, name).inputs
    assert "ports" not in container
    assert [n["name"] for n in container["networksAdvanced"]] == ["mmr-dev-private"]
    assert operations.one("docker:index/network:Network", "mmr-dev-private").inputs["internal"] is True


def test_only_media_repo_publishes_ports(operations: ProgramRun) -> None:
    publishing = sorted(r.name for r in operations.of_type(CONTAINER) if r.inputs.get("ports"))
    assert publishing == ["mmr-dev"]
