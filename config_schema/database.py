"""MMR's Postgres: a container beside it, a managed DigitalOcean cluster, or a server that exists."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config_schema.common import ConfigModel
from config_schema.dsn import DsnError, parse_dsn, redacted
from config_schema.errors import ConfigError, set_command
from config_schema.images import POSTGRES_IMAGES, check_pinned_image

EXAMPLE_DSN = "'postgres://mediarepo:correct-horse@db.example.org:5432/mediarepo?sslmode=require'"
# Re-encodes the stored DSN in place: the password is read back, never printed (config_schema/dsn.py's main).
REENCODE_DSN_FIX = (
    "pulumi config set --secret --path 'database.dsn' "
    "\"$(pulumi config get --path 'database.dsn' | python3 config_schema/dsn.py)\""
)

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
                    fix=set_command("database.dsn", EXAMPLE_DSN, secret=True),
                )
            _check_dsn(self.dsn)
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


# Postgres's defaults: max_connections 100, of which superuser_reserved_connections 3 are not MMR's.
CONTAINER_CONNECTION_LIMIT = 100 - 3
# DigitalOcean gives a PostgreSQL node 25 connections per GiB of RAM and keeps 3 for maintenance
# (its "How to Manage Connection Pools" page: 22 on the 1 GiB node).
_SIZE_GIB = re.compile(r"-(\d+)gb$")


def connection_limit(database: Database) -> int | None:
    """How many connections MMR's user may open, where this program knows it; None for an external server."""
    if database.provider == "container":
        return CONTAINER_CONNECTION_LIMIT
    if database.provider == "digitalocean":
        match = _SIZE_GIB.search(database.size)
        return 25 * int(match.group(1)) - 3 if match else None
    return None


def connection_warning(database: Database, processes: int) -> str | None:
    """A warning when MMR's processes, each with a full pool, could open more connections than Postgres allows."""
    limit = connection_limit(database)
    wanted = processes * database.max_connections
    if limit is None or wanted <= limit:
        return None
    fitting = max(1, limit // processes)
    return (
        f"matrix-media-repo:database.maxConnections is {database.max_connections}, so {processes} MMR "
        f"process{'es' if processes > 1 else ''} may open {wanted} connections, but the database allows {limit}; "
        f"under load the rest fail with 'too many clients'. Fix: pulumi config set --path "
        f"database.maxConnections {fitting}"
        + (" (or a larger database.size)" if database.provider == "digitalocean" else "")
    )


def _check_dsn(dsn: str) -> None:
    """Refuses what lib/pq would refuse or misread, naming the part and never the password."""
    try:
        parse_dsn(dsn)
    except DsnError as problem:
        shown = redacted(dsn)
        raise ConfigError(
            f"is not a URL MMR's driver (lib/pq) reads: {problem.part}: {problem.message}"
            + (f" (in {shown})" if shown else ""),
            key="dsn",
            fix=REENCODE_DSN_FIX if problem.encode_userinfo else set_command("database.dsn", EXAMPLE_DSN, secret=True),
        ) from None
