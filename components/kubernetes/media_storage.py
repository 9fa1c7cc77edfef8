"""The file datastore on Kubernetes: one PVC that every MMR process mounts at the same path."""

from __future__ import annotations

import pulumi

from components.kubernetes.objects import retained_claim
from config_schema.kubernetes import MediaVolume
from config_schema.storage import FileDatastore


class KubernetesMediaStorage(pulumi.ComponentResource):
    """Exposes ``claim_name``: with more than one process, a ReadWriteMany volume (config_schema/kubernetes.py)."""

    claim_name: str

    def __init__(
        self,
        name: str,
        datastore: FileDatastore,
        volume: MediaVolume,
        *,
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:KubernetesMediaStorage", name, None, opts)
        # Named by the stack alone, so that no config change can give it a new name.
        self.claim_name = f"{name}-media"
        retained_claim(
            self.claim_name,
            namespace=namespace,
            instance=name,
            component="media",
            access_mode=volume.access_mode,
            storage_class=volume.storage_class,
            size=volume.size,
            protect=datastore.protect,
            parent=self,
        )
        self.register_outputs({"claimName": self.claim_name})
