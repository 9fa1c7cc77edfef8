"""Every invalid stack config ends in one RunError line that names the key and the fix, before any resource."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from config_schema import StackConfigError, load_stack_config
from tests.pulumi_harness import run_program
from tests.variants import HOMESERVER, VARIANTS

HS = [HOMESERVER]


def with_(**changes: Any) -> dict[str, Any]:
    return {"homeservers": HS, **changes}


# (config, the key the message must name, a phrase of the problem, a phrase of the fix)
INVALID: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "snake_case key": (
        {"homeservers": [{"name": "example.org", "cs_api": "https://matrix.example.org"}]},
        "homeservers[0].cs_api",
        "did you mean csApi (keys are camelCase",
        "pulumi config set --path 'homeservers[0].csApi' -- \"$(pulumi config get --path 'homeservers[0].cs_api')\" "
        "&& pulumi config rm --path 'homeservers[0].cs_api'",
    ),
    "removed traefik host": (
        with_(proxy={"traefik": {"enabled": True, "host": "matrix.example.org"}}),
        "proxy.traefik.host",
        "was replaced by homeservers[].publicHost",
        "pulumi config set --path 'homeservers[0].publicHost' -- \"$(pulumi config get --path 'proxy.traefik.host')\" "
        "&& pulumi config rm --path 'proxy.traefik.host'",
    ),
    "public host with a port": (
        {"homeservers": [{**HOMESERVER, "publicHost": "matrix.example.org:8448"}]},
        "homeservers[0].publicHost",
        "without scheme, port or path",
        "homeservers[0].publicHost' matrix.example.org",
    ),
    "homeservers set as a string": (
        {"homeservers": "example.org"},
        "homeservers",
        "must be a list",
        # Which of name or csApi a lone string was is not certain: both are asked for.
        "pulumi config rm --path 'homeservers' && pulumi config set --path 'homeservers[0].name' && "
        "pulumi config set --path 'homeservers[0].csApi'",
    ),
    "import password without secret in its fix": (
        with_(**{"import": {"from": "synapse", "dbHost": "h", "dbName": "d", "dbUsername": "u", "serverName": "x"}}),
        "import.dbPassword",
        "is required",
        "Fix: pulumi config set --secret --path 'import.dbPassword';",
    ),
    "no homeservers key": (
        {},
        "homeservers",
        "is required",
        "pulumi config set --path 'homeservers[0].name' && pulumi config set --path 'homeservers[0].csApi'",
    ),
    "empty homeservers": ({"homeservers": []}, "homeservers", "at least one", "homeservers[0].name"),
    "name with scheme": (
        {"homeservers": [{"name": "https://example.org", "csApi": "https://example.org"}]},
        "homeservers[0].name",
        "bare server name",
        "pulumi config set --path 'homeservers[0].name' example.org",
    ),
    "name with path": (
        {"homeservers": [{"name": "example.org/matrix", "csApi": "https://example.org"}]},
        "homeservers[0].name",
        "no scheme, no path",
        "homeservers[0].name' example.org",
    ),
    "csApi not http": (
        {"homeservers": [{"name": "example.org", "csApi": "example.org:8008"}]},
        "homeservers[0].csApi",
        "http(s) URL",
        # http or https is the operator's to say: the fix asks for the URL.
        "pulumi config set --path 'homeservers[0].csApi'",
    ),
    "adminApiKind unknown": (
        {"homeservers": [{**HOMESERVER, "adminApiKind": "conduit"}]},
        "homeservers[0].adminApiKind",
        "'synapse', 'dendrite' or 'matrix'",
        "pulumi config set --path 'homeservers[0].adminApiKind' synapse or",
    ),
    "duplicate homeserver": (
        {"homeservers": [HOMESERVER, HOMESERVER]},
        "homeservers[1].name",
        "listed twice",
        "pulumi config rm --path 'homeservers[1]'",
    ),
    "admin not a user id": (
        with_(admins=["admin"]),
        "admins[0]",
        "not a Matrix user ID",
        "admins[0]' @admin:example.org",
    ),
    "admin on unknown server": (
        with_(admins=["@alice:elsewhere.org"]),
        "admins[0]",
        "not among the homeservers",
        "pulumi config set --path 'admins[0]'",
    ),
    "unknown kind": (
        with_(datastores={"file": {"forKinds": ["avatars"]}}),
        "datastores.file.forKinds[0]",
        "'thumbnails', 'remote_media', 'local_media' or 'archives'",
        "pulumi config set --path 'datastores.file.forKinds[0]' thumbnails or",
    ),
    "kind without datastore": (
        with_(datastores={"file": {"forKinds": ["thumbnails"]}}),
        "datastores.file.forKinds",
        "no datastore accepts remote_media, local_media, archives",
        "pulumi config rm --path 'datastores.file.forKinds'",
    ),
    "kind on both datastores": (
        {
            **VARIANTS["aws"](),
            "datastores": {"file": {"forKinds": ["local_media"]}, "s3": {"forKinds": ["local_media"]}},
        },
        "datastores.file.forKinds",
        "given to both datastores",
        "pulumi config rm --path 'datastores.file.forKinds'",
    ),
    "same datastore ids": (
        with_(datastores={"file": {"id": "media"}, "s3": {"id": "media"}}),
        "datastores.s3.id",
        "distinct ids",
        "pulumi config rm --path 'datastores.s3.id'",
    ),
    "datastore id with spaces": (
        with_(datastores={"file": {"id": "my media"}}),
        "datastores.file.id",
        "not a usable datastore id",
        "pulumi config set --path 'datastores.file.id'",
    ),
    "s3 kinds without provider": (
        with_(datastores={"s3": {"forKinds": ["local_media"]}}),
        "s3.provider",
        "datastores.s3.forKinds sends media to S3: aws, digitalocean or external",
        "Fix: pulumi config set --path 's3.provider'",
    ),
    "http port out of range": (
        with_(http={"port": 70000}),
        "http.port",
        "between 1 and 65535",
        "pulumi config set --path 'http.port'",
    ),
    "http port zero": (with_(http={"port": 0}), "http.port", "between 1 and 65535", "http.port'"),
    "metrics port out of range": (
        with_(metrics={"enabled": True, "port": -1}),
        "metrics.port",
        "between 1 and 65535",
        "metrics.port'",
    ),
    "metrics port equals http": (
        with_(metrics={"enabled": True, "port": 8000}),
        "metrics.port",
        "same as http.port",
        "pulumi config set --path 'metrics.port'",
    ),
    "bind address not an IP": (
        with_(http={"bindAddress": "localhost"}),
        "http.bindAddress",
        "not an IP address",
        "http.bindAddress'",
    ),
    "idle above max": (
        with_(database={"maxConnections": 10, "maxIdleConnections": 20}),
        "database.maxIdleConnections",
        "more than database.maxConnections (10)",
        "pulumi config rm --path 'database.maxIdleConnections'",
    ),
    "negative pool": (
        with_(database={"maxConnections": -5}),
        "database.maxConnections",
        "greater than or equal to 1",
        "pulumi config set --path 'database.maxConnections'",
    ),
    "pool not a number": (
        with_(database={"maxConnections": "many"}),
        "database.maxConnections",
        "valid integer",
        "pulumi config set --path 'database.maxConnections'",
    ),
    "unpinned image": (
        with_(image="ghcr.io/t2bot/matrix-media-repo:latest"),
        "image",
        "not pinned",
        "pulumi config set --path 'image'",
    ),
    "untagged image": (with_(image="ghcr.io/t2bot/matrix-media-repo"), "image", "not pinned", "image'"),
    "bad digest": (
        with_(image="ghcr.io/t2bot/matrix-media-repo@sha256:abc"),
        "image",
        "malformed digest",
        "image'",
    ),
    "unknown top-level key": (
        with_(homserver="x"),
        "homserver",
        "not a setting",
        "pulumi config rm --path 'homserver'",
    ),
    "unknown nested key": (
        with_(database={"maxConnection": 5}),
        "database.maxConnection",
        "not a setting",
        "pulumi config rm --path 'database.maxConnection'",
    ),
    "postgres version without image": (
        with_(database={"postgresVersion": "9"}),
        "database.postgresVersion",
        "no pinned image",
        "pulumi config set --type string --path 'database.postgresVersion' 15 or",
    ),
    "external db without dsn": (
        with_(database={"provider": "external"}),
        "database.dsn",
        "is required",
        "pulumi config set --secret --path 'database.dsn'",
    ),
    "dsn not a url": (
        with_(database={"provider": "external", "dsn": "host=db user=mmr"}),
        "database.dsn",
        "must start with postgres:// or postgresql://",
        "--secret --path 'database.dsn'",
    ),
    "dsn with container provider": (
        with_(database={"dsn": "postgres://a:b@c/d"}),
        "database.dsn",
        "only used with database.provider external",
        "pulumi config rm --path 'database.dsn'",
    ),
    "digitalocean db without trusted sources": (
        with_(database={"provider": "digitalocean"}),
        "database.trustedSources",
        "admit no one",
        "pulumi config set --path 'database.trustedSources[0].type' && "
        "pulumi config set --path 'database.trustedSources[0].value'",
    ),
    "database provider unknown": (
        with_(database={"provider": "rds"}),
        "database.provider",
        "'container', 'digitalocean', 'aws' or 'external'",
        "pulumi config set --path 'database.provider' container or",
    ),
    "s3 provider unknown": (
        with_(s3={"provider": "gcs"}),
        "s3.provider",
        "'aws', 'digitalocean' or 'external'",
        "pulumi config set --path 's3.provider' aws or",
    ),
    "endpoint with scheme": (
        with_(s3={**VARIANTS["external"]()["s3"], "endpoint": "https://minio.example.org:9000"}),
        "s3.endpoint",
        "host[:port] only",
        "s3.endpoint' minio.example.org:9000",
    ),
    "endpoint with path": (
        with_(s3={**VARIANTS["external"]()["s3"], "endpoint": "minio.example.org/media"}),
        "s3.endpoint",
        "without scheme or path",
        "s3.endpoint' minio.example.org",
    ),
    "ssl maybe": (
        with_(s3={**VARIANTS["external"]()["s3"], "ssl": "maybe"}),
        "s3.ssl",
        "neither true nor false",
        "pulumi config set --path 's3.ssl' true or",
    ),
    "external s3 without secret": (
        with_(s3={"provider": "external", "endpoint": "minio:9000", "bucketName": "media", "accessKeyId": "k"}),
        "s3.accessSecret",
        "is required with s3.provider external",
        "pulumi config set --secret --path 's3.accessSecret'",
    ),
    "aws with a key given": (
        with_(s3={"provider": "aws", "accessKeyId": "AKIA"}),
        "s3.accessKeyId",
        "created by this program",
        "pulumi config rm --path 's3.accessKeyId'",
    ),
    "spaces without region": (
        with_(s3={"provider": "digitalocean"}),
        "s3.region",
        "is required with s3.provider digitalocean",
        "Fix: pulumi config set --path 's3.region'",
    ),
    "bucket name invalid": (
        with_(s3={"provider": "aws", "bucketName": "My_Bucket"}),
        "s3.bucketName",
        "not a valid bucket name",
        # Folded to lower case it is still not a name ('_'): the fix asks for one.
        "pulumi config set --path 's3.bucketName'",
    ),
    "prefix length too long": (
        with_(s3={"provider": "aws", "prefixLength": 17}),
        "s3.prefixLength",
        "less than or equal to 16",
        "s3.prefixLength'",
    ),
    "public base url not a url": (
        with_(s3={"provider": "aws", "publicBaseUrl": "cdn.example.org"}),
        "s3.publicBaseUrl",
        "http(s) URL",
        "pulumi config set --path 's3.publicBaseUrl'",
    ),
    "homeservers not a list": (
        {"homeservers": "example.org"},
        "homeservers",
        "must be a list",
        "homeservers[0]",
    ),
    "negative cache": (
        with_(accessTokens={"maxCacheTimeSeconds": -1}),
        "accessTokens.maxCacheTimeSeconds",
        "greater than or equal to 0",
        "accessTokens.maxCacheTimeSeconds'",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_config_is_one_clear_line(case: str) -> None:
    config, key, problem, fix = INVALID[case]
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(config)
    message = str(caught.value)
    assert "\n" not in message
    assert f"matrix-media-repo:{key} " in message
    assert problem in message
    assert "Fix: " in message and fix in message


@pytest.mark.parametrize(
    "case", ["name with scheme", "kind without datastore", "endpoint with scheme", "idle above max"]
)
def test_program_stops_with_run_error_before_any_resource(case: str) -> None:
    config, key, _, _ = INVALID[case]
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config)
    assert f"matrix-media-repo:{key} " in str(caught.value)
    # A RunError is shown by the CLI as its message alone, without a traceback.
    assert type(caught.value) is pulumi.RunError


def test_no_resource_is_registered_before_validation_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import pulumi_harness

    seen: list[str] = []
    original = pulumi_harness.RecordingMonitor.RegisterResource

    def recording(self: pulumi_harness.RecordingMonitor, request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            seen.append(request.type)
        return original(self, request)

    monkeypatch.setattr(pulumi_harness.RecordingMonitor, "RegisterResource", recording)
    with pytest.raises(pulumi.RunError):
        run_program(with_(http={"port": 0}))
    assert seen == []


def test_misspelt_top_level_key_is_caught_by_the_program() -> None:
    with pytest.raises(pulumi.RunError, match=r"matrix-media-repo:homserver is not a setting"):
        run_program({**VARIANTS["dev"](), "homserver": "x"})


def test_digitalocean_spaces_without_provider_keys_says_so() -> None:
    with pytest.raises(pulumi.RunError, match=r"digitalocean:spacesAccessId"):
        run_program(VARIANTS["digitalocean"]())


def test_plaintext_secret_is_warned_about() -> None:
    run = run_program(VARIANTS["external"]())
    assert any("s3.accessSecret is stored in plain text" in warning for warning in run.warnings)
    assert any("database.dsn is stored in plain text" in warning for warning in run.warnings)
    encrypted = run_program(VARIANTS["external"](), secret_keys=("s3", "database"))
    assert encrypted.warnings == []


def test_external_dsn_without_sslmode_gets_a_warning() -> None:
    config = VARIANTS["external"]()
    config["database"] = {"provider": "external", "dsn": "postgres://mmr:pw@db.example.org/media"}
    run = run_program(config, secret_keys=("s3", "database"))
    assert any("sslmode" in warning and "database.dsn" in warning for warning in run.warnings)


@pytest.mark.parametrize(
    ("ssl", "expected"), [("yes", True), ("on", True), ("1", True), ("no", False), ("off", False), (True, True)]
)
def test_yaml_booleans_are_normalised(ssl: object, expected: bool) -> None:
    config = VARIANTS["external"]()
    config["s3"]["ssl"] = ssl
    assert load_stack_config(config).s3.ssl is expected


def test_integer_postgres_version_is_accepted() -> None:
    # `pulumi config set --path database.postgresVersion 16` stores a number.
    assert load_stack_config(with_(database={"postgresVersion": 16})).database.postgres_version == "16"
