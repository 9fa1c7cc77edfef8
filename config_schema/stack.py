"""The stack config contract: what an operator may set with ``pulumi config set``.

Field names are snake_case in Python and camelCase in the stack file
(``maxConnections``), exactly as the README lists them. Unknown keys are
rejected so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from config_schema.backup import Backup
from config_schema.common import ConfigModel, check_http_url, is_bare_server_name
from config_schema.docker_host import DockerHost
from config_schema.errors import ConfigError, fix_for, set_command
from config_schema.operations import (
    Downloads,
    Federation,
    MediaImport,
    Proxy,
    Redis,
    Repo,
    SharedSecretAuth,
    Uploads,
    UrlPreviews,
)
from config_schema.signing_key import signing_key_problem

MediaKind = Literal["thumbnails", "remote_media", "local_media", "archives"]
ALL_MEDIA_KINDS: tuple[MediaKind, ...] = ("thumbnails", "remote_media", "local_media", "archives")

# v1.3.7 has three published vulnerabilities (CVE-2024-56515, CVE-2024-52791, CVE-2024-52602) fixed in v1.3.8.
DEFAULT_IMAGE = "ghcr.io/t2bot/matrix-media-repo:v1.3.8"

# The container provider pins a patch release per major version so that a
# `pulumi up` months later pulls the same Postgres it tested with.
POSTGRES_IMAGES: dict[str, str] = {
    "15": "postgres:15.14-alpine",
    "16": "postgres:16.10-alpine",
    "17": "postgres:17.6-alpine",
}

_DATASTORE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MATRIX_USER = re.compile(r"^@([a-z0-9._=\-/+]+):(.+)$")
_S3_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ConfigError(f"is {value}, not a TCP port between 1 and 65535")
    return value


def _check_bind_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(
            f"{value!r} is not an IP address of the Docker host "
            "(127.0.0.1 behind a local reverse proxy, 0.0.0.0 for all interfaces)",
        ) from None
    return value


Port = Annotated[int, AfterValidator(_check_port)]
BindAddress = Annotated[str, AfterValidator(_check_bind_address)]


class Homeserver(ConfigModel):
    name: str
    cs_api: str
    # The host clients and federation reach for media (matrix.example.org when example.org delegates);
    # the server name's host by default. Proxies match on it and hand MMR the server name.
    public_host: str | None = None
    backoff_at: int | None = Field(default=None, ge=1)
    admin_api_kind: Literal["synapse", "dendrite", "matrix"] | None = None
    signing_key_path: str | None = None
    # An MMR-format PEM key, set with --secret; uploaded into the container.
    signing_key: str | None = None

    @field_validator("signing_key")
    @classmethod
    def _mmr_key(cls, value: str | None) -> str | None:
        if value is not None and (problem := signing_key_problem(value)):
            raise ConfigError(
                problem,
                fix="pulumi config set --secret --path 'homeservers[N].signingKey' -- \"$(cat example.org.mmr.key)\"",
            )
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Homeserver:
        if self.signing_key and self.signing_key_path:
            raise ConfigError(
                "and signingKeyPath are both set: give the key, or the path of a key already in the container",
                key="signingKey",
                fix="pulumi config rm --path 'homeservers[N].signingKeyPath'",
            )
        return self

    @field_validator("name")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        if not is_bare_server_name(value):
            raise ConfigError(
                f"{value!r} must be a bare server name such as example.org (no scheme, no path): "
                "the one in your users' IDs, which MMR matches against the Host header",
                example="example.org",
            )
        return value

    @field_validator("public_host")
    @classmethod
    def _bare_host(cls, value: str | None) -> str | None:
        if value is not None and (":" in value or not is_bare_server_name(value)):
            raise ConfigError(
                f"{value!r} must be a host name without scheme, port or path: the one in the URLs clients "
                "and federation use for media, such as the homeserver's delegated host",
                example="matrix.example.org",
            )
        return value

    @property
    def proxied_host(self) -> str:
        """Where a reverse proxy receives this homeserver's media requests."""
        if self.public_host:
            return self.public_host
        host, _, port = self.name.rpartition(":")
        return host if host and port.isdigit() else self.name

    @field_validator("cs_api")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(
            value, "where MMR reaches the homeserver's client-server API", "https://matrix.example.org"
        )

    @field_validator("signing_key_path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ConfigError(f"{value!r} must be an absolute path inside the MMR container")
        return value


class FileDatastore(ConfigModel):
    id: str = "file"
    # None means "every kind the S3 datastore does not take", resolved by Datastores.
    for_kinds: list[MediaKind] | None = None
    # the media volume: protected against `pulumi destroy` and kept on delete
    protect: bool = True


class S3Datastore(ConfigModel):
    id: str = "s3"
    for_kinds: list[MediaKind] = Field(default_factory=list)


class Datastores(ConfigModel):
    file: FileDatastore = Field(default_factory=FileDatastore)
    s3: S3Datastore = Field(default_factory=S3Datastore)

    @model_validator(mode="after")
    def _ids_and_kinds(self) -> Datastores:
        for key, datastore_id in (("file.id", self.file.id), ("s3.id", self.s3.id)):
            if not _DATASTORE_ID.match(datastore_id):
                raise ConfigError(
                    f"{datastore_id!r} is not a usable datastore id (letters, digits, - and _, at most 64)",
                    key=key,
                    fix=set_command(f"datastores.{key}", "media"),
                )
        if self.file.id == self.s3.id:
            raise ConfigError(
                f"is {self.s3.id!r}, the same as datastores.file.id: MMR needs distinct ids",
                key="s3.id",
                fix=set_command("datastores.s3.id", "s3"),
            )
        for kind in dict.fromkeys(self.s3.for_kinds):
            if self.file.for_kinds is not None and kind in self.file.for_kinds:
                raise ConfigError(
                    f"{kind!r} is given to both datastores, so MMR would split those uploads between disk and bucket",
                    key="file.forKinds",
                    fix="pulumi config rm --path 'datastores.file.forKinds' "
                    "(the file datastore then takes what S3 does not)",
                )
        missing = [kind for kind in ALL_MEDIA_KINDS if kind not in self.file_kinds and kind not in self.s3.for_kinds]
        if missing:
            raise ConfigError(
                f"no datastore accepts {', '.join(missing)}: MMR fails every upload of a kind without one",
                key="file.forKinds",
                fix="pulumi config rm --path 'datastores.file.forKinds' "
                "(the file datastore then takes every kind S3 does not)",
            )
        return self

    @property
    def file_kinds(self) -> list[MediaKind]:
        if self.file.for_kinds is None:
            return [kind for kind in ALL_MEDIA_KINDS if kind not in self.s3.for_kinds]
        return list(dict.fromkeys(self.file.for_kinds))


TrustedSourceType = Literal["droplet", "ip_addr", "k8s", "tag", "app"]


class TrustedSource(ConfigModel):
    type: TrustedSourceType
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        # A droplet id typed with `pulumi config set --path` arrives as an integer.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Database(ConfigModel):
    provider: Literal["container", "digitalocean", "external"] = "container"
    max_connections: int = Field(default=25, ge=1)
    max_idle_connections: int = Field(default=5, ge=0)
    postgres_version: str = "17"
    # container: the image (pinned by postgres_version unless given), database and user names
    image: str | None = None
    name: str = "mediarepo"
    user: str = "mediarepo"
    # digitalocean
    region: str = "ams3"
    size: str = "db-s-1vcpu-1gb"
    node_count: int = Field(default=1, ge=1, le=3)
    trusted_sources: list[TrustedSource] = Field(default_factory=list)
    # external
    dsn: str | None = None
    # the container's data volume, or the managed cluster
    protect: bool = True

    @field_validator("postgres_version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("name", "user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", value):
            raise ConfigError(f"{value!r} must be a lower-case Postgres identifier (a-z, 0-9, _)")
        return value

    @model_validator(mode="after")
    def _provider_needs(self) -> Database:
        if self.max_idle_connections > self.max_connections:
            raise ConfigError(
                f"is {self.max_idle_connections}, more than database.maxConnections ({self.max_connections})",
                key="maxIdleConnections",
                fix=set_command("database.maxIdleConnections", str(min(5, self.max_connections))),
            )
        if self.provider == "container" and self.image is None and self.postgres_version not in POSTGRES_IMAGES:
            raise ConfigError(
                f"{self.postgres_version!r} has no pinned image here (known: {', '.join(POSTGRES_IMAGES)}); "
                "or give database.image",
                key="postgresVersion",
                fix=set_command("database.postgresVersion", "17"),
            )
        if self.image is not None:
            check_pinned_image(self.image, "database.image")
        if self.provider == "digitalocean":
            if not re.match(r"^\d{2}$", self.postgres_version):
                raise ConfigError(
                    f"{self.postgres_version!r} must be a Postgres major version such as 17",
                    key="postgresVersion",
                    fix=set_command("database.postgresVersion", "17"),
                )
            if not self.trusted_sources:
                raise ConfigError(
                    "is empty: the managed cluster's firewall would admit no one, MMR included",
                    key="trustedSources",
                    fix="pulumi config set --path 'database.trustedSources[0].type' ip_addr && "
                    "pulumi config set --path 'database.trustedSources[0].value' 203.0.113.10 "
                    "(your Docker host's public IP)",
                )
        if self.provider == "external":
            if not self.dsn:
                raise ConfigError(
                    "is required with database.provider external",
                    key="dsn",
                    fix=set_command(
                        "database.dsn", "'postgres://user:pass@db.example.org/mediarepo?sslmode=require'", secret=True
                    ),
                )
            parts = urlsplit(self.dsn)
            if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
                raise ConfigError(
                    "must be a postgres:// or postgresql:// URL with a host "
                    "(lib/pq's key=value form is not accepted here)",
                    key="dsn",
                    fix=set_command(
                        "database.dsn", "'postgres://user:pass@db.example.org/mediarepo?sslmode=require'", secret=True
                    ),
                )
        elif self.dsn is not None:
            raise ConfigError(
                f"is only used with database.provider external (the {self.provider} provider builds its own)",
                key="dsn",
                fix="pulumi config rm --path 'database.dsn'",
            )
        return self

    @property
    def container_image(self) -> str:
        """The Postgres image for the container provider, and for psql beside a managed cluster."""
        return self.image or POSTGRES_IMAGES.get(self.postgres_version, POSTGRES_IMAGES[max(POSTGRES_IMAGES)])


class Metrics(ConfigModel):
    enabled: bool = False
    port: Port = 9000
    bind_address: BindAddress = "127.0.0.1"


class AccessTokens(ConfigModel):
    max_cache_time_seconds: int = Field(default=43200, ge=0)


class Http(ConfigModel):
    bind_address: BindAddress = "127.0.0.1"
    port: Port = 8000


S3Provider = Literal["aws", "digitalocean", "external"]


class S3(ConfigModel):
    provider: S3Provider | None = None
    bucket_name: str | None = None
    region: str | None = None
    endpoint: str | None = None
    ssl: bool = True
    storage_class: str | None = None
    temp_path: str = ""
    access_key_id: str | None = None
    access_secret: str | None = None
    prefix_length: int | None = Field(default=None, ge=0, le=16)
    public_base_url: str | None = None
    redirect_when_cached: bool | None = None
    multipart_uploads: bool | None = None
    # Buckets this program creates keep old versions, so that an object MMR, a bug or a leaked key
    # deletes can be brought back; noncurrent versions expire after this many days.
    versioning: bool = True
    noncurrent_version_expiration_days: int = Field(default=30, ge=1, le=3650)
    encryption: Literal["AES256", "aws:kms"] = "AES256"
    protect: bool = True

    @field_validator("ssl", "redirect_when_cached", "multipart_uploads", "versioning", "protect", mode="before")
    @classmethod
    def _go_bool(cls, value: object) -> object:
        # Operators copy these from YAML where `yes`/`on` are booleans; Go's
        # strconv.ParseBool (what MMR uses) would read them as false.
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "t", "1", "yes", "y", "on"):
                return True
            if lowered in ("false", "f", "0", "no", "n", "off"):
                return False
            raise ConfigError(f"{value!r} is neither true nor false", example="true")
        return value

    @field_validator("temp_path")
    @classmethod
    def _writable(cls, value: str) -> str:
        # MMR creates tempPath with os.Mkdir, one level only (datastores/buffer.go:35 at 84bcb70), and its
        # root filesystem is read-only: only a direct child of /tmp, its scratch volume, can be made.
        if (value and not re.fullmatch(r"/tmp/[A-Za-z0-9._-]+", value)) or value in ("/tmp/.", "/tmp/.."):
            raise ConfigError(
                f"{value!r} must be empty (buffer in memory) or a directory directly under /tmp, "
                "the container's scratch space (MMR creates one level only)",
                example="/tmp/mmr-s3",
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value or "/" in value or not is_bare_server_name(value):
            host = urlsplit(value if "://" in value else f"//{value}").netloc or value.split("/")[0]
            raise ConfigError(
                f"{value!r} must be host[:port] only, without scheme or path (MMR adds the scheme from s3.ssl)",
                example=host or "s3.example.org",
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _S3_REGION.match(value):
            raise ConfigError(f"{value!r} is not a region name such as eu-central-1 or ams3")
        return value

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and (not _S3_BUCKET.match(value) or ".." in value):
            raise ConfigError(
                f"{value!r} is not a valid bucket name (3-63 of a-z, 0-9, '.' and '-')",
                example="example-media",
            )
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # MMR appends the object id directly, so the prefix must end in '/'.
        return check_http_url(value, "that clients are redirected to", "https://cdn.example.org/") + "/"

    @model_validator(mode="after")
    def _provider_needs(self) -> S3:
        if self.provider == "external":
            for key, value in (
                ("endpoint", self.endpoint),
                ("bucketName", self.bucket_name),
                ("accessKeyId", self.access_key_id),
                ("accessSecret", self.access_secret),
            ):
                if not value:
                    raise ConfigError(
                        "is required with s3.provider external: nothing is created, the bucket must exist",
                        key=key,
                        fix=fix_for(f"s3.{key}"),
                    )
        elif self.provider in ("aws", "digitalocean"):
            for key, value in (
                ("accessKeyId", self.access_key_id),
                ("accessSecret", self.access_secret),
                ("endpoint", self.endpoint),
            ):
                if value:
                    raise ConfigError(
                        f"is created by this program with s3.provider {self.provider}; remove it",
                        key=key,
                        fix=f"pulumi config rm --path 's3.{key}'",
                    )
            if self.provider == "digitalocean" and not self.region:
                raise ConfigError(
                    "is required with s3.provider digitalocean (the Space's region)",
                    key="region",
                    fix=set_command("s3.region", "ams3"),
                )
        return self


def check_pinned_image(image: str, key: str) -> str:
    name, _, digest = image.partition("@")
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    if not digest and (not tag or tag == "latest"):
        raise ConfigError(
            f"{image!r} is not pinned: give a version tag or a digest, never :latest, "
            "so every `pulumi up` runs the same code",
            key=key,
            fix=set_command(key, DEFAULT_IMAGE),
        )
    if digest and not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        raise ConfigError(
            f"{image!r} has a malformed digest (sha256:<64 hex>)", key=key, fix=set_command(key, DEFAULT_IMAGE)
        )
    return image


class StackConfig(ConfigModel):
    """Everything under ``matrix-media-repo:`` in a ``Pulumi.<stack>.yaml``."""

    homeservers: list[Homeserver]
    admins: list[str] = Field(default_factory=list)
    image: str = DEFAULT_IMAGE
    datastores: Datastores = Field(default_factory=Datastores)
    database: Database = Field(default_factory=Database)
    metrics: Metrics = Field(default_factory=Metrics)
    access_tokens: AccessTokens = Field(default_factory=AccessTokens)
    http: Http = Field(default_factory=Http)
    s3: S3 = Field(default_factory=S3)
    proxy: Proxy = Field(default_factory=Proxy)
    redis: Redis = Field(default_factory=Redis)
    media_import: MediaImport | None = Field(default=None, alias="import")
    shared_secret_auth: SharedSecretAuth = Field(default_factory=SharedSecretAuth)
    uploads: Uploads = Field(default_factory=Uploads)
    downloads: Downloads = Field(default_factory=Downloads)
    url_previews: UrlPreviews = Field(default_factory=UrlPreviews)
    federation: Federation = Field(default_factory=Federation)
    repo: Repo = Field(default_factory=Repo)
    docker: DockerHost = Field(default_factory=DockerHost)
    backup: Backup = Field(default_factory=Backup)

    @field_validator("homeservers")
    @classmethod
    def _at_least_one(cls, value: list[Homeserver]) -> list[Homeserver]:
        if not value:
            raise ConfigError(
                "needs at least one homeserver: MMR answers only requests for a configured server name",
                fix="pulumi config set --path 'homeservers[0].name' example.org && "
                "pulumi config set --path 'homeservers[0].csApi' https://matrix.example.org",
            )
        return value

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        return check_pinned_image(value, "image")

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        seen: dict[str, int] = {}
        for index, homeserver in enumerate(self.homeservers):
            if homeserver.name in seen:
                raise ConfigError(
                    f"{homeserver.name!r} is listed twice (also homeservers[{seen[homeserver.name]}])",
                    key=f"homeservers[{index}].name",
                    fix=f"pulumi config rm --path 'homeservers[{index}]'",
                )
            seen[homeserver.name] = index
        for index, admin in enumerate(self.admins):
            match = _MATRIX_USER.match(admin)
            if not match:
                raise ConfigError(
                    f"{admin!r} is not a Matrix user ID such as @alice:example.org",
                    key=f"admins[{index}]",
                    fix=set_command(f"admins[{index}]", f"@admin:{self.homeservers[0].name}"),
                )
            if match.group(2) not in seen:
                raise ConfigError(
                    f"{admin!r} is on {match.group(2)!r}, which is not among the homeservers ({', '.join(seen)})",
                    key=f"admins[{index}]",
                    fix=set_command(f"admins[{index}]", f"@{match.group(1)}:{self.homeservers[0].name}"),
                )
        if self.metrics.enabled and self.metrics.port == self.http.port:
            # MMR listens on both inside one container, so they cannot share a port.
            raise ConfigError(
                f"is {self.metrics.port}, the same as http.port",
                key="metrics.port",
                fix=set_command("metrics.port", "9000" if self.http.port != 9000 else "9001"),
            )
        if self.media_import and self.media_import.server_name not in seen:
            raise ConfigError(
                f"{self.media_import.server_name!r} is not among the homeservers ({', '.join(seen)}): "
                "MMR would not serve the imported media",
                key="import.serverName",
                fix=set_command("import.serverName", self.homeservers[0].name),
            )
        hosts: dict[str, int] = {}
        for index, homeserver in enumerate(self.homeservers):
            if homeserver.proxied_host in hosts:
                raise ConfigError(
                    f"{homeserver.proxied_host!r} is also homeservers[{hosts[homeserver.proxied_host]}]'s public "
                    "host: a proxy could not tell their media apart",
                    key=f"homeservers[{index}].publicHost",
                    fix=set_command(f"homeservers[{index}].publicHost", f"media.{homeserver.name.split(':')[0]}"),
                )
            hosts[homeserver.proxied_host] = index
        if self.redis.shards and not self.redis.enabled:
            raise ConfigError(
                "lists Redis servers, but redis.enabled is false",
                key="redis.enabled",
                fix=set_command("redis.enabled", "true"),
            )
        check_pinned_image(self.redis.image, "redis.image")
        self._check_backup()
        if self.datastores.s3.for_kinds and self.s3.provider is None:
            raise ConfigError(
                "is not set, but datastores.s3.forKinds sends media to S3",
                key="s3.provider",
                fix=set_command("s3.provider", "aws") + " (or digitalocean, external)",
            )
        return self

    def _check_backup(self) -> None:
        backup = self.backup
        if backup.image is not None:
            check_pinned_image(backup.image, "backup.image")
        if backup.enabled and self.database.provider != "container":
            elsewhere = {
                "digitalocean": "DigitalOcean backs managed clusters up daily, with point-in-time recovery",
                "external": "an external server is backed up where it runs",
            }[self.database.provider]
            raise ConfigError(
                f"is true, but this program runs no database to back up: {elsewhere}",
                key="backup.enabled",
                fix="pulumi config rm --path 'backup.enabled'",
            )
        if backup.s3 and not (self.backs_up_database and self.s3.provider == "aws"):
            raise ConfigError(
                "copies dumps to the stack's bucket with a key that cannot delete, which only an AWS bucket "
                "this program creates allows (a Spaces key cannot be limited so, an external bucket is yours)",
                key="backup.s3",
                fix="pulumi config rm --path 'backup.s3'",
            )

    @property
    def backs_up_database(self) -> bool:
        """Whether the program schedules database dumps: by default wherever it runs the database."""
        if self.backup.enabled is None:
            return self.database.provider == "container"
        return self.backup.enabled

    @property
    def uses_s3(self) -> bool:
        """Whether an S3 datastore is rendered: it is in use, or it was and stays readable."""
        return self.s3.provider is not None
