"""The rendered media-repo.yaml: only keys and types MMR accepts, and the values that make it work in a container."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
import yaml

from config_schema import S3Connection, build_media_repo_config, build_postgres_dsn, load_stack_config
from config_schema import render_media_repo_config as render
from tests.upstream_keys import upstream_types, upstream_violations
from tests.variants import VARIANTS

PASSWORD = "p@ss:w/rd?#% '&=+\"\\"
DSN = build_postgres_dsn(
    user="media@repo", password=PASSWORD, host="db", port=5432, database="mediarepo", sslmode="disable"
)
S3 = S3Connection(
    endpoint="s3.eu-central-1.amazonaws.com",
    bucket_name="example-org-media",
    region="eu-central-1",
    access_key_id="AKIAEXAMPLE",
    access_secret="secret/+=",
    ssl=True,
)


def rendered(name: str) -> dict:
    stack = load_stack_config(VARIANTS[name]())
    text = render(build_media_repo_config(stack, database_dsn=DSN, s3=S3 if stack.uses_s3 else None))
    return yaml.safe_load(text)


def test_upstream_key_list_is_there_and_complete() -> None:
    types = upstream_types()
    assert types["repo.bindAddress"] == "string"
    assert types["datastores[].opts.*"] == "map[string]string"
    assert len(types) > 100


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_uses_only_upstream_keys_and_types(name: str) -> None:
    assert upstream_violations(rendered(name)) == []


def test_the_checker_catches_unknown_keys_and_wrong_types() -> None:
    document = rendered("external")
    document["repo"]["bindAdress"] = "0.0.0.0"
    document["repo"]["port"] = "8000"
    document["datastores"][1]["opts"]["ssl"] = True
    document["datastores"][1]["opts"]["prefixLength"] = 2
    assert upstream_violations(document) == [
        "repo.port: '8000' is not a Go int",
        "repo.bindAdress: not a key MMR knows (it would be ignored)",
        "datastores[].opts.ssl: True is not a Go string(bool)",
        "datastores[].opts.prefixLength: 2 is not a Go string(int)",
    ]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_container_essentials(name: str) -> None:
    document = rendered(name)
    # MMR's default 127.0.0.1 is unreachable from outside its container.
    assert document["repo"]["bindAddress"] == "0.0.0.0"
    assert document["repo"]["logDirectory"] == "-"
    assert document["metrics"]["bindAddress"] == "0.0.0.0"
    for datastore in document["datastores"]:
        assert all(isinstance(value, str) for value in datastore["opts"].values())


def test_dsn_is_percent_encoded_and_names_sslmode() -> None:
    dsn = rendered("dev")["database"]["postgres"]
    parts = urlsplit(dsn)
    assert parts.scheme == "postgres"
    assert unquote(parts.username or "") == "media@repo"
    assert unquote(parts.password or "") == PASSWORD
    assert (parts.hostname, parts.port, parts.path) == ("db", 5432, "/mediarepo")
    assert parts.query == "sslmode=disable"


def test_dev_stack_renders_its_homeserver_pool_and_cache() -> None:
    document = rendered("dev")
    assert document["homeservers"] == [
        {
            "name": "localhost",
            "csApi": "http://host.docker.internal:8008",
            "adminApiKind": "synapse",
            # The key generated for it (components/shared/signing_keys.py).
            "signingKeyPath": "/config/signing-key-0.pem",
        }
    ]
    assert document["database"]["pool"] == {"maxConnections": 25, "maxIdleConnections": 5}
    assert document["accessTokens"] == {"maxCacheTimeSeconds": 43200}
    assert document["admins"] == []
    assert document["metrics"]["enabled"] is False
    assert document["datastores"] == [
        {
            "id": "file",
            "type": "file",
            "forKinds": ["thumbnails", "remote_media", "local_media", "archives"],
            "opts": {"path": "/media"},
        }
    ]


def test_everything_on_renders_each_setting() -> None:
    document = rendered("everything-on")
    assert document["repo"]["port"] == 8080
    assert document["metrics"] == {"enabled": True, "bindAddress": "0.0.0.0", "port": 9100}
    assert document["admins"] == ["@admin:example.org", "@ops:example.net"]
    assert document["accessTokens"]["maxCacheTimeSeconds"] == 0
    assert document["database"]["pool"] == {"maxConnections": 50, "maxIdleConnections": 10}
    assert document["homeservers"][0] == {
        "name": "example.org",
        "csApi": "http://synapse:8008",
        "backoffAt": 5,
        "adminApiKind": "synapse",
        "signingKeyPath": "/keys/example.org.key",
    }
    # A trailing slash would make MMR request `//_matrix/...`.
    assert document["homeservers"][1]["csApi"] == "https://matrix.example.net"


def test_s3_datastore_opts_are_go_strings() -> None:
    file_store, s3_store = rendered("external")["datastores"]
    assert file_store["forKinds"] == []
    assert s3_store == {
        "id": "s3",
        "type": "s3",
        "forKinds": ["thumbnails", "remote_media", "local_media", "archives"],
        "opts": {
            "endpoint": "s3.eu-central-1.amazonaws.com",
            "bucketName": "example-org-media",
            "region": "eu-central-1",
            "accessKeyId": "AKIAEXAMPLE",
            "accessSecret": "secret/+=",
            "ssl": "true",
            "tempPath": "/tmp/mmr-s3",
            "storageClass": "STANDARD_IA",
            "publicBaseUrl": "https://cdn.example.org/",
            "redirectWhenCached": "true",
            "multipartUploads": "false",
        },
    }


def test_yaml_spelling_of_booleans_reaches_mmr_as_go_booleans() -> None:
    # `ssl: yes` in YAML would reach Go's ParseBool as "yes", which it rejects: MMR would then use plain HTTP.
    text = render(build_media_repo_config(load_stack_config(VARIANTS["external"]()), database_dsn=DSN, s3=S3))
    assert "ssl: 'true'" in text
    assert "multipartUploads: 'false'" in text


def test_aws_split_keeps_thumbnails_on_disk() -> None:
    file_store, s3_store = rendered("aws")["datastores"]
    assert file_store["forKinds"] == ["thumbnails", "archives"]
    assert s3_store["forKinds"] == ["local_media", "remote_media"]
    assert s3_store["opts"]["prefixLength"] == "2"


def test_datastore_ids_do_not_depend_on_anything_that_can_change() -> None:
    base = VARIANTS["aws"]()
    changed = {
        **base,
        "s3": {**base["s3"], "bucketName": "other-bucket", "region": "us-east-1"},
        "homeservers": [{"name": "other.org", "csApi": "https://other.org"}],
        "image": "ghcr.io/t2bot/matrix-media-repo:v1.3.8",
    }
    ids = [
        [
            d["id"]
            for d in yaml.safe_load(render(build_media_repo_config(load_stack_config(c), database_dsn=DSN, s3=S3)))[
                "datastores"
            ]
        ]
        for c in (base, changed)
    ]
    assert ids[0] == ids[1] == ["file", "s3"]


def test_s3_leaving_every_kind_stays_listed_read_only() -> None:
    config = VARIANTS["aws"]()
    config["datastores"] = {"s3": {"forKinds": []}}
    document = yaml.safe_load(render(build_media_repo_config(load_stack_config(config), database_dsn=DSN, s3=S3)))
    assert [(d["id"], d["forKinds"]) for d in document["datastores"]] == [
        ("file", ["thumbnails", "remote_media", "local_media", "archives"]),
        ("s3", []),
    ]


def test_custom_datastore_ids_are_used() -> None:
    config = VARIANTS["aws"]()
    config["datastores"] = {"file": {"id": "disk1"}, "s3": {"id": "bucket1", "forKinds": ["local_media"]}}
    document = yaml.safe_load(render(build_media_repo_config(load_stack_config(config), database_dsn=DSN, s3=S3)))
    assert [d["id"] for d in document["datastores"]] == ["disk1", "bucket1"]
