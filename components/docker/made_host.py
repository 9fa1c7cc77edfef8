"""The Docker host a stack has the program make (``host.provider``), or None for the engine ``docker:host`` names.

Its SDKs (pulumi_digitalocean, pulumi_tls, pulumi_command) are imported only by a stack that makes a host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.docker import engine_api
from config_schema import StackConfig
from config_schema.host import host_region

if TYPE_CHECKING:
    from components.docker.droplet_host import DropletDockerHost

# Debian 12's docker.io (20.10.24), which the host's cloud-config installs, speaks Engine API 1.41.
DEBIAN_12_ENGINE_API = (1, 41)


def made_host(name: str, stack: StackConfig) -> DropletDockerHost | None:
    if stack.host.provider is None:
        engine_api.assume_installed_engine(None)
        return None
    from components.docker.droplet_host import DropletDockerHost

    engine_api.assume_installed_engine(DEBIAN_12_ENGINE_API)
    ports = [stack.http.port]
    if stack.metrics.enabled and stack.metrics.bind_address not in ("127.0.0.1", "::1"):
        ports.append(stack.metrics.port)
    return DropletDockerHost(
        name,
        stack.host,
        region=host_region(stack.host, stack.s3.provider, stack.s3.region),
        media_repo_ports=ports,
    )
