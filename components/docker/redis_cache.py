"""A Redis beside MMR, for its caches: private network only, nothing persisted."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.docker.host_limits import bounded
from config_schema.docker_host import DockerHost
from config_schema.operations import Redis

REDIS_PORT = 6379


class RedisCache(pulumi.ComponentResource):
    """Exposes ``address`` (``host:port`` on the private network) and ``container``."""

    address: str
    container: docker.Container

    def __init__(
        self,
        name: str,
        redis: Redis,
        *,
        private_network: docker.Network,
        host: DockerHost,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:RedisCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        image = docker.RemoteImage(f"{name}-redis-image", name=redis.image, keep_locally=True, opts=child)
        container_name = f"{name}-redis"
        self.container = docker.Container(
            container_name,
            name=container_name,
            image=image.image_id,
            # A cache: losing it on restart costs MMR nothing but a few lookups. The provider refuses an
            # empty command value (resource_docker_container_funcs.go lines 84-89), so not `--save ""`:
            # Redis 7 reads a --save followed by another option as an empty save list (checked against
            # Debian's redis-server 7.0.15 in tests/test_docker_engine.py: CONFIG GET save is empty).
            # maxmemory half the container's limit, the rest for Redis's own overhead; least frequently
            # used keys go first, as upstream's cache docs advise.
            command=[
                "redis-server",
                "--save",
                "--appendonly",
                "no",
                "--maxmemory",
                f"{host.memory.redis // 2}mb",
                "--maxmemory-policy",
                "allkeys-lfu",
            ],
            **bounded(host, host.memory.redis),
            # The image declares /data a VOLUME; a tmpfs keeps Docker from making one.
            tmpfs={"/data": "rw,noexec,nosuid,size=16m"},
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=private_network.name)],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "redis-cli", "ping"], interval="10s", timeout="3s", retries=5, start_period="5s"
            ),
            restart="unless-stopped",
            wait=True,
            wait_timeout=60,
            destroy_grace_seconds=10,
            stop_timeout=10,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.address = f"{container_name}:{REDIS_PORT}"
        self.register_outputs({"address": self.address})
