"""What every Kubernetes object of a stack shares: labels, the restricted security context, network policies.

Manifests are written as the camelCase dicts ``kubectl`` reads: pulumi_kubernetes passes
plain dicts through unchanged, and the tests validate them against Kubernetes' own schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

APP = "matrix-media-repo"
# Pods that may reach the Postgres this stack runs: MMR, its importer, its backups.
DATABASE_CLIENT_LABEL = "matrix-media-repo.org/database-client"
# MMR's processes and its importer: what Redis admits and what the egress policy fences in.
MMR_PROCESS_LABEL = "matrix-media-repo.org/mmr-process"
# The smoke test's and the transfer's pods: MMR's ingress policy admits them, their egress policy holds them.
ADMIN_CLIENT_LABEL = "matrix-media-repo.org/admin-client"
# Long enough for migrations after an upgrade (about 8 minutes in upstream issue #475), then some.
ROLLOUT_TIMEOUT = "20m"


def manifest(value: Mapping[str, Any]) -> Any:
    """A manifest dict, given to an SDK class as its ``spec``.

    The SDK types ``spec`` as its generated ``...ArgsDict`` TypedDicts, which a dict put together
    from helpers is never inferred as. The shape is checked instead, and more strictly, against
    Kubernetes' own OpenAPI schemas by tests/test_kubernetes_schemas.py. Only the static type changes.
    """
    return value


def labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(name: str, component: str) -> dict[str, str]:
    """The labels a selector matches on: never managed-by, which another tool could rewrite."""
    return {key: value for key, value in labels(name, component).items() if key != "app.kubernetes.io/managed-by"}


def pod_security(uid: int, gid: int | None = None) -> dict[str, Any]:
    """The ``restricted`` Pod Security Standard, as a pod's securityContext."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid if gid is not None else uid,
        # Volumes (the media PVC, Secrets) are made group-owned by it, so the process can use them.
        "fsGroup": gid if gid is not None else uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def admit_only(
    resource_name: str,
    *,
    namespace: pulumi.Input[str],
    instance: str,
    to_pods: dict[str, str],
    sources: list[dict[str, Any]],
    ports: list[int],
    opts: pulumi.ResourceOptions,
) -> kubernetes.networking.v1.NetworkPolicy:
    """Ingress to ``to_pods`` on ``ports`` from ``sources`` only; everything else that tries is dropped."""
    return kubernetes.networking.v1.NetworkPolicy(
        resource_name,
        metadata={"namespace": namespace, "labels": labels(instance, "network-policy")},
        spec=manifest(
            {
                "podSelector": {"matchLabels": to_pods},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": port} for port in ports]}],
            }
        ),
        opts=opts,
    )


def rollout_timeouts() -> pulumi.CustomTimeouts:
    return pulumi.CustomTimeouts(create=ROLLOUT_TIMEOUT, update=ROLLOUT_TIMEOUT)


def retained_claim(
    claim_name: str,
    *,
    namespace: pulumi.Input[str],
    instance: str,
    component: str,
    access_mode: str,
    storage_class: str | None,
    size: str,
    protect: bool,
    parent: pulumi.Resource,
    annotations: dict[str, str] | None = None,
) -> kubernetes.core.v1.PersistentVolumeClaim:
    """A PVC for data that outlives every pod and every config change: named by the stack, protected, retained."""
    return kubernetes.core.v1.PersistentVolumeClaim(
        claim_name,
        metadata={
            "name": claim_name,
            "namespace": namespace,
            "labels": labels(instance, component),
            # The provider waits for a PVC to be bound, which a WaitForFirstConsumer class does only once
            # a pod that mounts it is scheduled, after this.
            "annotations": {"pulumi.com/skipAwait": "true", **(annotations or {})},
        },
        spec=manifest(
            {
                "accessModes": [access_mode],
                **({"storageClassName": storage_class} if storage_class else {}),
                "resources": {"requests": {"storage": size}},
            }
        ),
        opts=pulumi.ResourceOptions(
            parent=parent,
            protect=protect,
            retain_on_delete=True,
            # The provider replaces a PVC, a new empty volume, when its class or access modes change
            # (pulumi-kubernetes v4.25.0 provider/pkg/provider/diff.go lines 110-117, forceNew): those are set at
            # creation only. Its size is patched in place, which the API server does where the class allows
            # expansion and refuses otherwise, as it refuses a shrink (docs/kubernetes.md, "Growing a volume").
            # What the extra annotations record is written once, at creation, and read back ever after.
            ignore_changes=[
                "spec.storageClassName",
                "spec.accessModes",
                *(f'metadata.annotations["{key}"]' for key in annotations or {}),
            ],
        ),
    )
