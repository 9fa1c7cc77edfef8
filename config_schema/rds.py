"""``database.provider: aws``: an RDS instance for MMR, its names, its reachability, and MMR's role inside it.

Names follow RDS's rules as terraform-provider-aws checks them (internal/service/rds/instance.go at
00e4b23, ``ResourceInstance``: ``identifier`` and ``final_snapshot_identifier`` begin with a letter,
hold letters, digits and single hyphens, and do not end in one; ``backup_window`` is ``hh24:mi-hh24:mi``
and ``maintenance_window`` ``ddd:hh24:mi-ddd:hh24:mi``).
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator

from config_schema.common import ConfigModel
from config_schema.errors import ConfigError, ask_command

# The majors RDS for PostgreSQL offers new instances of, and that MMR's migrations run on.
RDS_POSTGRES_MAJORS = ("14", "15", "16", "17")
ADMIN_USER = "mmr_admin"
_WINDOW_TIME = r"([01]\d|2[0-3]):[0-5]\d"
_DAY = r"(mon|tue|wed|thu|fri|sat|sun)"
_BACKUP_WINDOW = re.compile(rf"^{_WINDOW_TIME}-{_WINDOW_TIME}$")
_MAINTENANCE_WINDOW = re.compile(rf"^{_DAY}:{_WINDOW_TIME}-{_DAY}:{_WINDOW_TIME}$")
_INSTANCE_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")

# Memory in GiB of the classes a small deployment picks; RDS's default max_connections is
# LEAST({DBInstanceClassMemory/9531392}, 5000) (AWS, "Quotas and constraints for Amazon RDS",
# Maximum number of database connections). DBInstanceClassMemory is what is left after the OS and
# RDS's own processes, less than the class's memory, so the limit computed from it is an upper bound.
CLASS_MEMORY_GIB: dict[str, float] = {
    **{f"db.{family}.micro": 1 for family in ("t3", "t4g")},
    **{f"db.{family}.small": 2 for family in ("t3", "t4g")},
    **{f"db.{family}.medium": 4 for family in ("t3", "t4g")},
    **{f"db.{family}.large": 8 for family in ("t3", "t4g", "m5", "m6g", "m6i", "m7g")},
    **{f"db.{family}.xlarge": 16 for family in ("t3", "t4g", "m5", "m6g", "m6i", "m7g")},
    **{f"db.{family}.2xlarge": 32 for family in ("t3", "t4g", "m5", "m6g", "m6i", "m7g")},
    **{f"db.{family}.large": 16 for family in ("r5", "r6g", "r6i", "r7g")},
    **{f"db.{family}.xlarge": 32 for family in ("r5", "r6g", "r6i", "r7g")},
}
# RDS keeps connections for its superusers (superuser_reserved_connections 3, rds.rds_superuser_reserved 2).
RESERVED_CONNECTIONS = 5


class AwsDatabase(ConfigModel):
    """``database.aws.*``: the RDS instance's size, storage, backups and network."""

    instance_class: str = "db.t4g.micro"
    allocated_storage_gb: int = Field(default=20, ge=20, le=65536)
    # Storage autoscaling grows the volume up to this; RDS never shrinks it.
    max_allocated_storage_gb: int = Field(default=100, ge=20, le=65536)
    backup_retention_days: int = Field(default=7, ge=7, le=35)
    backup_window: str = "02:00-02:30"
    maintenance_window: str = "sun:03:00-sun:04:00"
    multi_az: bool = False
    performance_insights: bool = False
    # Empty: the region's default VPC and its subnets.
    subnet_ids: list[str] = Field(default_factory=list)
    # Only for a Docker host outside the VPC: the instance gets a public address, and the security
    # group admits database.trustedSources, never the world.
    publicly_accessible: bool = False

    @field_validator("instance_class")
    @classmethod
    def _class(cls, value: str) -> str:
        if not _INSTANCE_CLASS.match(value):
            raise ConfigError(f"{value!r} is not an RDS instance class such as db.t4g.micro")
        return value

    @field_validator("backup_window")
    @classmethod
    def _backup_window(cls, value: str) -> str:
        if not _BACKUP_WINDOW.match(value):
            raise ConfigError(f"{value!r} is not a daily window in UTC such as 02:00-02:30 (hh24:mi-hh24:mi)")
        return value

    @field_validator("maintenance_window")
    @classmethod
    def _maintenance_window(cls, value: str) -> str:
        value = value.lower()
        if not _MAINTENANCE_WINDOW.match(value):
            raise ConfigError(f"{value!r} is not a weekly window in UTC such as sun:03:00-sun:04:00")
        return value

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, value: list[str]) -> list[str]:
        for index, subnet in enumerate(value):
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", subnet):
                raise ConfigError(f"{subnet!r} is not a subnet id such as subnet-0a1b2c3d", key=f"[{index}]")
        if len(value) == 1:
            raise ConfigError(
                "names one subnet; an RDS subnet group needs two, in different availability zones",
                fix=ask_command("database.aws.subnetIds[1]"),
            )
        return value


