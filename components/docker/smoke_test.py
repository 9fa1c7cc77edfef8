"""After MMR turns healthy, prove that it stores and returns media for every homeserver.

``/healthz`` answers whatever the state of the database, the datastores or the S3 key, so
``pulumi up`` goes on to an upload, a download compared by hash and a purge per server name
(``mmr_admin.sh``). The container is labelled with MMR's container id and the config's version, so it runs
again exactly when MMR is replaced or takes a new config (credentials and signing keys included) live, after
MMR serves it (components/docker/config_applied.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from components.docker.admin_one_shot import admin_container, how_it_ended
from components.docker.host_limits import ONE_SHOT_MIB, bounded
from components.docker.media_repo import MediaRepo
from components.shared.admin_calls import smoke_command
from config_schema.stack import StackConfig

TESTED_LABEL = "org.matrix-media-repo.tested-container"
# The config's version (config_schema/live_config.py): a config MMR took live is tested too.
VERSION_LABEL = "org.matrix-media-repo.tested-config"


class SmokeTest(pulumi.ComponentResource):
    """Exposes ``passed``: the script's last line once it exited 0; resolving it fails ``pulumi up`` otherwise."""

    container: docker.Container
    passed: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        media_repo: MediaRepo,
        networks: Sequence[docker.Network],
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:SmokeTest", name, None, opts)
        if media_repo.shared_secret_token is None:
            raise ValueError("the smoke test needs MMR's shared-secret token")
        container_name = f"{name}-smoke"
        self.container = admin_container(
            container_name,
            image_id=media_repo.image_id,
            # MMR's container name resolves on the networks it shares; it listens on http.port inside.
            command=smoke_command(stack, name, stack.http.port),
            token=media_repo.shared_secret_token,
            networks=[network.name for network in networks],
            limits=bounded(stack.docker, ONE_SHOT_MIB),
            labels={TESTED_LABEL: media_repo.container.id, VERSION_LABEL: media_repo.config_version},
            depends_on=[media_repo.container, *after],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.passed = how_it_ended(self.container, container_name)
        self.register_outputs({"passed": self.passed})
