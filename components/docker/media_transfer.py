"""``datastores.file.transferTo: s3``: MMR's own transfer of the file datastore's media to S3, followed to its end.

The file datastore is rendered with ``forKinds: []`` (config_schema/storage.py), so MMR writes
nothing new to it and still reads it. This one-shot starts MMR's transfer task
(``POST .../admin/datastores/<file>/transfer_to/<s3>``, api/routes.go line 99 at 84bcb70) and
polls it until it ends, then counts what is left (``mmr_admin.sh``). It starts after the smoke test
passed, when there is one: that upload proved the bucket takes writes.

It is started once. Its inputs that change with an upgrade or a new smoke test are ignored, so
later ``pulumi up`` runs keep it as it is; ``pulumi up --replace <its URN>`` runs it again.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from components.docker.admin_one_shot import admin_container, how_it_ended
from components.docker.host_limits import ONE_SHOT_MIB, bounded
from components.docker.media_repo import MediaRepo
from components.shared.admin_calls import TRANSFER_TIMEOUT_SECONDS, transfer_command
from config_schema.stack import StackConfig

AFTER_LABEL = "org.matrix-media-repo.after-smoke-test"


class MediaTransfer(pulumi.ComponentResource):
    """Exposes ``finished`` (the script's last line; resolving it fails ``pulumi up`` on a failed transfer)
    and ``rerun_command``."""

    container: docker.Container
    finished: pulumi.Output[str]
    rerun_command: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        media_repo: MediaRepo,
        networks: Sequence[docker.Network],
        after: pulumi.Input[str] = "",
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:MediaTransfer", name, None, opts)
        if media_repo.shared_secret_token is None:
            raise ValueError("the transfer needs MMR's shared-secret token")
        container_name = f"{name}-transfer"
        self.container = admin_container(
            container_name,
            image_id=media_repo.image_id,
            command=transfer_command(stack, name, stack.http.port),
            token=media_repo.shared_secret_token,
            networks=[network.name for network in networks],
            limits=bounded(stack.docker, ONE_SHOT_MIB),
            # Registered only once the smoke test passed; what it was is then no reason to move media again.
            labels={AFTER_LABEL: after},
            depends_on=[media_repo.container, *depends_on],
            opts=pulumi.ResourceOptions(parent=self),
            ignore_changes=["image", "labels", "uploads", "networks_advanced", "memory", "memory_swap", "log_opts"],
            # A volume of years of media takes hours; `pulumi up` waits for the end.
            create_timeout_seconds=TRANSFER_TIMEOUT_SECONDS,
        )
        self.finished = how_it_ended(self.container, container_name)
        self.rerun_command = pulumi.Output.concat("pulumi up --replace '", self.container.urn, "'")
        self.register_outputs({"finished": self.finished})