def rds_name(stack_name: str, suffix: str = "") -> str:
    """A name RDS accepts for an instance or snapshot: a letter first, letters, digits, single hyphens."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", f"{stack_name}{suffix}").strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name[:1].isalpha():
        name = f"mmr-{name}"
    return name[:63].rstrip("-")


def world_wide(cidr: str) -> bool:
    """Whether an ip_addr trusted source admits most of the Internet: /0, or any prefix shorter than /8."""
    network = ipaddress.ip_network(cidr, strict=False)
    return network.prefixlen < (8 if network.version == 4 else 16)


def connection_limit(instance_class: str) -> int | None:
    """MMR's share of the instance's default max_connections, where the class is known; None otherwise."""
    gib = CLASS_MEMORY_GIB.get(instance_class)
    if gib is None:
        return None
    return min(int(gib * 2**30) // 9531392, 5000) - RESERVED_CONNECTIONS


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def grant_script(role: str, password: str, database: str) -> str:
    """SQL that gives MMR a role of its own and a database it owns, as RDS's admin (not a superuser) may.

    Run by psql with ON_ERROR_STOP, as often as the one-shot reruns: each step is a no-op once done, and
    the password is set again. RDS's admin is no superuser: it may CREATE DATABASE ... OWNER a role only
    as a member of that role (PostgreSQL 16 and later: with SET), which it grants itself (it created the
    role, so it holds ADMIN on it). Owning its database, MMR owns its public schema too (15 and later:
    ``pg_database_owner``), so its migrations need no further GRANT. Other roles may not connect.
    """
    role_literal, role_name, database_name = _literal(role), _identifier(role), _identifier(database)
    return "\n".join(
        [
            f"SELECT 'CREATE ROLE {role_name} LOGIN' WHERE NOT EXISTS "
            f"(SELECT FROM pg_roles WHERE rolname = {role_literal})\\gexec",
            f"ALTER ROLE {role_name} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD {_literal(password)};",
            f"GRANT {role_name} TO CURRENT_USER;",
            f"SELECT 'CREATE DATABASE {database_name} OWNER {role_name}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = {_literal(database)})\\gexec",
            f"ALTER DATABASE {database_name} OWNER TO {role_name};",
            f"REVOKE ALL ON DATABASE {database_name} FROM PUBLIC;",
            "",
        ]
    )


def restore_command(identifier: str, subnet_group: str, security_group: str) -> str:
    """Point-in-time restore to a new instance beside this one; the stack then adopts it by identifier."""
    return (
        f"aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier {identifier} "
        f"--target-db-instance-identifier {identifier}-restored --restore-time <UTC time, 2026-01-31T23:00:00Z> "
        f"--db-subnet-group-name {subnet_group} --vpc-security-group-ids {security_group} --deletion-protection "
        f"--copy-tags-to-snapshot"
    )
