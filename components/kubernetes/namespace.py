"""The namespace everything of a stack runs in: made here, or one that exists already."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.objects import labels
from config_schema.kubernetes import Kubernetes


class KubernetesNamespace(pulumi.ComponentResource):
    """Exposes ``name``, which resolves once the namespace exists."""

    name: pulumi.Output[str]

    def __init__(self, name: str, settings: Kubernetes, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("matrix-media-repo:index:KubernetesNamespace", name, None, opts)
        if settings.create_namespace:
            namespace = kubernetes.core.v1.Namespace(
                f"{name}-namespace",
                metadata={
                    "name": settings.namespace,
                    "labels": {
                        **labels(name, "namespace"),
                        # Every pod of the stack meets the restricted standard; the API server enforces it.
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
                # Deleting a namespace deletes the PVCs in it, with the media and the database on them.
                opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
            )
            self.name = namespace.metadata.name
        else:
            # Since pulumi-kubernetes 4.29 creating an object that exists fails with AlreadyExists
            # rather than adopting it (CHANGELOG, #2926), so an existing namespace is only named.
            self.name = pulumi.Output.from_input(settings.namespace)
        self.register_outputs({"name": self.name})
