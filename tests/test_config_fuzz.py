"""Generated stack configs, valid and broken: either MMR gets a config it accepts, or one clear line names a key."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_schema import S3Connection, StackConfigError, build_media_repo_config, load_stack_config
from config_schema import render_media_repo_config as render
from tests.pulumi_harness import run_program
from tests.upstream_keys import upstream_violations
from tests.variants import SIGNING_KEY

KEY_IN_MESSAGE = re.compile(r"^Invalid stack config: matrix-media-repo:[^ ]+ ")
S3_CONNECTION = S3Connection(
    endpoint="s3.example.org", bucket_name="media", region="us-east-1", access_key_id="k", access_secret="s", ssl=True
)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values, one in ten anything at all."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: junk if n == 0 else valid)


server_names = st.sampled_from(
    [
        "example.org",
        "example.net",
        "matrix.example.com",
        "example.org",
        "example.net:8448",
        "Example.org",
        "https://bad.org",
        "a b",
    ]
)
kinds = st.lists(st.sampled_from(["thumbnails", "remote_media", "local_media", "archives", "avatars"]), max_size=4)

networks = st.lists(
    st.sampled_from(
        ["10.0.0.0/8", "127.0.0.1/8", "fc00::/7", "0.0.0.0/0", "::/0", "10.0.5.0/24", "192.168.1.7", "lan"]
    ),
    max_size=3,
)
homeserver = st.fixed_dictionaries(
    {"name": maybe(server_names), "csApi": maybe(st.sampled_from(["https://matrix.example.org", "http://hs:8008"]))},
    optional={
        "backoffAt": maybe(st.integers(min_value=1, max_value=100)),
        "adminApiKind": maybe(st.sampled_from(["synapse", "dendrite", "matrix", "conduit"])),
        "signingKey": st.sampled_from([SIGNING_KEY, SIGNING_KEY, SIGNING_KEY, "not a key"]),
    },
)

S3_BASES = [
    {"provider": "aws", "region": "eu-central-1"},
    {"provider": "digitalocean", "region": "ams3"},
    {"provider": "external", "endpoint": "minio:9000", "bucketName": "media", "accessKeyId": "k", "accessSecret": "s"},
]
s3_options = st.fixed_dictionaries(
    {},
    optional={
        "endpoint": maybe(st.sampled_from(["minio:9000", "https://minio:9000", "s3.example.org/x"])),
        "bucketName": maybe(st.sampled_from(["media", "Bad_Bucket"])),
        "region": maybe(st.sampled_from(["us-east-1", "ams3", "NOPE"])),
        "ssl": maybe(st.sampled_from([True, False, "yes", "off", "maybe"])),
        "prefixLength": maybe(st.integers(min_value=-2, max_value=20)),
        "tempPath": maybe(st.sampled_from(["", "/tmp/s3", "/var/s3"])),
        "storageClass": maybe(st.just("STANDARD_IA")),
        "publicBaseUrl": maybe(st.sampled_from(["https://cdn.example.org", "cdn"])),
        "redirectWhenCached": maybe(st.booleans()),
        "multipartUploads": maybe(st.sampled_from([True, "off"])),
    },
)
# Mostly a complete provider section with options on top, so that valid S3 configs are common.
s3 = st.one_of(st.builds(lambda base, options: {**base, **options}, st.sampled_from(S3_BASES), s3_options), s3_options)

stack_config = st.fixed_dictionaries(
    {"homeservers": maybe(st.lists(homeserver, min_size=1, max_size=3, unique_by=lambda h: str(h["name"])))},
    optional={
        "admins": maybe(st.lists(st.sampled_from(["@a:example.org", "@b:elsewhere.org", "carol"]), max_size=2)),
        "image": maybe(st.sampled_from(["ghcr.io/t2bot/matrix-media-repo:v1.3.7", "x:latest", "x"])),
        "datastores": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "file": st.fixed_dictionaries(
                        {}, optional={"id": maybe(st.just("disk")), "forKinds": maybe(kinds)}
                    ),
                    "s3": st.fixed_dictionaries({"forKinds": maybe(kinds)}, optional={"id": maybe(st.just("disk"))}),
                },
            )
        ),
        "database": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "provider": maybe(st.sampled_from(["container", "external", "digitalocean"])),
                    "maxConnections": maybe(st.integers(min_value=-5, max_value=100)),
                    "maxIdleConnections": maybe(st.integers(min_value=-5, max_value=100)),
                    "postgresVersion": maybe(st.sampled_from(["15", "16", "17", 17, "9"])),
                    "dsn": maybe(st.sampled_from(["postgres://u:p@db/m?sslmode=require", "host=db"])),
                },
            )
        ),
        "metrics": maybe(
            st.fixed_dictionaries(
                {},
                optional={"enabled": maybe(st.booleans()), "port": maybe(st.integers(min_value=-1, max_value=70000))},
            )
        ),
        "http": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "port": maybe(st.integers(min_value=-1, max_value=70000)),
                    "bindAddress": maybe(st.sampled_from(["127.0.0.1", "0.0.0.0", "::1", "localhost"])),
                },
            )
        ),
        "accessTokens": maybe(st.fixed_dictionaries({"maxCacheTimeSeconds": maybe(st.integers(-10, 10**6))})),
        "s3": maybe(s3),
        "redis": maybe(st.fixed_dictionaries({}, optional={"enabled": maybe(st.booleans())})),
        "uploads": maybe(st.fixed_dictionaries({}, optional={"maxBytes": maybe(st.integers(-1, 10**9))})),
        "federation": maybe(
            st.fixed_dictionaries(
                {"ignoredHosts": maybe(st.lists(server_names, max_size=2))},
                optional={"disallowedNetworks": maybe(networks), "allowedNetworks": maybe(networks)},
            )
        ),
    },
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_config)
def test_config_renders_for_mmr_or_names_a_key(config: dict[str, Any]) -> None:
    try:
        stack = load_stack_config(config)
    except StackConfigError as error:
        message = str(error)
        assert "\n" not in message
        assert KEY_IN_MESSAGE.match(message), message
        assert "Fix: " in message
        return
    document = yaml.safe_load(
        render(
            build_media_repo_config(
                stack,
                database_dsn="postgres://u:p@db:5432/m?sslmode=disable",
                s3=S3_CONNECTION if stack.uses_s3 else None,
                shared_secret_token="token",
                redis_container_addresses=["redis:6379"],
            )
        )
    )
    assert upstream_violations(document) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_config)
def test_program_runs_or_stops_with_one_run_error(config: dict[str, Any]) -> None:
    extra = {"digitalocean:spacesAccessId": "id", "digitalocean:spacesSecretKey": "secret"}
    try:
        run = run_program(config, extra_config=extra)
    except pulumi.RunError as error:
        assert type(error) is pulumi.RunError
        assert re.match(r"^(Invalid stack config: )?matrix-media-repo:[^ ]+ ", str(error)), str(error)
        return
    assert upstream_violations(yaml.safe_load(run.outputs["mediaRepoConfig"])) == []
