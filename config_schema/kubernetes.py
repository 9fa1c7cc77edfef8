"""The ``kubernetes.*`` keys, the machine ids of MMR's processes, and what a Kubernetes stack must get right.

MMR gives every process a snowflake machine id from ``MACHINE_ID`` (0-1023; unset or
not a number silently means 0: util/ids/snowflake.go and common/runtime/init.go at
v1.3.7), and machine 0 alone runs background tasks (tasks/schedule.go). So the plan
is fixed here, in one place the tests check: the primary is 0, the workers are
1..N by their StatefulSet ordinal, and the importer takes an id above every worker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from config_schema.common import ConfigModel
from config_schema.errors import ConfigError, ask_command, set_value
from config_schema.network_policy import NetworkPolicy
from config_schema.operations import MediaImport, Redis

# The highest id MMR's snowflake generator takes: 10 bits.
MAX_MACHINE_ID = 1023
# spec.ordinals.start (StatefulSetStartOrdinal: beta and on by default since 1.27) and the
# apps.kubernetes.io/pod-index label (PodIndexLabel: beta and on by default since 1.28).
MINIMUM_KUBERNETES_VERSION = "1.28"
MACHINE_ID_LABEL = "apps.kubernetes.io/pod-index"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


# Uploads in flight at once that the scratch space (kubernetes.tempSize) is sized for: each waits there
# whole before it goes to S3 (s3.tempPath).
UPLOAD_CONCURRENCY = 16
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity_bytes(quantity: str) -> int:
    """``2Gi`` -> 2147483648: a memory or storage quantity as the API server reads it."""
    match = _QUANTITY.match(quantity)
    if not match or match.group(2) == "m":
        raise ValueError(f"{quantity!r} is not a byte quantity")
    number = float(quantity[: len(quantity) - len(match.group(2) or "")])
    return int(number * _UNITS[match.group(2) or ""])


def go_memory_limit(memory_limit: str) -> str:
    """GOMEMLIMIT a tenth below the container's limit: Go's collector works harder before the kernel kills."""
    return str(quantity_bytes(memory_limit) * 9 // 10)


def _dns_label(value: str) -> str:
    if not _NAME.match(value) or len(value) > 63:
        folded = value.strip().lower()
        raise ConfigError(
            f"{value!r} is not a Kubernetes name (lower-case letters, digits and '-')",
            corrected=folded if _NAME.match(folded) and len(folded) <= 63 else None,
        )
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ConfigError(f"{value!r} is not a Kubernetes quantity such as 512Mi, 2Gi or 250m")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Quantity = Annotated[str, AfterValidator(_quantity)]


class Ingress(ConfigModel):
    # Unset: no Ingress; MMR's Service is there for a proxy the operator runs.
    class_name: str | None = None
    # The one controller whose annotations this program writes (upstream-vhost, proxy-body-size).
    controller: Literal["ingress-nginx"] = "ingress-nginx"
    # The namespace the controller's pods run in: the only one the NetworkPolicy admits to MMR.
    controller_namespace: DnsLabel = "ingress-nginx"
    # A cert-manager ClusterIssuer: set, each host gets a certificate in a Secret of its own.
    cluster_issuer: str | None = None


class Resources(ConfigModel):
    cpu_request: Quantity = "250m"
    memory_request: Quantity = "512Mi"
    memory_limit: Quantity = "2Gi"


class Autoscaling(ConfigModel):
    enabled: bool = False
    # Processes at most, machine 0 included; the workers' autoscaler gets this minus one.
    max_replicas: int = Field(default=8, ge=2, le=MAX_MACHINE_ID + 1)
    target_cpu_percent: int = Field(default=75, ge=1, le=100)


class MediaVolume(ConfigModel):
    """The volume of the file datastore, shared by every process that writes media to it."""

    storage_class: str | None = None
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteOnce"
    size: Quantity = "50Gi"


class PostgresVolume(ConfigModel):
    storage_class: str | None = None
    size: Quantity = "20Gi"


class Kubernetes(ConfigModel):
    namespace: DnsLabel = "matrix-media-repo"
    # false when the namespace exists: the provider refuses to adopt an existing object (pulumi-kubernetes 4.29).
    create_namespace: bool = True
    replicas: int = Field(default=2, ge=1, le=MAX_MACHINE_ID + 1)
    ingress: Ingress = Field(default_factory=Ingress)
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    media_volume: MediaVolume = Field(default_factory=MediaVolume)
    postgres_volume: PostgresVolume = Field(default_factory=PostgresVolume)
    # The dumps of the in-cluster Postgres (backup.*), on a PVC of their own.
    backup_volume: PostgresVolume = Field(default_factory=PostgresVolume)
    # MMR's temp dir (uploads in flight, archives): an emptyDir; a pod past it is evicted.
    temp_size: Quantity = "4Gi"
    # Redis's maxmemory, as Redis reads it: upstream's cache docs ask for at least 1 GB per shard.
    redis_max_memory: str = "1gb"
    # How many Redis shards the program starts (with redis.enabled and no redis.shards): MMR needs a majority
    # for its upload locks, so three survive the loss of one and one does not (upstream #350).
    redis_shards: int = Field(default=3, ge=1, le=9)
    pod_monitor: bool = False
    # How long a stopping MMR pod keeps serving what it has, after it left the Service's endpoints and before
    # MMR itself is told to stop; MMR then gives open requests 5 s (api/webserver.go lines 73-80 at 84bcb70).
    drain_seconds: int = Field(default=30, ge=0, le=3600)
    # The longest a backup (or a restore) Job may run before it is ended: a hung pg_dump blocks the next.
    backup_deadline_seconds: int = Field(default=10800, ge=300)
    network_policy: NetworkPolicy = Field(default_factory=NetworkPolicy)

    @field_validator("redis_max_memory")
    @classmethod
    def _redis_memory(cls, value: str) -> str:
        if not re.match(r"^[0-9]+(b|kb|mb|gb)?$", value, re.IGNORECASE):
            raise ConfigError(f"{value!r} is not a Redis memory size such as 256mb or 1gb")
        return value


@dataclass(frozen=True)
class MachineIds:
    """Which process is which machine; every id MMR may ever see on this stack."""

    primary: int
    # Ordinals of the workers at their maximum scale: 1..max_workers.
    max_workers: int
    importer: int | None

    @property
    def workers(self) -> range:
        return range(1, self.max_workers + 1)

    @property
    def all_ids(self) -> list[int]:
        return [self.primary, *self.workers, *([self.importer] if self.importer is not None else [])]


def max_workers(settings: Kubernetes) -> int:
    """Workers at the largest scale: processes beyond machine 0."""
    most = (
        max(settings.replicas, settings.autoscaling.max_replicas) if settings.autoscaling.enabled else settings.replicas
    )
    return most - 1


def max_processes(settings: Kubernetes) -> int:
    return max_workers(settings) + 1


def machine_ids(settings: Kubernetes, media_import: MediaImport | None) -> MachineIds:
    importer = None
    if media_import:
        explicit = "machine_id" in media_import.model_fields_set
        importer = media_import.machine_id if explicit else MAX_MACHINE_ID
    return MachineIds(primary=0, max_workers=max_workers(settings), importer=importer)


def check_kubernetes(
    kubernetes: Kubernetes,
    *,
    media_import: MediaImport | None,
    file_kinds: Sequence[str],
    redis: Redis,
    transferring: bool = False,
    metrics_enabled: bool,
) -> None:
    """What a Kubernetes stack must get right beyond each key's own type, given the sections it depends on.

    Raises ``ConfigError``. The sections are passed one by one so that this model need not know the stack's.
    """
    processes = max_processes(kubernetes)
    if kubernetes.autoscaling.enabled and kubernetes.replicas < 2:
        raise ConfigError(
            "is true, but kubernetes.replicas is 1: the autoscaler scales the workers, and there are none; "
            "unset, kubernetes.replicas is 2",
            key="kubernetes.autoscaling.enabled",
            fix="pulumi config rm --path 'kubernetes.replicas'",
        )
    if kubernetes.autoscaling.enabled and kubernetes.autoscaling.max_replicas < kubernetes.replicas:
        default = Autoscaling.model_fields["max_replicas"].default
        raise ConfigError(
            f"is {kubernetes.autoscaling.max_replicas}, fewer than kubernetes.replicas ({kubernetes.replicas})",
            key="kubernetes.autoscaling.maxReplicas",
            # Unset, it is 8: the fix when that is room enough.
            fix="pulumi config rm --path 'kubernetes.autoscaling.maxReplicas'"
            if kubernetes.replicas <= default
            else None,
        )
    ids = machine_ids(kubernetes, media_import)
    if ids.importer is not None and ids.max_workers >= MAX_MACHINE_ID:
        raise ConfigError(
            f"allows {processes} processes, which take every machine id MMR has; the importer needs one more "
            f"(at most {MAX_MACHINE_ID} processes with an import)",
            key="kubernetes.autoscaling.maxReplicas" if kubernetes.autoscaling.enabled else "kubernetes.replicas",
        )
    if ids.importer is not None and ids.importer in ids.all_ids[:-1]:
        # Unset, the importer takes the highest id, which no process then has.
        raise ConfigError(
            f"is {ids.importer}, the machine id of a running MMR process (0..{ids.max_workers}): "
            "the importer would mint the same media ids",
            key="import.machineId",
            fix="pulumi config rm --path 'import.machineId'",
        )
    if processes > 1 and (file_kinds or transferring) and kubernetes.media_volume.access_mode != "ReadWriteMany":
        use = (
            f"write to the file datastore ({', '.join(file_kinds)})"
            if file_kinds
            else "read the file datastore while datastores.file.transferTo empties it"
        )
        commands = [set_value("kubernetes.mediaVolume.accessMode", "ReadWriteMany")]
        if not kubernetes.media_volume.storage_class:
            commands.append(ask_command("kubernetes.mediaVolume.storageClass"))
        raise ConfigError(
            f"is {kubernetes.media_volume.access_mode}, but up to {processes} MMR processes {use}, "
            "and a ReadWriteOnce volume mounts on one node: make it ReadWriteMany, on a storage class that "
            "provides it (or send every kind to S3 with datastores.s3.forKinds)",
            key="kubernetes.mediaVolume.accessMode",
            fix=" && ".join(commands),
        )
    if kubernetes.media_volume.access_mode == "ReadWriteMany" and not kubernetes.media_volume.storage_class:
        raise ConfigError(
            "is ReadWriteMany, but no storage class is named, and a cluster's default class rarely provides it "
            "(name one that does, such as an NFS provisioner's)",
            key="kubernetes.mediaVolume.storageClass",
            fix=ask_command("kubernetes.mediaVolume.storageClass"),
        )
    if processes > 1 and not redis.enabled and "enabled" in redis.model_fields_set:
        raise ConfigError(
            f"is false, but {processes} MMR processes share upload locks, the media cache and tasks through Redis",
            key="redis.enabled",
            fix="pulumi config rm --path 'redis.enabled'",
        )
    if kubernetes.pod_monitor and not metrics_enabled:
        raise ConfigError(
            "is true, but MMR's metrics listener is off, so there is nothing to scrape",
            key="kubernetes.podMonitor",
            fix=set_value("metrics.enabled", True),
        )


# Keys that configure the Docker host only: rejected on Kubernetes rather than ignored.
DOCKER_ONLY_KEYS: tuple[tuple[str, str], ...] = (
    ("docker", "the Docker networks MMR joins"),
    ("http", "the port MMR publishes on the Docker host"),
    ("proxy", "labels for Traefik on the Docker host"),
)
