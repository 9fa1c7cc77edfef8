"""A realistic value for every key, as an operator would type it after ``pulumi config set --path KEY``.

The program never prints these (a fix sets no value of its own making): the tests type them where a
printed fix asks for a value.
Keys are written with ``[]`` for any list index. Values are shell-ready (quoted where the shell needs
it) and survive the CLI's typing: ``true``/``false`` and integers become booleans and numbers,
everything else a string.
"""

from __future__ import annotations

import shlex

from config_schema.errors import pattern
from config_schema.images import DEFAULT_IMAGE, POSTGRES_IMAGES, REDIS_IMAGE, default_backup_image
from tests.variants import SIGNING_KEY

# A fix that reads a file the operator has ("$(cat example.org.mmr.key)") finds it in the working directory.
FILES = {"example.org.mmr.key": SIGNING_KEY}

EXAMPLES: dict[str, str] = {
    "homeservers[].name": "example.org",
    "homeservers[].csApi": "https://matrix.example.org",
    "homeservers[].publicHost": "matrix.example.org",
    "homeservers[].backoffAt": "10",
    "homeservers[].adminApiKind": "synapse",
    "homeservers[].signingKeyPath": "/config/example.org.mmr.key",
    "homeservers[].signingKey": '"$(cat example.org.mmr.key)"',
    "homeservers[].signingKeyRotation": "1",
    "admins[]": "@admin:example.org",
    "image": DEFAULT_IMAGE,
    "host.provider": "digitalocean",
    "host.region": "ams3",
    "host.size": "s-2vcpu-4gb",
    "host.image": "debian-12-x64",
    "host.volumeSizeGib": "50",
    "host.adminCidrs[]": "203.0.113.7/32",
    "host.mediaRepoSources[]": "10.110.0.0/20",
    "datastores.file.id": "file",
    # Unset, the file datastore takes every kind S3 does not; an operator who lists them types these.
    "datastores.file.forKinds[]": "local_media",
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
    "database.aws.instanceClass": "db.t4g.small",
    "database.aws.allocatedStorageGb": "20",
    "database.aws.maxAllocatedStorageGb": "100",
    "database.aws.backupRetentionDays": "14",
    "database.aws.backupWindow": "02:00-02:30",
    "database.aws.maintenanceWindow": "sun:03:00-sun:04:00",
    "database.aws.multiAz": "true",
    "database.aws.performanceInsights": "false",
    "database.aws.subnetIds[]": "subnet-0a1b2c3d4e5f60718",
    "database.aws.publiclyAccessible": "false",
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
    "platform": "kubernetes",
    "kubernetes.namespace": "matrix-media-repo",
    "kubernetes.createNamespace": "false",
    "kubernetes.replicas": "3",
    "kubernetes.ingress.className": "nginx",
    "kubernetes.ingress.controllerNamespace": "ingress-nginx",
    "kubernetes.ingress.clusterIssuer": "letsencrypt",
    "kubernetes.resources.cpuRequest": "250m",
    "kubernetes.resources.memoryRequest": "512Mi",
    "kubernetes.resources.memoryLimit": "2Gi",
    "kubernetes.autoscaling.enabled": "true",
    "kubernetes.autoscaling.maxReplicas": "8",
    "kubernetes.autoscaling.targetCpuPercent": "75",
    "kubernetes.mediaVolume.storageClass": "nfs-client",
    "kubernetes.mediaVolume.accessMode": "ReadWriteMany",
    "kubernetes.mediaVolume.size": "50Gi",
    "kubernetes.postgresVolume.storageClass": "standard",
    "kubernetes.postgresVolume.size": "20Gi",
    "kubernetes.backupVolume.storageClass": "standard",
    "kubernetes.backupVolume.size": "20Gi",
    "kubernetes.tempSize": "4Gi",
    "kubernetes.redisMaxMemory": "256mb",
    "kubernetes.podMonitor": "true",
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
    "federation.disallowedNetworks[]": "10.0.0.0/8",
    "federation.allowedNetworks[]": "0.0.0.0/0",
    "kubernetes.networkPolicy.egressCidrs[]": "172.31.0.0/16",
    "kubernetes.networkPolicy.egressNamespaces[]": "matrix",
    "kubernetes.networkPolicy.ingressNamespaces[]": "ingress-nginx",
    "repo.freezeUnauthenticatedMedia": "true",
    "docker.networks[]": "synapse_default",
    "backup.enabled": "true",
    "backup.schedule": "@daily",
    "backup.retention.days": "7",
    "backup.retention.weeks": "4",
    "backup.retention.months": "6",
    "backup.s3": "true",
    "backup.image": default_backup_image("17"),
    "backup.protect": "true",
}


def example_for(key: str) -> str | None:
    """The shell words of a working value for ``key``."""
    return EXAMPLES.get(pattern(key))


def answer_for(key: str) -> str | None:
    """What an operator types at the CLI's prompt for ``key``: the value itself, unquoted."""
    words = example_for(key)
    if words is None:
        return None
    if words.startswith('"$(cat '):
        return FILES[words.removeprefix('"$(cat ').removesuffix(')"')]
    return shlex.split(words)[0]
