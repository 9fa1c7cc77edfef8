"""MMR's ``media-repo.yaml`` built from the stack config (the sections are typed in ``media_repo_sections``).

MMR ignores an unknown key without a word and refuses to start on a wrong type, so the tests check every
rendered variant against ``tests/upstream/mmr/config-keys.tsv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from config_schema.media_repo_sections import (
    AccessTokensSection,
    DatabaseSection,
    DatastoreEntry,
    DownloadsSection,
    FederationSection,
    HomeserverEntry,
    MediaRepoConfig,
    MetricsSection,
    PoolSection,
    QuotaEntry,
    QuotasSection,
    RedisSection,
    RedisShardEntry,
    RepoSection,
    SharedSecretAuthSection,
    ThumbnailsSection,
    UploadsSection,
    UrlPreviewsSection,
)
from config_schema.stack import StackConfig

# Where the file datastore's volume is mounted: the image declares it a VOLUME.
MEDIA_PATH = "/media"


# A small volume for the files this program uploads: MMR's root filesystem is
# read-only, and Docker copies files into such a container only onto a volume.
CONFIG_DIR = "/config"


def signing_key_path(index: int) -> str:
    """Where homeservers[index]'s signing key (given or generated) is uploaded in the MMR container."""
    return f"{CONFIG_DIR}/signing-key-{index}.pem"


@dataclass(frozen=True)
class S3Connection:
    """Where the bucket is and the key MMR uses for it, whoever created them."""

    endpoint: str
    bucket_name: str
    region: str
    access_key_id: str
    access_secret: str
    ssl: bool


def go_bool(value: bool) -> str:
    """The spelling Go's strconv.ParseBool accepts; MMR reads anything else as false."""
    return "true" if value else "false"


def s3_datastore_opts(stack: StackConfig, connection: S3Connection) -> dict[str, str]:
    s3 = stack.s3
    opts = {
        "endpoint": connection.endpoint,
        "bucketName": connection.bucket_name,
        "region": connection.region,
        "accessKeyId": connection.access_key_id,
        "accessSecret": connection.access_secret,
        "ssl": go_bool(connection.ssl),
        "tempPath": s3.temp_path,
    }
    optional = {
        "storageClass": s3.storage_class,
        "prefixLength": None if s3.prefix_length is None else str(s3.prefix_length),
        "publicBaseUrl": s3.public_base_url,
        "redirectWhenCached": None if s3.redirect_when_cached is None else go_bool(s3.redirect_when_cached),
        "multipartUploads": None if s3.multipart_uploads is None else go_bool(s3.multipart_uploads),
    }
    opts.update({key: value for key, value in optional.items() if value is not None})
    return opts


def datastore_ids(stack: StackConfig) -> dict[str, str]:
    """The ids MMR records with every piece of media: they must never change."""
    ids = {"file": stack.datastores.file.id}
    if stack.uses_s3:
        ids["s3"] = stack.datastores.s3.id
    return ids


