"""Redis for MMR's processes on Kubernetes: a cache and a message bus, nothing kept on disk.

MMR's Redis client sends no password and speaks no TLS (shards are plain
``host:port``: common/config/models_main.go and redislib/ at v1.3.7), so Redis is
protected by a NetworkPolicy that admits MMR's pods and its importer alone.

Losing it stops media: every upload is written into it (redislib/cache.go ``StoreMedia``),
a Redis error fails a download instead of falling back to the datastore
(pipelines/_steps/download/open_stream.go), and an upload waits 30 s on its lock and fails
(pipelines/_steps/upload/lock.go). So a rollout starts the new Redis before it stops the
old, and a disruption budget keeps a drain from taking the only one.
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
    """Exposes ``address``, the ``host:port`` MMR's config names."""

    address: str
    deployment: kubernetes.apps.v1.Deployment

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
        self.deployment = kubernetes.apps.v1.Deployment(
            f"{name}-redis",
            metadata={"namespace": namespace, "labels": labels(name, "redis")},
            spec=manifest(
                {
                    "replicas": 1,
                    # A cache: a new one may start before the old one stops, so media never waits on none.
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                    "selector": {"matchLabels": pods},
                    "template": {
                        "metadata": {"labels": labels(name, "redis")},
                        "spec": {
                            "automountServiceAccountToken": False,
                            "securityContext": pod_security(REDIS_UID, REDIS_GID),
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
        # Named, not auto-named: MMR's config (a ConfigMap) holds the address as plain text.
        service_name = f"{name}-redis"
        kubernetes.core.v1.Service(
            service_name,
            metadata={"name": service_name, "namespace": namespace, "labels": labels(name, "redis")},
            spec=manifest({"selector": pods, "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}]}),
            opts=child,
        )
        # A drain waits for the one Redis rather than evict it: `kubectl rollout restart` moves it first,
        # starting the new pod on another node before the old one stops (README, Kubernetes operations).
        kubernetes.policy.v1.PodDisruptionBudget(
            f"{name}-redis",
            metadata={"namespace": namespace, "labels": labels(name, "redis")},
            spec=manifest({"selector": {"matchLabels": pods}, "minAvailable": 1}),
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
        self.address = f"{service_name}:{REDIS_PORT}"
        self.register_outputs({"address": self.address})


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
