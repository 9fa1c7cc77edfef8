"""A realistic value for every key, as typed after ``pulumi config set --path KEY``: what a printed fix offers.

Keys are written with ``[]`` for any list index. Values are shell-ready (quoted
where the shell needs it) and survive the CLI's typing: ``true``/``false`` and
integers become booleans and numbers, everything else a string.
"""

from __future__ import annotations

from config_schema.errors import pattern
from config_schema.images import DEFAULT_IMAGE, POSTGRES_IMAGES
from config_schema.operations import REDIS_IMAGE

EXAMPLES: dict[str, str] = {
    "homeservers[].name": "example.org",
    "homeservers[].csApi": "https://matrix.example.org",
    "homeservers[].publicHost": "matrix.example.org",
    "homeservers[].backoffAt": "10",
    "homeservers[].adminApiKind": "synapse",
    "homeservers[].signingKeyPath": "/config/example.org.mmr.key",
    "homeservers[].signingKey": '"$(cat example.org.mmr.key)"',
    "admins[]": "@admin:example.org",
    "image": DEFAULT_IMAGE,
    "datastores.file.id": "file",
    # datastores.file.forKinds: none; unset, the file datastore takes every kind S3 does not.
    "datastores.file.protect": "true",
    "datastores.s3.id": "s3",
    "datastores.s3.forKinds[]": "local_media",
    "database.provider": "container",
    "database.maxConnections": "25",
    "database.maxIdleConnections": "5",
    "database.postgresVersion": "17",
    "database.image": POSTGRES_IMAGES["17"],
    "database.name": "mediarepo",
    "database.user": "mediarepo",
    "database.region": "ams3",
    "database.size": "db-s-1vcpu-1gb",
    "database.nodeCount": "1",
    "database.trustedSources[].type": "ip_addr",
    "database.trustedSources[].value": "203.0.113.10",
    "database.dsn": "'postgres://mediarepo:secret@db.example.org:5432/mediarepo?sslmode=require'",
    "database.protect": "true",
    "metrics.enabled": "true",
    "metrics.port": "9000",
    "metrics.bindAddress": "127.0.0.1",
    "accessTokens.maxCacheTimeSeconds": "43200",
    "http.bindAddress": "127.0.0.1",
    "http.port": "8000",
    "s3.provider": "aws",
    "s3.bucketName": "example-media",
    "s3.region": "eu-central-1",
    "s3.endpoint": "s3.example.org",
    "s3.ssl": "true",
    "s3.storageClass": "STANDARD",
    "s3.tempPath": "/tmp/mmr-s3",
    "s3.accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "s3.accessSecret": "'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'",
    "s3.prefixLength": "2",
    "s3.publicBaseUrl": "https://media.example.org/",
    "s3.redirectWhenCached": "false",
    "s3.multipartUploads": "true",
    "s3.versioning": "true",
    "s3.noncurrentVersionExpirationDays": "30",
    "s3.encryption": "AES256",
    "s3.protect": "true",
    "proxy.traefik.enabled": "true",
    "proxy.traefik.entrypoints[]": "websecure",
    "proxy.traefik.certResolver": "letsencrypt",
    "proxy.traefik.network": "traefik",
    "redis.enabled": "true",
    "redis.databaseNumber": "0",
    "redis.shards[].name": "redis1",
    "redis.shards[].addr": "redis.internal:6379",
    "redis.image": REDIS_IMAGE,
    "import.from": "synapse",
    "import.dbHost": "synapse-postgres",
    "import.dbPort": "5432",
    "import.dbName": "synapse",
    "import.dbUsername": "synapse",
    "import.dbPassword": "'the-synapse-database-password'",
    "import.serverName": "example.org",
    "import.baseUrl": "http://synapse:8008",
    "import.workers": "10",
    "import.machineId": "1",
    "sharedSecretAuth.enabled": "true",
    "uploads.maxBytes": "104857600",
    "uploads.quotas.enabled": "true",
    "uploads.quotas.users[].glob": "'@*:example.org'",
    "uploads.quotas.users[].maxBytes": "1073741824",
    "uploads.quotas.users[].maxPending": "5",
    "uploads.quotas.users[].maxFiles": "1000",
    "downloads.maxBytes": "104857600",
    "urlPreviews.enabled": "true",
    "federation.ignoredHosts[]": "spam.example",
    "repo.freezeUnauthenticatedMedia": "true",
    "docker.networks[]": "synapse_default",
    "backup.enabled": "true",
    "backup.schedule": "@daily",
    "backup.retention.days": "7",
    "backup.retention.weeks": "4",
    "backup.retention.months": "6",
    "backup.s3": "true",
    "backup.image": "prodrigestivill/postgres-backup-local:17-alpine",
    "backup.protect": "true",
}

# Lists whose items are objects: what an item needs at least.
REQUIRED_ITEM_KEYS: dict[str, tuple[str, ...]] = {
    "homeservers": ("name", "csApi"),
    "database.trustedSources": ("type", "value"),
    "redis.shards": ("name", "addr"),
    "uploads.quotas.users": ("glob", "maxBytes"),
}


def example_for(key: str) -> str | None:
    return EXAMPLES.get(pattern(key))
