"""The file datastore: a named Docker volume that outlives every container."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from config_schema.storage import FileDatastore


class MediaStorage(pulumi.ComponentResource):
    volume: docker.Volume

    def __init__(self, name: str, datastore: FileDatastore, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("matrix-media-repo:index:MediaStorage", name, None, opts)
        # The name depends on the stack alone, so no config change can replace
        # the volume; it is kept on the host even if the resource is deleted.
        self.volume = docker.Volume(
            f"{name}-media",
            name=f"{name}-media",
            opts=pulumi.ResourceOptions(parent=self, protect=datastore.protect, retain_on_delete=True),
        )
        self.register_outputs({"volume": self.volume.name})
