"""The stack config contract: what an operator may set with ``pulumi config set``.

Field names are snake_case in Python and camelCase in the stack file
(``maxConnections``), exactly as the README lists them. Unknown keys are
rejected so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, field_validator, model_validator

from config_schema.backup import Backup, check_backup
from config_schema.common import ConfigModel, is_bare_server_name
from config_schema.database import Database
from config_schema.docker_host import DockerHost, containers_memory_mib
from config_schema.errors import ConfigError, ask_command, set_value
from config_schema.federation import Federation
from config_schema.fixes import choice_command, nearest
from config_schema.homeserver import Homeserver
from config_schema.host import Host, check_host
from config_schema.images import DEFAULT_IMAGE, check_pinned_image
from config_schema.kubernetes import DOCKER_ONLY_KEYS, Kubernetes, check_kubernetes, max_processes
from config_schema.operations import (
    Downloads,
    MediaImport,
    Proxy,
    Redis,
    Repo,
    SharedSecretAuth,
    SmokeTest,
    Thumbnails,
    Uploads,
    UrlPreviews,
)
from config_schema.storage import S3, Datastores, S3Provider

_MATRIX_USER = re.compile(r"^@([a-z0-9._=\-/+]+):(.+)$")


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


class Metrics(ConfigModel):
    enabled: bool = False
    port: Port = 9000
    bind_address: BindAddress = "127.0.0.1"


class AccessTokens(ConfigModel):
    # Unset: 43200 where one MMR process runs, 0 where several do (StackConfig.token_cache_seconds).
    max_cache_time_seconds: int | None = Field(default=None, ge=0)


class Http(ConfigModel):
    bind_address: BindAddress = "127.0.0.1"
    port: Port = 8000


class StackConfig(ConfigModel):
    """Everything under ``matrix-media-repo:`` in a ``Pulumi.<stack>.yaml``."""

    homeservers: list[Homeserver]
    # Where MMR runs: one container on a Docker host, or many processes on Kubernetes.
    platform: Literal["docker", "kubernetes"] = "docker"
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
    smoke_test: SmokeTest = Field(default_factory=SmokeTest)
    uploads: Uploads = Field(default_factory=Uploads)
    downloads: Downloads = Field(default_factory=Downloads)
    url_previews: UrlPreviews = Field(default_factory=UrlPreviews)
    federation: Federation = Field(default_factory=Federation)
    repo: Repo = Field(default_factory=Repo)
    thumbnails: Thumbnails = Field(default_factory=Thumbnails)
    docker: DockerHost = Field(default_factory=DockerHost)
    backup: Backup = Field(default_factory=Backup)
    kubernetes: Kubernetes = Field(default_factory=Kubernetes)
    # The Docker host the program makes (host.provider); unset, it deploys to the engine docker:host names.
    host: Host = Field(default_factory=Host)

    @field_validator("homeservers")
    @classmethod
    def _at_least_one(cls, value: list[Homeserver]) -> list[Homeserver]:
        if not value:
            raise ConfigError(
                "needs at least one homeserver: MMR answers only requests for a configured server name",
                fix=f"{ask_command('homeservers[0].name')} && {ask_command('homeservers[0].csApi')}",
            )
        return value

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        return check_pinned_image(value, "image")

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        seen: dict[str, int] = {}
        folded: dict[str, int] = {}
        for index, homeserver in enumerate(self.homeservers):
            # DNS names are case-insensitive: a proxy, a client or federation may send either spelling.
            if homeserver.name.lower() in folded:
                first = folded[homeserver.name.lower()]
                raise ConfigError(
                    f"{homeserver.name!r} is listed twice (also homeservers[{first}], "
                    f"{self.homeservers[first].name!r}; server names do not differ by case)",
                    key=f"homeservers[{index}].name",
                    fix=f"pulumi config rm --path 'homeservers[{index}]'",
                )
            seen[homeserver.name] = folded[homeserver.name.lower()] = index
        for index, admin in enumerate(self.admins):
            match = _MATRIX_USER.match(admin)
            if not match:
                raise ConfigError(
                    f"{admin!r} is not a Matrix user ID such as @alice:{self.homeservers[0].name}",
                    key=f"admins[{index}]",
                    corrected=self._user_id(admin),
                )
            if match.group(2) not in seen:
                server = nearest(match.group(2), list(seen))
                raise ConfigError(
                    f"{admin!r} is on {match.group(2)!r}, which is not among the homeservers ({', '.join(seen)})",
                    key=f"admins[{index}]",
                    corrected=f"@{match.group(1)}:{server}" if server else None,
                )
        if self.metrics.enabled and self.metrics.port == self.http.port:
            # MMR listens on both inside one container, so they cannot share a port.
            raise ConfigError(f"is {self.metrics.port}, the same as http.port", key="metrics.port")
        if self.media_import and self.media_import.server_name not in seen:
            raise ConfigError(
                f"{self.media_import.server_name!r} is not among the homeservers ({', '.join(seen)}): "
                "MMR would not serve the imported media",
                key="import.serverName",
                corrected=nearest(self.media_import.server_name, list(seen)),
                fix=None
                if nearest(self.media_import.server_name, list(seen))
                else choice_command("import.serverName", list(seen), unset_valid=False),
            )
        hosts: dict[str, int] = {}
        for index, homeserver in enumerate(self.homeservers):
            if homeserver.proxied_host in hosts:
                raise ConfigError(
                    f"{homeserver.proxied_host!r} is also homeservers[{hosts[homeserver.proxied_host]}]'s public "
                    "host: a proxy could not tell their media apart",
                    key=f"homeservers[{index}].publicHost",
                    # Only the operator knows where this one's proxy is.
                    fix=ask_command(f"homeservers[{index}].publicHost"),
                )
            hosts[homeserver.proxied_host] = index
        if self.redis.shards and not self.redis.enabled:
            raise ConfigError(
                "lists Redis servers, but redis.enabled is false",
                key="redis.enabled",
                fix=set_value("redis.enabled", True),
            )
        check_pinned_image(self.redis.image, "redis.image")
        self._check_backup()
        self._check_platform()
        managed = self.database.provider == "digitalocean"
        if managed and not self.database.trusted_sources and self.host.provider != "digitalocean":
            raise ConfigError(
                "is empty: the managed cluster's firewall would admit no one, MMR included; name the Docker "
                "host (type ip_addr and its public IP, or droplet and its id; also k8s, tag, app), or have the "
                "program make the host, which the firewall then admits (host.provider digitalocean)",
                key="database.trustedSources",
                fix=f"{ask_command('database.trustedSources[0].type')} && "
                f"{ask_command('database.trustedSources[0].value')}",
            )
        check_host(
            self.host,
            platform=self.platform,
            docker_networks=self.docker.networks,
            memory_need_mib=containers_memory_mib(
                self.docker,
                self.thumbnails,
                postgres=self.database.provider == "container",
                redis=self.redis.enabled and not self.redis.shards,
                backup=self.backs_up_database,
                media_import=self.media_import is not None,
            ),
        )
        if self.datastores.s3.for_kinds and self.s3.provider is None:
            raise ConfigError(
                "is not set, but datastores.s3.forKinds sends media to S3: aws, digitalocean or external",
                key="s3.provider",
                fix=choice_command("s3.provider", get_args(S3Provider), unset_valid=False),
            )
        return self

    def _user_id(self, typed: str) -> str | None:
        """The user ID ``typed`` certainly is: '@' added, or a bare name on the stack's only homeserver."""
        with_at = typed if typed.startswith("@") else f"@{typed}"
        if (match := _MATRIX_USER.match(with_at)) and is_bare_server_name(match.group(2)):
            return with_at
        local = typed.removeprefix("@")
        if len(self.homeservers) == 1 and re.fullmatch(r"[a-z0-9._=\-/+]+", local):
            return f"@{local}:{self.homeservers[0].name}"
        return None

    def _check_platform(self) -> None:
        if self.platform == "docker":
            if "kubernetes" in self.model_fields_set:
                raise ConfigError(
                    "is set, but this stack's platform is docker, and only a Kubernetes stack reads it (to move "
                    "the stack onto Kubernetes instead: pulumi config set platform kubernetes)",
                    key="kubernetes",
                    fix="pulumi config rm kubernetes",
                )
            return
        for key, what in DOCKER_ONLY_KEYS:
            if key in self.model_fields_set:
                raise ConfigError(
                    f"sets {what}, which a Kubernetes stack has no use for",
                    key=key,
                    fix=f"pulumi config rm {key}",
                )
        if "bind_address" in self.metrics.model_fields_set:
            raise ConfigError(
                "is an address on the Docker host; on Kubernetes the pod's metrics port is scraped",
                key="metrics.bindAddress",
                fix="pulumi config rm --path 'metrics.bindAddress'",
            )
        check_kubernetes(
            self.kubernetes,
            media_import=self.media_import,
            file_kinds=self.datastores.file_kinds,
            transferring=self.datastores.file.transfer_to is not None,
            redis=self.redis,
            metrics_enabled=self.metrics.enabled,
        )
        private_rds = self.database.provider == "aws" and not self.database.aws.publicly_accessible
        if private_rds and not self.kubernetes.network_policy.egress_cidrs:
            raise ConfigError(
                "is empty, but the RDS instance is private in its VPC, and the egress policy closes private "
                "addresses to MMR: give the VPC's CIDR (the default VPC's is 172.31.0.0/16)",
                key="kubernetes.networkPolicy.egressCidrs",
                fix=ask_command("kubernetes.networkPolicy.egressCidrs[0]"),
            )

    def _check_backup(self) -> None:
        check_backup(
            self.backup,
            platform=self.platform,
            database_provider=self.database.provider,
            s3_provider=self.s3.provider,
            backs_up_database=self.backs_up_database,
        )

    @property
    def backs_up_database(self) -> bool:
        """Whether the program schedules database dumps: by default wherever it runs the database."""
        if self.backup.enabled is None:
            return self.database.provider == "container"
        return self.backup.enabled

    def with_host_defaults(self) -> StackConfig:
        """The stack as it runs on a host the program makes: MMR's port open beyond loopback, unless set.

        The droplet's firewall (host.mediaRepoSources) decides who reaches it; on a host someone else made,
        127.0.0.1 behind a local reverse proxy stays the default.
        """
        if self.host.provider is None or "bind_address" in self.http.model_fields_set:
            return self
        return self.model_copy(update={"http": self.http.model_copy(update={"bind_address": "0.0.0.0"})})

    @property
    def processes(self) -> int:
        """How many MMR processes may serve at once: one on a Docker host, up to the autoscaler's maximum."""
        return max_processes(self.kubernetes) if self.platform == "kubernetes" else 1

    def with_platform_defaults(self) -> StackConfig:
        """The stack as it runs on its platform: on Kubernetes, Redis on whenever more than one process may run.

        ``redis.enabled`` defaults to false for the one container on a Docker host; set to false
        explicitly with several processes, it is refused by ``check_kubernetes``.
        """
        if self.redis.enabled or self.processes == 1:
            return self
        return self.model_copy(update={"redis": self.redis.model_copy(update={"enabled": True})})

    @property
    def token_cache_seconds(self) -> int:
        """How long MMR trusts a cached access token.

        The cache lives in each process (api/_auth_cache/auth_cache.go at 84bcb70) and a logout clears
        it only in the process that saw it, so with several processes a revoked token would keep working
        at the others: the default is then upstream's own, 0 (common/config/conf_min_shared.go line 49).
        """
        explicit = self.access_tokens.max_cache_time_seconds
        if explicit is not None:
            return explicit
        return 0 if self.processes > 1 else 43200

    @property
    def uses_shared_secret(self) -> bool:
        """Whether MMR gets a repo-admin token: asked for, or needed by the smoke test or the transfer."""
        return (
            self.shared_secret_auth.enabled or self.smoke_test.enabled or self.datastores.file.transfer_to is not None
        )

    @property
    def uses_s3(self) -> bool:
        """Whether an S3 datastore is rendered: it is in use, or it was and stays readable."""
        return self.s3.provider is not None
