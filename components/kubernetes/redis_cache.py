"""Redis for MMR's processes on Kubernetes: shards of a cache and a message bus, nothing kept on disk.

MMR's Redis client sends no password and speaks no TLS (shards are plain
``host:port``: common/config/models_main.go and redislib/ at v1.3.7), so Redis is
protected by a NetworkPolicy that admits MMR's pods and its importer alone.

One Redis is a single point of failure (upstream #350): every upload is written into it
(redislib/cache.go ``StoreMedia``), a Redis error fails a download instead of falling back to the
datastore (pipelines/_steps/download/open_stream.go), and an upload waits 30 s on its lock and fails
(pipelines/_steps/upload/lock.go). With several shards MMR writes each entry to every live shard
(redislib/cache.go lines 21-75), reads from one, and takes its upload locks with redsync on a quorum
(redislib/locking.go lines 9-19): three shards survive the loss of one. So the program starts
``kubernetes.redisShards`` (3) shards, a StatefulSet whose pods keep their names and so their addresses
in MMR's config, spread across nodes where the cluster has them; a disruption budget lets a drain take
one at a time (the only one, never).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.objects import admit_only, container_security, labels, manifest, pod_security, selector
from config_schema.kubernetes import Kubernetes
from config_schema.operations import Redis

REDIS_PORT = 6379
# The official image's redis user (docker-library/redis alpine Dockerfile: adduser -u 999 -G redis, gid 1000).
REDIS_UID, REDIS_GID = 999, 1000


class KubernetesRedis(pulumi.ComponentResource):
    """Exposes ``addresses``, the ``host:port`` of each shard as MMR's config names them."""

    addresses: list[str]
    statefulset: kubernetes.apps.v1.StatefulSet

    def __init__(
        self,
        name: str,
        redis: Redis,
        settings: Kubernetes,
        *,
        namespace: pulumi.Input[str],
        clients: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:KubernetesRedis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        pods = selector(name, "redis")
        shards = settings.redis_shards
        # Named, not auto-named: MMR's config (a ConfigMap) holds the shards' addresses as plain text. Headless,
        # so that each shard's pod has a name of its own in the cluster's DNS: <pod>.<service>.
        service_name = f"{name}-redis-shards"
        statefulset_name = f"{name}-redis"
        kubernetes.core.v1.Service(
            service_name,
            metadata={"name": service_name, "namespace": namespace, "labels": labels(name, "redis")},
            spec=manifest(
                {
                    "clusterIP": "None",
                    "selector": pods,
                    "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}],
                }
            ),
            opts=child,
        )
        self.statefulset = kubernetes.apps.v1.StatefulSet(
            statefulset_name,
            metadata={"name": statefulset_name, "namespace": namespace, "labels": labels(name, "redis")},
            spec=manifest(
                {
                    "serviceName": service_name,
                    "replicas": shards,
                    # Shards are independent caches: all start at once, and one is replaced at a time.
                    "podManagementPolicy": "Parallel",
                    "updateStrategy": {"type": "RollingUpdate"},
                    "selector": {"matchLabels": pods},
                    "template": {
                        "metadata": {"labels": labels(name, "redis")},
                        "spec": {
                            "automountServiceAccountToken": False,
                            "securityContext": pod_security(REDIS_UID, REDIS_GID),
                            # Each shard on another node where the cluster has them; never a reason not to schedule.
                            "topologySpreadConstraints": [
                                {
                                    "maxSkew": 1,
                                    "topologyKey": "kubernetes.io/hostname",
                                    "whenUnsatisfiable": "ScheduleAnyway",
                                    "labelSelector": {"matchLabels": pods},
                                }
                            ],
                            "containers": [
                                {
                                    "name": "redis",
                                    "image": redis.image,
                                    "args": redis_args(settings.redis_max_memory),
                                    "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
                                    # A busy Redis (a large eviction, a slow node) may take a while to answer.
                                    "readinessProbe": {
                                        "exec": {"command": ["redis-cli", "ping"]},
                                        "periodSeconds": 5,
                                        "timeoutSeconds": 3,
                                        "failureThreshold": 3,
                                    },
                                    "livenessProbe": {
                                        "exec": {"command": ["redis-cli", "ping"]},
                                        "periodSeconds": 20,
                                        "timeoutSeconds": 5,
                                        "failureThreshold": 6,
                                    },
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "64Mi"},
                                        "limits": {"memory": _memory_limit(settings.redis_max_memory)},
                                    },
                                    "securityContext": container_security(),
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                }
                            ],
                            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}],
                        },
                    },
                }
            ),
            opts=child,
        )
        # One shard may go at a time (a drain, a rollout): MMR keeps serving on the others. The only one, never:
        # a drain waits for it (`kubectl rollout restart` moves it first).
        budget = {"maxUnavailable": 1} if shards >= 3 else {"minAvailable": shards}
        kubernetes.policy.v1.PodDisruptionBudget(
            f"{name}-redis",
            metadata={"namespace": namespace, "labels": labels(name, "redis")},
            spec=manifest({"selector": {"matchLabels": pods}, **budget}),
            opts=child,
        )
        admit_only(
            f"{name}-redis-clients",
            namespace=namespace,
            instance=name,
            to_pods=pods,
            sources=[{"podSelector": {"matchLabels": clients}}],
            ports=[REDIS_PORT],
            opts=child,
        )
        # The pods' own names, which a StatefulSet keeps: <statefulset>-<ordinal>.<service>.
        self.addresses = [f"{statefulset_name}-{index}.{service_name}:{REDIS_PORT}" for index in range(shards)]
        self.register_outputs({"addresses": self.addresses})


def redis_args(max_memory: str) -> list[str]:
    return [
        # A cache and a message bus: nothing is kept on disk.
        *("--save", ""),
        *("--appendonly", "no"),
        *("--maxmemory", max_memory),
        # What upstream's docs advise for MMR's cache.
        *("--maxmemory-policy", "allkeys-lfu"),
        # Reached from other pods; the NetworkPolicy is the fence.
        *("--protected-mode", "no"),
    ]


def _memory_limit(max_memory: str) -> str:
    """Half again Redis's maxmemory, in Kubernetes' units: room for its own overhead before the OOM killer."""
    digits = "".join(character for character in max_memory if character.isdigit())
    unit = max_memory[len(digits) :].lower()
    mebibytes = int(digits) * {"": 1 / 2**20, "b": 1 / 2**20, "kb": 1 / 1024, "mb": 1, "gb": 1024}[unit]
    return f"{max(64, int(mebibytes * 3 // 2))}Mi"
