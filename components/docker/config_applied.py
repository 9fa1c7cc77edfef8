"""`pulumi up` returns once MMR serves the config it installed, whether MMR took it live or restarted.

A one-shot container in MMR's own image, on the private network, asks MMR for a media id no one has on the
server name that carries the config's version (config_schema/live_config.py): 404 once MMR serves that
config. It is replaced, and so runs, exactly when the version changes; a config MMR refuses to reload fails
`pulumi up` here with MMR's last answer, instead of leaving the old config serving unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from components.docker.admin_one_shot import how_it_ended
from components.docker.host_limits import ONE_SHOT_MIB, bounded
from components.docker.media_repo import MediaRepo
from config_schema.live_config import APPLIED_SECONDS, applied_script
from config_schema.stack import StackConfig


class ConfigApplied(pulumi.ComponentResource):
    """Exposes ``container`` and ``applied``: its last line once MMR serves the new config."""

    container: docker.Container
    applied: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        media_repo: MediaRepo,
        networks: Sequence[docker.Network],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:ConfigApplied", name, None, opts)
        container_name = f"{name}-config-applied"
        script = media_repo.config_version.apply(lambda version: applied_script(name, stack.http.port, version))
        self.container = docker.Container(
            container_name,
            name=container_name,
            image=media_repo.image_id,
            # nobody: it reads nothing and writes nothing.
            user="65534:65534",
            entrypoints=["/bin/sh", "-c"],
            command=[script],
            **bounded(stack.docker, ONE_SHOT_MIB),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name) for network in networks],
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=["no-new-privileges:true"],
            read_only=True,
            must_run=False,
            attach=True,
            logs=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                # After MMR, once the setup that installed this config exited 0 (a failed one fails `pulumi up`).
                depends_on=[media_repo.setup_done.apply(lambda _: media_repo.container)],
                # A fixed container name cannot exist twice: the old one goes first.
                delete_before_replace=True,
                # The attached wait is bounded by the create timeout (20 minutes by default).
                custom_timeouts=pulumi.CustomTimeouts(create=f"{APPLIED_SECONDS + 120}s"),
            ),
        )
        self.applied = how_it_ended(self.container, container_name)
        self.register_outputs({"applied": self.applied})
