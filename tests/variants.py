"""Stack configs the tests run the program with: the dev stack, every backend, and the examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
HOMESERVER = {"name": "example.org", "csApi": "http://synapse:8008"}
PROJECT_PREFIX = "matrix-media-repo:"

# Values set with --secret, in the clear as the program sees them after decryption.
EXTERNAL_S3_SECRET = "minio-secret/+=:@%value"
EXTERNAL_DSN_PASSWORD = "ext%40pass"  # already percent-encoded in the DSN below
EXTERNAL_DSN = f"postgres://mmr:{EXTERNAL_DSN_PASSWORD}@db.example.org:5432/media?sslmode=verify-full"


def stack_file_config(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(``matrix-media-repo:`` values, every other provider's values) of a stack file.

    A ``secure:`` value stands for one set with --secret; the test gives it a clear stand-in.
    """
    document = yaml.safe_load(path.read_text()) or {}
    ours: dict[str, Any] = {}
    others: dict[str, str] = {}
    for key, value in (document.get("config") or {}).items():
        if key.startswith(PROJECT_PREFIX):
            ours[key.removeprefix(PROJECT_PREFIX)] = _clear_secure(value)
        else:
            others[key] = str(_clear_secure(value))
    return ours, others


def _clear_secure(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "stand-in-for-a-secret"
    if isinstance(value, dict):
        return {key: _clear_secure(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clear_secure(item) for item in value]
    return value


def dev() -> dict[str, Any]:
    return stack_file_config(ROOT / "Pulumi.dev.yaml")[0]


def aws_s3() -> dict[str, Any]:
    return {
        "homeservers": [HOMESERVER],
        "datastores": {"s3": {"forKinds": ["local_media", "remote_media"]}},
        "s3": {"provider": "aws", "region": "eu-central-1", "bucketName": "example-org-media", "prefixLength": 2},
        # Dumps copied to the bucket with an add-only key of their own.
        "backup": {"s3": True},
    }


def digitalocean() -> dict[str, Any]:
    return {
        "homeservers": [HOMESERVER, {"name": "example.com", "csApi": "https://matrix.example.com"}],
        "datastores": {"s3": {"forKinds": ["local_media", "remote_media", "archives"]}},
        "s3": {"provider": "digitalocean", "region": "ams3", "bucketName": "example-org-media"},
        "database": {
            "provider": "digitalocean",
            "region": "ams3",
            "trustedSources": [{"type": "ip_addr", "value": "203.0.113.10"}],
        },
    }


def aws_rds() -> dict[str, Any]:
    """The bucket and the database on AWS; MMR on a Docker host in the same VPC (the instance is private)."""
    return {
        "homeservers": [HOMESERVER],
        "datastores": {"s3": {"forKinds": ["local_media", "remote_media"]}},
        "s3": {"provider": "aws", "region": "eu-central-1", "bucketName": "example-org-media"},
        "database": {"provider": "aws"},
    }


def external() -> dict[str, Any]:
    return {
        "homeservers": [HOMESERVER],
        "datastores": {"s3": {"forKinds": ["thumbnails", "remote_media", "local_media", "archives"]}},
        "s3": {
            "provider": "external",
            "endpoint": "minio.example.org:9000",
            "bucketName": "media",
            "region": "us-east-1",
            "ssl": "yes",
            "accessKeyId": "mmr",
            "accessSecret": EXTERNAL_S3_SECRET,
            "publicBaseUrl": "https://cdn.example.org",
            "redirectWhenCached": True,
            "multipartUploads": "off",
            "storageClass": "STANDARD_IA",
            "tempPath": "/tmp/mmr-s3",
        },
        "database": {"provider": "external", "dsn": EXTERNAL_DSN},
    }


def everything_on() -> dict[str, Any]:
    return {
        "homeservers": [
            {**HOMESERVER, "backoffAt": 5, "adminApiKind": "synapse", "signingKeyPath": "/keys/example.org.key"},
            {"name": "example.net", "csApi": "https://matrix.example.net/", "adminApiKind": "dendrite"},
        ],
        "admins": ["@admin:example.org", "@ops:example.net"],
        "metrics": {"enabled": True, "port": 9100, "bindAddress": "0.0.0.0"},
        "accessTokens": {"maxCacheTimeSeconds": 0},
        "http": {"bindAddress": "0.0.0.0", "port": 8080},
        "database": {"maxConnections": 50, "maxIdleConnections": 10, "postgresVersion": 16},
    }


SIGNING_KEY = (
    "-----BEGIN MMR PRIVATE KEY-----\n"
    "Key-ID: ed25519:mmr1\n"
    "Version: 1\n"
    "\n"
    "bW1yLXRlc3Qtc2VlZC0zMi1ieXRlcy1sb25nLi4uLi4=\n"
    "-----END MMR PRIVATE KEY-----\n"
)
IMPORT_DB_PASSWORD = "syn@pse:pass/word?#%"


def operations() -> dict[str, Any]:
    """Issue #4's production settings, all at once."""
    return {
        "homeservers": [{**HOMESERVER, "publicHost": "matrix.example.org", "signingKey": SIGNING_KEY}],
        "admins": ["@admin:example.org"],
        "metrics": {"enabled": True},
        "proxy": {
            "traefik": {
                "enabled": True,
                "entrypoints": ["websecure", "federation"],
                "certResolver": "letsencrypt",
                "network": "traefik",
            }
        },
        "redis": {"enabled": True, "databaseNumber": 2},
        "import": {
            "from": "synapse",
            "dbHost": "synapse-postgres",
            "dbName": "synapse",
            "dbUsername": "synapse",
            "dbPassword": IMPORT_DB_PASSWORD,
            "serverName": "example.org",
            "baseUrl": "http://synapse:8008",
            "workers": 4,
        },
        "sharedSecretAuth": {"enabled": True},
        "uploads": {
            "maxBytes": 52428800,
            "quotas": {"enabled": True, "users": [{"glob": "@*:example.org", "maxBytes": 1073741824}]},
        },
        "downloads": {"maxBytes": 209715200},
        "urlPreviews": {"enabled": False},
        # IPv6 remotes too: MMR's default allow list, 0.0.0.0/0, holds no IPv6 address.
        "federation": {"ignoredHosts": ["spam.example"], "allowedNetworks": ["0.0.0.0/0", "::/0"]},
        "repo": {"freezeUnauthenticatedMedia": True},
    }


def file_to_s3() -> dict[str, Any]:
    """The file datastore's media moving to an AWS bucket that now takes every kind."""
    config = aws_s3()
    config["datastores"] = {
        "file": {"transferTo": "s3"},
        "s3": {"forKinds": ["thumbnails", "remote_media", "local_media", "archives"]},
    }
    return config


# host.provider digitalocean with nothing else but the homeserver and the admin address (issue #29's "done when").
# Not among VARIANTS: those also run on the tests' own Docker engine, and this one's host is made on DigitalOcean.
MINIMAL_DIGITALOCEAN_HOST: dict[str, Any] = {
    "homeservers": [HOMESERVER],
    "host": {"provider": "digitalocean", "adminCidrs": ["203.0.113.7/32"]},
}

VARIANTS = {
    "dev": dev,
    "aws": aws_s3,
    "aws-rds": aws_rds,
    "digitalocean": digitalocean,
    "external": external,
    "everything-on": everything_on,
    "operations": operations,
    "file-to-s3": file_to_s3,
}

# What each variant's provider stack file holds beside our keys.
PROVIDER_CONFIG = {
    "digitalocean": {"digitalocean:spacesAccessId": "DOSPACESID", "digitalocean:spacesSecretKey": "dospacessecret"},
}


def example_stack_files() -> list[Path]:
    return sorted((ROOT / "examples").glob("Pulumi.*.yaml"))
