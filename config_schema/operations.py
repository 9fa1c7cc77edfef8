"""Stack config for running MMR in production: reverse proxy, Redis, imports and further MMR settings."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from config_schema.common import ConfigModel, bare_host, check_http_url, is_bare_server_name
from config_schema.errors import ConfigError, set_value
from config_schema.images import REDIS_IMAGE


class Traefik(ConfigModel):
    enabled: bool = False
    entrypoints: list[str] = Field(default_factory=lambda: ["websecure"])
    cert_resolver: str | None = None
    # The Docker network Traefik reaches MMR on; MMR joins it.
    network: str | None = None


class Proxy(ConfigModel):
    traefik: Traefik = Field(default_factory=Traefik)


def _redis_address(value: str) -> bool:
    host, _, port = value.rpartition(":")
    return "://" not in value and bool(host) and port.isdigit() and is_bare_server_name(value)


class RedisShard(ConfigModel):
    name: str
    addr: str

    @field_validator("addr")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not _redis_address(value):
            # redis://host:port is the same server: the scheme is taken off (a TLS one, rediss://, is not).
            bare = value.removeprefix("redis://").rstrip("/")
            raise ConfigError(
                f"{value!r} must be host:port, such as redis.internal:6379; MMR's Redis client speaks neither TLS "
                "nor AUTH, so the server must be reachable without a password on a private network",
                corrected=bare if _redis_address(bare) else None,
            )
        return value


class Redis(ConfigModel):
    enabled: bool = False
    database_number: int = Field(default=0, ge=0, le=15)
    # Existing Redis servers; empty with `enabled` starts one beside MMR.
    shards: list[RedisShard] = Field(default_factory=list)
    image: str = REDIS_IMAGE


class MediaImport(ConfigModel):
    """A one-shot import of a homeserver's local media with the image's import_synapse or import_dendrite."""

    source: Literal["synapse", "dendrite"] = Field(alias="from")
    db_host: str
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_name: str
    db_username: str
    db_password: str
    server_name: str
    base_url: str
    workers: int = Field(default=10, ge=1, le=100)
    # MMR's ID generator needs a machine id distinct from every running MMR process.
    machine_id: int = Field(default=1, ge=1, le=1023)

    @field_validator("db_host")
    @classmethod
    def _db_host(cls, value: str) -> str:
        if not is_bare_server_name(value) or ":" in value:
            host, _, port = value.rpartition(":")
            split = is_bare_server_name(host) and ":" not in host and port.isdigit() and 1 <= int(port) <= 65535
            raise ConfigError(
                f"{value!r} must be a host name or IP address (the port goes in import.dbPort)",
                # host:port typed here: each goes where it belongs.
                fix=f"{set_value('import.dbHost', host)} && {set_value('import.dbPort', int(port))}" if split else None,
            )
        return value

    @field_validator("db_name", "db_username")
    @classmethod
    def _plain(cls, value: str) -> str:
        # The importer pastes these into a URL without encoding them.
        if not re.match(r"^[A-Za-z0-9_.-]+$", value):
            raise ConfigError(
                f"{value!r} may hold only letters, digits, '_', '.' and '-' (the importer does not escape it)"
            )
        return value

    @field_validator("server_name")
    @classmethod
    def _server_name(cls, value: str) -> str:
        if not is_bare_server_name(value):
            raise ConfigError(f"{value!r} must be a bare server name such as example.org", corrected=bare_host(value))
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value, "where the importer reaches the homeserver directly", "http://synapse:8008")


class SharedSecretAuth(ConfigModel):
    enabled: bool = False


class SmokeTest(ConfigModel):
    # After MMR is healthy, `pulumi up` uploads, downloads and purges one small file per homeserver,
    # as a repo admin with the shared-secret token (which this turns on), and fails with MMR's answer.
    enabled: bool = True


class UserQuota(ConfigModel):
    glob: str
    max_bytes: int = Field(default=0, ge=0)
    max_pending: int = Field(default=0, ge=0)
    max_files: int = Field(default=0, ge=0)


class UploadQuotas(ConfigModel):
    enabled: bool = False
    users: list[UserQuota] = Field(default_factory=list)


# MMR's largest upload when uploads.maxBytes is unset (common/config/conf_min_shared.go line 23 at ed4f318).
MMR_DEFAULT_MAX_UPLOAD_BYTES = 104857600


class Uploads(ConfigModel):
    # 0: no limit at MMR, which limits only above 0 (pipelines/_steps/upload/limit.go line 11 at ed4f318).
    max_bytes: int | None = Field(default=None, ge=0)
    quotas: UploadQuotas | None = None


class Downloads(ConfigModel):
    max_bytes: int | None = Field(default=None, ge=0)


class UrlPreviews(ConfigModel):
    enabled: bool | None = None


# MMR's thumbnailer defaults (common/config/conf_main.go lines 87-110 at 84bcb70): 10 MiB sources, 10 workers.
DEFAULT_THUMBNAIL_SOURCE_BYTES = 10485760
DEFAULT_THUMBNAIL_WORKERS = 10


class Thumbnails(ConfigModel):
    max_source_bytes: int = Field(default=DEFAULT_THUMBNAIL_SOURCE_BYTES, ge=0)
    num_workers: int = Field(default=DEFAULT_THUMBNAIL_WORKERS, ge=1, le=1000)

    @property
    def peak_mib(self) -> int:
        """Upstream's estimate of what thumbnailing may hold at once: sources x 1.5 x workers."""
        return -(-self.max_source_bytes * 3 * self.num_workers // 2 // 2**20)


class Repo(ConfigModel):
    # Always rendered: MMR's own default flips from false (v1.3.7) to true (v1.3.8, upstream commit 78d9ad2),
    # so leaving it out would change behaviour with the image. True follows v1.3.8 and the Matrix spec's
    # authenticated media.
    freeze_unauthenticated_media: bool = True
