"""The sections of MMR's ``media-repo.yaml`` this project sets, typed as MMR's Go config structs read them.

Keys and types follow ``tests/upstream/mmr/config-keys.tsv``: MMR ignores an unknown key without a word and
refuses to start on a wrong type. ``media_repo`` fills them from the stack config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from config_schema.storage import MediaKind


class MediaRepoModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class RepoSection(MediaRepoModel):
    # MMR's default, 127.0.0.1, cannot be reached from outside its container.
    bind_address: str = "0.0.0.0"
    port: int = 8000
    # "-" logs to stdout only, where `docker logs` finds it.
    log_directory: str = "-"
    log_colors: bool = False
    json_logs: bool = False
    log_level: Literal["panic", "fatal", "error", "warn", "info", "debug", "trace"] = "info"
    freeze_unauthenticated_media: bool
    # False where a proxy sets Host to the server name but X-Forwarded-Host to the public host, which
    # MMR would otherwise read first (api/_routers/03-host_detection.go line 31 at v1.3.7).
    use_forwarded_host: bool | None = None


class PoolSection(MediaRepoModel):
    max_connections: int
    max_idle_connections: int


class DatabaseSection(MediaRepoModel):
    postgres: str
    pool: PoolSection


class HomeserverEntry(MediaRepoModel):
    name: str
    cs_api: str
    backoff_at: int | None = None
    admin_api_kind: str | None = None
    signing_key_path: str | None = None


class AccessTokensSection(MediaRepoModel):
    max_cache_time_seconds: int


class DatastoreEntry(MediaRepoModel):
    id: str
    type: Literal["file", "s3"]
    for_kinds: list[MediaKind]
    # MMR reads opts as map[string]string: a YAML bool or int here stops it at startup.
    opts: dict[str, str] = Field(default_factory=dict)


class ThumbnailsSection(MediaRepoModel):
    max_source_bytes: int
    num_workers: int


class MetricsSection(MediaRepoModel):
    enabled: bool
    bind_address: str = "0.0.0.0"
    port: int


class SharedSecretAuthSection(MediaRepoModel):
    enabled: bool
    token: str


class QuotaEntry(MediaRepoModel):
    glob: str
    max_bytes: int
    max_pending: int
    max_files: int


class QuotasSection(MediaRepoModel):
    enabled: bool
    users: list[QuotaEntry]


class UploadsSection(MediaRepoModel):
    max_bytes: int | None = None
    quotas: QuotasSection | None = None


class DownloadsSection(MediaRepoModel):
    max_bytes: int | None = None


class UrlPreviewsSection(MediaRepoModel):
    enabled: bool


class FederationSection(MediaRepoModel):
    ignored_hosts: list[str] | None = None
    disallowed_networks: list[str] | None = None
    allowed_networks: list[str] | None = None


class RedisShardEntry(MediaRepoModel):
    name: str
    addr: str


class RedisSection(MediaRepoModel):
    enabled: bool
    database_number: int
    shards: list[RedisShardEntry]


class MediaRepoConfig(MediaRepoModel):
    repo: RepoSection
    database: DatabaseSection
    homeservers: list[HomeserverEntry]
    admins: list[str]
    access_tokens: AccessTokensSection
    datastores: list[DatastoreEntry]
    metrics: MetricsSection
    # Always rendered: the memory limits are sized from these, so MMR must use the same numbers.
    thumbnails: ThumbnailsSection
    shared_secret_auth: SharedSecretAuthSection | None = None
    uploads: UploadsSection | None = None
    downloads: DownloadsSection | None = None
    url_previews: UrlPreviewsSection | None = None
    federation: FederationSection | None = None
    redis: RedisSection | None = None
