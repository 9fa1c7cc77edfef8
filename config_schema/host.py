"""The Docker host the program makes itself: ``host.provider: digitalocean`` (absent: a host someone else made).

The droplet's memory must hold every container's limit at once (docker.memory.*, which the containers are
started with) and what the system itself needs; a size too small is refused before anything is created.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from config_schema.common import ConfigModel
from config_schema.errors import ConfigError, ask_command, set_value
from config_schema.fixes import nearest

# Debian 12, whose docker.io (20.10, Engine API 1.41) the program deploys to (components/docker/engine_api.py).
DEFAULT_IMAGE = "debian-12-x64"
DEFAULT_SIZE = "s-2vcpu-4gb"
DEFAULT_REGION = "ams3"
# dockerd, containerd, sshd, journald and the kernel's own, beside the containers' limits.
SYSTEM_MIB = 512
# Memory in MiB of DigitalOcean's Basic sizes, as DigitalOcean's pricing page lists them (read 2026; not measured
# here: no DigitalOcean account reaches this machine).
DROPLET_SIZES: dict[str, int] = {
    "s-1vcpu-512mb-10gb": 512,
    "s-1vcpu-1gb": 1024,
    "s-1vcpu-2gb": 2048,
    "s-2vcpu-2gb": 2048,
    "s-2vcpu-4gb": 4096,
    "s-4vcpu-8gb": 8192,
    "s-8vcpu-16gb": 16384,
}
# Block storage is offered in these regions only (DigitalOcean's "Regional Availability" page, read 2026);
# nyc2, ams2 and sfo1 take droplets but no volumes.
VOLUME_REGIONS = ("ams3", "atl1", "blr1", "fra1", "lon1", "nyc1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1")
REGIONS_WITHOUT_VOLUMES = ("ams2", "nyc2", "sfo1")
# The size in a slug: s-2vcpu-4gb, g-2vcpu-8gb, m-4vcpu-32gb, s-1vcpu-512mb-10gb (the last part is the disk).
_SLUG_MEMORY = re.compile(r"-\d+vcpu-(\d+)(mb|gb)\b")
_OPEN_TO_ALL = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def _cidr(value: str, *, allow_everyone: bool) -> str:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ConfigError(f"{value!r} is not an address or CIDR range such as 203.0.113.7/32") from None
    if network in _OPEN_TO_ALL and not allow_everyone:
        raise ConfigError(
            f"is {value}, every address on the internet: the Docker API on 2376 and SSH would be open to anyone "
            "holding a key; give the addresses you administer from, such as 203.0.113.7/32"
        )
    if str(network) != value and "/" in value:
        # 10.0.0.1/8 means the network 10.0.0.0/8: DigitalOcean's firewall takes only the latter.
        raise ConfigError(f"{value!r} has host bits set; the network is {network}", corrected=str(network))
    return str(network)


class Host(ConfigModel):
    provider: Literal["digitalocean"] | None = None
    # Unset: the Space's region (s3.region) when the media is on DigitalOcean, else ams3.
    region: str | None = None
    size: str = DEFAULT_SIZE
    image: str = DEFAULT_IMAGE
    # The volume that holds Docker's data root: media, Postgres, backups. Grows in place; never shrinks.
    volume_size_gib: int = Field(default=50, ge=1, le=16384)
    # Who may reach SSH (22) and the Docker API (2376).
    admin_cidrs: list[str] = Field(default_factory=list)
    # Who may reach MMR's port (http.port). Empty: the droplet's own VPC, where a reverse proxy would run.
    media_repo_sources: list[str] = Field(default_factory=list)

    @field_validator("admin_cidrs")
    @classmethod
    def _admin(cls, value: list[str]) -> list[str]:
        for index, cidr in enumerate(value):
            try:
                _cidr(cidr, allow_everyone=False)
            except ConfigError as error:
                raise ConfigError(
                    error.message,
                    key=f"host.adminCidrs[{index}]",
                    corrected=error.corrected,
                    fix=None if error.corrected else ask_command(f"host.adminCidrs[{index}]"),
                ) from None
        return value

    @field_validator("media_repo_sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        for index, cidr in enumerate(value):
            try:
                _cidr(cidr, allow_everyone=True)
            except ConfigError as error:
                key = f"host.mediaRepoSources[{index}]"
                raise ConfigError(error.message, key=key, corrected=error.corrected) from None
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None or value in VOLUME_REGIONS:
            return value
        if value in REGIONS_WITHOUT_VOLUMES:
            raise ConfigError(
                f"is {value}, where DigitalOcean offers no block storage, and the host keeps its data on a volume "
                f"(regions with volumes: {', '.join(VOLUME_REGIONS)})",
                fix=ask_command("host.region"),
            )
        raise ConfigError(
            f"{value!r} is not a DigitalOcean region with block storage ({', '.join(VOLUME_REGIONS)})",
            corrected=nearest(value, VOLUME_REGIONS),
        )

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if value in DROPLET_SIZES or _SLUG_MEMORY.search(value) or re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", value):
            return value
        raise ConfigError(
            f"{value!r} is not a droplet size slug such as {DEFAULT_SIZE} (`doctl compute size list`)",
            corrected=nearest(value, list(DROPLET_SIZES)),
        )


def droplet_memory_mib(size: str) -> int | None:
    """The memory of a size slug: from the table, else read from the slug; None when the slug does not say."""
    if size in DROPLET_SIZES:
        return DROPLET_SIZES[size]
    if match := _SLUG_MEMORY.search(size):
        return int(match.group(1)) * (1024 if match.group(2) == "gb" else 1)
    return None


def host_region(host: Host, s3_provider: str | None, s3_region: str | None) -> str:
    """Where the droplet goes: as set, else beside the Space, else ams3."""
    if host.region:
        return host.region
    if s3_provider == "digitalocean" and s3_region in VOLUME_REGIONS:
        return s3_region
    return DEFAULT_REGION


def check_host(host: Host, *, platform: str, docker_networks: list[str], memory_need_mib: int) -> None:
    """The checks that need the rest of the stack; raises ConfigError with a fix."""
    if host.provider is None:
        if host.model_fields_set - {"provider"}:
            raise ConfigError(
                "sets how to make a Docker host, but host.provider is not set, so the stack deploys to the engine "
                "docker:host names (to have the program make the host: pulumi config set --path host.provider "
                "digitalocean)",
                key="host",
                fix="pulumi config rm host",
            )
        return
    if platform != "docker":
        raise ConfigError(
            f"makes a Docker host, but this stack's platform is {platform}",
            key="host.provider",
            fix="pulumi config rm --path host.provider",
        )
    if not host.admin_cidrs:
        raise ConfigError(
            "is empty: nobody could reach the new host's SSH and Docker API, this program included; give the "
            "addresses you run `pulumi up` from, such as 203.0.113.7/32",
            key="host.adminCidrs",
            fix=ask_command("host.adminCidrs[0]"),
        )
    if docker_networks:
        raise ConfigError(
            "lists networks of an existing Docker host, but host.provider makes a new one, where they do not exist",
            key="docker.networks",
            fix="pulumi config rm --path docker.networks",
        )
    memory = droplet_memory_mib(host.size)
    needed = memory_need_mib + SYSTEM_MIB
    if memory is not None and memory < needed:
        fitting = next((size for size, mib in DROPLET_SIZES.items() if mib >= needed), None)
        raise ConfigError(
            f"is {host.size}, {memory} MiB, but the containers' memory limits (docker.memory) add up to "
            f"{memory_need_mib} MiB and the system needs {SYSTEM_MIB} more",
            key="host.size",
            fix=set_value("host.size", fitting) if fitting else ask_command("host.size"),
        )
