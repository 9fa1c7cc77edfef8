"""MMR's Postgres: a container beside it, a managed DigitalOcean cluster or RDS instance, or a server that exists."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config_schema.common import ConfigModel
from config_schema.dsn import DsnError, parse_dsn, redacted
from config_schema.errors import ConfigError, ask_command, rm_command, set_value
from config_schema.fixes import choice_command
from config_schema.images import POSTGRES_IMAGES, check_pinned_image
from config_schema.rds import ADMIN_USER, RDS_POSTGRES_MAJORS, AwsDatabase, world_wide
from config_schema.rds import connection_limit as rds_connection_limit

# Re-encodes the stored DSN in place: the password is read back, never printed (config_schema/dsn.py's main).
REENCODE_DSN_FIX = (
    "pulumi config set --secret --path 'database.dsn' "
    "\"$(pulumi config get --path 'database.dsn' | python3 config_schema/dsn.py)\""
)

# DigitalOcean's firewall rule types, and on AWS a security group (sg-...) besides ip_addr.
TrustedSourceType = Literal["droplet", "ip_addr", "k8s", "tag", "app", "security_group"]
AWS_SOURCE_TYPES = ("ip_addr", "security_group")


class TrustedSource(ConfigModel):
    type: TrustedSourceType
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        # A droplet id typed with `pulumi config set --path` arrives as an integer.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Database(ConfigModel):
    provider: Literal["container", "digitalocean", "aws", "external"] = "container"
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
    # aws: the RDS instance (database.trustedSources as on DigitalOcean)
    aws: AwsDatabase = Field(default_factory=AwsDatabase)
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
                fix=self._idle_fix(),
            )
        if self.provider == "container" and self.image is None and self.postgres_version not in POSTGRES_IMAGES:
            raise ConfigError(
                f"{self.postgres_version!r} has no pinned image here (known: {', '.join(POSTGRES_IMAGES)}); "
                "or give database.image",
                key="postgresVersion",
                fix=choice_command("database.postgresVersion", list(POSTGRES_IMAGES), unset_valid=False),
            )
        if self.image is not None:
            check_pinned_image(self.image, "database.image")
        if self.provider == "digitalocean" and not re.match(r"^\d{2}$", self.postgres_version):
            raise ConfigError(
                f"{self.postgres_version!r} must be a Postgres major version such as 17", key="postgresVersion"
            )
        if self.provider == "aws":
            self._check_aws()
        elif "aws" in self.model_fields_set:
            raise ConfigError(
                f"is only read with database.provider aws (this stack's is {self.provider})",
                key="aws",
                fix="pulumi config rm --path 'database.aws'",
            )
        if self.provider == "digitalocean":
            for index, source in enumerate(self.trusted_sources):
                if source.type == "security_group":
                    raise ConfigError(
                        "is security_group, which only an AWS database reads (DigitalOcean's: droplet, ip_addr, "
                        "k8s, tag, app)",
                        key=f"trustedSources[{index}].type",
                        corrected=_source_type(source.value, ("droplet", "ip_addr", "k8s", "tag", "app")),
                    )
        if self.provider == "external":
            if not self.dsn:
                raise ConfigError(
                    "is required with database.provider external, such as "
                    "postgres://mediarepo:PASSWORD@db.example.org:5432/mediarepo?sslmode=require",
                    key="dsn",
                    fix=ask_command("database.dsn"),
                )
            _check_dsn(self.dsn)
        elif self.dsn is not None:
            raise ConfigError(
                f"is only used with database.provider external (the {self.provider} provider builds its own)",
                key="dsn",
                fix="pulumi config rm --path 'database.dsn'",
            )
        return self

    def _idle_fix(self) -> str | None:
        """Unset, idle connections are 5; the default under a smaller pool is the pool. A value the operator
        set is theirs to change, unless the default fits."""
        if "max_idle_connections" not in self.model_fields_set:
            return set_value("database.maxIdleConnections", self.max_connections)
        return rm_command("database.maxIdleConnections") if self.max_connections >= 5 else None

    def _check_aws(self) -> None:
        if self.postgres_version not in RDS_POSTGRES_MAJORS:
            raise ConfigError(
                f"{self.postgres_version!r} is not a major RDS offers for PostgreSQL: {', '.join(RDS_POSTGRES_MAJORS)}",
                key="postgresVersion",
                fix=choice_command("database.postgresVersion", RDS_POSTGRES_MAJORS, unset_valid=False),
            )
        if self.user == ADMIN_USER:
            raise ConfigError(
                f"is {ADMIN_USER}, the RDS instance's admin, whom MMR must never connect as; unset, it is mediarepo",
                key="user",
                fix=rm_command("database.user"),
            )
        if self.aws.max_allocated_storage_gb < self.aws.allocated_storage_gb:
            raise ConfigError(
                f"is {self.aws.max_allocated_storage_gb}, less than database.aws.allocatedStorageGb "
                f"({self.aws.allocated_storage_gb}): storage autoscaling would have no room",
                key="aws.maxAllocatedStorageGb",
                # Unset, it is 100: the fix when that leaves room.
                fix=rm_command("database.aws.maxAllocatedStorageGb") if self.aws.allocated_storage_gb <= 100 else None,
            )
        for index, source in enumerate(self.trusted_sources):
            _check_aws_source(source, index)
        addresses = [source for source in self.trusted_sources if source.type == "ip_addr"]
        if self.aws.publicly_accessible and not addresses:
            # A new source after those there: its type is certain, its address (the Docker host's) only known to you.
            source = f"database.trustedSources[{len(self.trusted_sources)}]"
            raise ConfigError(
                "is true, but database.trustedSources names no address: a public instance must admit only the "
                "Docker host MMR runs on (its public IP)",
                key="aws.publiclyAccessible",
                fix=f"{set_value(f'{source}.type', 'ip_addr')} && {ask_command(f'{source}.value')}",
            )

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
    if database.provider == "aws":
        return rds_connection_limit(database.aws.instance_class)
    return None


def connection_warning(database: Database, processes: int) -> str | None:
    """A warning when MMR's processes, each with a full pool, could open more connections than Postgres allows."""
    limit = connection_limit(database)
    wanted = processes * database.max_connections
    if limit is None or wanted <= limit:
        return None
    fitting = max(1, limit // processes)
    larger = {"digitalocean": " (or a larger database.size)", "aws": " (or a larger database.aws.instanceClass)"}
    return (
        f"matrix-media-repo:database.maxConnections is {database.max_connections}, so {processes} MMR "
        f"process{'es' if processes > 1 else ''} may open {wanted} connections, but the database allows {limit}; "
        f"under load the rest fail with 'too many clients'{larger.get(database.provider, '')}. "
        f"Fix: {set_value('database.maxConnections', fitting)}"
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
            fix=REENCODE_DSN_FIX if problem.encode_userinfo else ask_command("database.dsn"),
        ) from None


def _source_type(value: str, types: tuple[str, ...]) -> str | None:
    """The rule type a trusted source's value shows it has, where that is certain and allowed: an address or
    range is ip_addr, sg-... a security group."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        kind = "security_group" if re.match(r"^sg-[0-9a-f]{8,17}$", value) else None
    else:
        kind = "ip_addr"
    return kind if kind in types else None


def _check_aws_source(source: TrustedSource, index: int) -> None:
    key = f"trustedSources[{index}]"
    if source.type not in AWS_SOURCE_TYPES:
        raise ConfigError(
            f"is {source.type}, a DigitalOcean rule type; an AWS security group admits ip_addr (an address or CIDR) "
            "or security_group (sg-...)",
            key=f"{key}.type",
            corrected=_source_type(source.value, AWS_SOURCE_TYPES),
        )
    if source.type == "security_group":
        if not re.match(r"^sg-[0-9a-f]{8,17}$", source.value):
            raise ConfigError(f"{source.value!r} is not a security group id such as sg-0a1b2c3d", key=f"{key}.value")
        return
    try:
        network = ipaddress.ip_network(source.value, strict=False)
    except ValueError:
        raise ConfigError(f"{source.value!r} is not an IP address or CIDR", key=f"{key}.value") from None
    if world_wide(str(network)):
        raise ConfigError(
            f"is {network}, which admits most of the Internet to the database; name the Docker host's address "
            "(or the cluster's CIDR)",
            key=f"{key}.value",
        )
