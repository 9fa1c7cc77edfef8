"""Settings that only mean something where MMR runs on a Docker host: networks, logs, memory, the watchdog."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from config_schema.common import ConfigModel
from config_schema.errors import ConfigError
from config_schema.operations import Thumbnails

# The characters Docker allows in object names (moby daemon/names/names.go:6 at v20.10.24); Compose's
# default networks (`synapse_default`) fit.
_NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# What MMR holds besides thumbnails: its heap at rest (33-35 MiB idle), caches, and every upload and download
# in flight (16 uploads of 50 MiB at once peaked at 366 MiB with s3.tempPath on disk).
MEDIA_REPO_BASE_MIB = 768


class Logs(ConfigModel):
    # json-file keeps `docker logs` working and rotates at max-size, keeping max-file files
    # (moby daemon/logger/jsonfilelog); local does the same in a compressed format; journald hands the
    # lines to the host's journal, which rotates by its own settings.
    driver: Literal["json-file", "local", "journald"] = "json-file"
    max_size: str = "10m"
    max_files: int = Field(default=5, ge=1, le=100)

    @field_validator("max_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*[kmg]", value):
            folded = value.strip().lower()
            raise ConfigError(
                f"{value!r} is not a size Docker's log drivers read, such as 10m or 1g",
                corrected=folded if re.fullmatch(r"[1-9][0-9]*[kmg]", folded) else None,
            )
        return value

    def options(self) -> dict[str, str]:
        """The driver's log-opts: rotation for the file drivers, the container's name for journald."""
        if self.driver == "journald":
            return {"tag": "{{.Name}}"}
        return {"max-size": self.max_size, "max-file": str(self.max_files)}


class Memory(ConfigModel):
    """Memory limits in MiB; swap is never granted on top (memory_swap = memory)."""

    # Unset: MEDIA_REPO_BASE_MIB plus what the thumbnailer may hold (see media_repo_mib).
    media_repo: int | None = Field(default=None, ge=128)
    postgres: int = Field(default=1024, ge=128)
    redis: int = Field(default=512, ge=64)
    backup: int = Field(default=512, ge=64)


class Watchdog(ConfigModel):
    # Restart MMR when /healthz has failed this many checks in a row after it once answered (a minute by
    # default). A failed readiness check (Postgres or Redis unreachable) never counts.
    enabled: bool = True
    failures: int = Field(default=6, ge=1, le=100)
    # Between two health checks: Docker reports MMR unhealthy after two failed ones, so within about 25 s
    # of Postgres stopping at the default.
    interval_seconds: int = Field(default=10, ge=1, le=3600)


class DockerHost(ConfigModel):
    # Existing Docker networks that MMR and the importer join, so that names such as `synapse` or
    # `synapse-postgres` resolve: typically the network of the homeserver's Compose project.
    networks: list[str] = Field(default_factory=list)
    logs: Logs = Field(default_factory=Logs)
    memory: Memory = Field(default_factory=Memory)
    watchdog: Watchdog = Field(default_factory=Watchdog)

    @field_validator("networks")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for index, network in enumerate(value):
            if not _NETWORK_NAME.match(network):
                raise ConfigError(
                    f"{network!r} is not a Docker network name "
                    "(see `docker network ls`; letters, digits, '_', '.' and '-')",
                    key=f"[{index}]",
                )
            if network in value[:index]:
                raise ConfigError(
                    f"lists {network!r} again (also docker.networks[{value.index(network)}])",
                    key=f"[{index}]",
                    fix=f"pulumi config rm --path 'docker.networks[{index}]'",
                )
        return value


def media_repo_mib(docker_host: DockerHost, thumbnails: Thumbnails) -> int:
    """MMR's memory limit: as set, or its base plus the thumbnailer's peak, rounded up to 256 MiB."""
    if docker_host.memory.media_repo is not None:
        return docker_host.memory.media_repo
    return -(-(MEDIA_REPO_BASE_MIB + thumbnails.peak_mib) // 256) * 256


def go_memory_limit_mib(limit_mib: int) -> str:
    """GOMEMLIMIT a tenth below the limit, so Go's collector works harder before the kernel kills."""
    return f"{limit_mib * 9 // 10}MiB"


def containers_memory_mib(
    docker_host: DockerHost, thumbnails: Thumbnails, *, postgres: bool, redis: bool, backup: bool, media_import: bool
) -> int:
    """What the long-running containers may hold at once: the sum of their memory limits."""
    media_repo = media_repo_mib(docker_host, thumbnails)
    memory = docker_host.memory
    return (
        media_repo
        + (memory.postgres if postgres else 0)
        + (memory.redis if redis else 0)
        + (memory.backup if backup else 0)
        # The importer runs beside MMR with MMR's own limit.
        + (media_repo if media_import else 0)
    )