def build_media_repo_config(
    stack: StackConfig,
    *,
    database_dsn: str,
    s3: S3Connection | None = None,
    shared_secret_token: str | None = None,
    redis_container_addresses: Sequence[str] = (),
    use_forwarded_host: bool | None = None,
) -> MediaRepoConfig:
    datastores = [
        # The file datastore stays listed even when it takes no kinds: media
        # already on the volume must stay readable, and MMR refuses to start
        # when its database knows a datastore id that the config lacks.
        DatastoreEntry(
            id=stack.datastores.file.id,
            type="file",
            for_kinds=stack.datastores.file_kinds,
            opts={"path": MEDIA_PATH},
        )
    ]
    if stack.uses_s3:
        if s3 is None:
            raise ValueError("the stack uses S3 but no S3 connection was given")
        datastores.append(
            DatastoreEntry(
                id=stack.datastores.s3.id,
                type="s3",
                for_kinds=list(dict.fromkeys(stack.datastores.s3.for_kinds)),
                opts=s3_datastore_opts(stack, s3),
            )
        )
    uploads = stack.uploads
    quotas = uploads.quotas
    return MediaRepoConfig(
        repo=RepoSection(
            port=stack.http.port,
            freeze_unauthenticated_media=stack.repo.freeze_unauthenticated_media,
            use_forwarded_host=use_forwarded_host,
        ),
        database=DatabaseSection(
            postgres=database_dsn,
            pool=PoolSection(
                max_connections=stack.database.max_connections,
                max_idle_connections=stack.database.max_idle_connections,
            ),
        ),
        homeservers=[
            HomeserverEntry(
                name=homeserver.name,
                cs_api=homeserver.cs_api,
                backoff_at=homeserver.backoff_at,
                admin_api_kind=homeserver.admin_api_kind,
                signing_key_path=signing_key_path(index)
                if homeserver.uploads_signing_key
                else homeserver.signing_key_path,
            )
            for index, homeserver in enumerate(stack.homeservers)
        ],
        admins=list(stack.admins),
        access_tokens=AccessTokensSection(max_cache_time_seconds=stack.token_cache_seconds),
        datastores=datastores,
        metrics=MetricsSection(enabled=stack.metrics.enabled, port=stack.metrics.port),
        thumbnails=ThumbnailsSection(
            max_source_bytes=stack.thumbnails.max_source_bytes, num_workers=stack.thumbnails.num_workers
        ),
        shared_secret_auth=(
            SharedSecretAuthSection(enabled=True, token=shared_secret_token)
            if stack.uses_shared_secret and shared_secret_token
            else None
        ),
        uploads=(
            UploadsSection(
                max_bytes=uploads.max_bytes,
                quotas=QuotasSection(
                    enabled=quotas.enabled,
                    users=[
                        QuotaEntry(glob=q.glob, max_bytes=q.max_bytes, max_pending=q.max_pending, max_files=q.max_files)
                        for q in quotas.users
                    ],
                )
                if quotas
                else None,
            )
            if uploads.max_bytes is not None or quotas
            else None
        ),
        downloads=DownloadsSection(max_bytes=stack.downloads.max_bytes)
        if stack.downloads.max_bytes is not None
        else None,
        url_previews=(
            UrlPreviewsSection(enabled=stack.url_previews.enabled) if stack.url_previews.enabled is not None else None
        ),
        federation=_federation_section(stack),
        redis=(
            RedisSection(
                enabled=True,
                database_number=stack.redis.database_number,
                shards=[RedisShardEntry(name=shard.name, addr=shard.addr) for shard in stack.redis.shards]
                or _own_shards(redis_container_addresses),
            )
            if stack.redis.enabled
            else None
        ),
    )


def _federation_section(stack: StackConfig) -> FederationSection | None:
    """Only what is set: the program's defaults are MMR's own, which a key left out of the file keeps."""
    federation = stack.federation
    given = federation.model_fields_set
    section = FederationSection(
        ignored_hosts=federation.ignored_hosts or None,
        disallowed_networks=federation.disallowed_networks if "disallowed_networks" in given else None,
        allowed_networks=federation.allowed_networks if "allowed_networks" in given else None,
    )
    return section if section.model_dump(exclude_none=True) else None


def render_media_repo_config(config: MediaRepoConfig) -> str:
    """The YAML file MMR reads from ``REPO_CONFIG``."""
    document = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _own_shards(addresses: Sequence[str]) -> list[RedisShardEntry]:
    """The Redis servers the program starts: "redis" alone (its name since the first release: a shard's name
    places keys), else "redis-0", "redis-1", ... in the order of their addresses."""
    if len(addresses) == 1:
        return [RedisShardEntry(name="redis", addr=addresses[0])]
    return [RedisShardEntry(name=f"redis-{index}", addr=address) for index, address in enumerate(addresses)]
