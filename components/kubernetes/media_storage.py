"""The file datastore on Kubernetes: one PVC that every MMR process mounts at the same path."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.objects import labels
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
        kubernetes.core.v1.PersistentVolumeClaim(
            self.claim_name,
            metadata={
                "name": self.claim_name,
                "namespace": namespace,
                "labels": labels(name, "media"),
                # Bound only once a pod that mounts it is scheduled, with a WaitForFirstConsumer class.
                "annotations": {"pulumi.com/skipAwait": "true"},
            },
            spec={
                "accessModes": [volume.access_mode],
                **({"storageClassName": volume.storage_class} if volume.storage_class else {}),
                "resources": {"requests": {"storage": volume.size}},
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=datastore.protect,
                retain_on_delete=True,
                # The provider replaces a PVC whose class or access modes change (provider/pkg/provider/
                # forcenew.go): moving media to another class is a copy the operator makes, not a config set.
                ignore_changes=["spec.storageClassName", "spec.accessModes"],
            ),
        )
        self.register_outputs({"claimName": self.claim_name})
