"""A one-shot import of a homeserver's local media, as a Job beside MMR's processes.

The importer mints media ids like any MMR process, so it runs as a machine id no
process has: above every worker at the autoscaler's maximum (config_schema/kubernetes.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.media_repo_pods import media_repo_container, pod_spec, pod_volumes
from components.kubernetes.objects import DATABASE_CLIENT_LABEL, MMR_PROCESS_LABEL, labels, manifest
from config_schema.media_import import import_binary, import_flags
from config_schema.stack import StackConfig

PASSWORD_DIR = "/run/secrets/import"


class KubernetesMediaImport(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        machine_id: int,
        namespace: pulumi.Input[str],
        config_volume: dict[str, Any],
        media_claim: str | None,
        depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:KubernetesMediaImport", name, None, opts)
        media_import = stack.media_import
        if media_import is None:
            raise ValueError("no import is configured")
        child = pulumi.ResourceOptions(parent=self)
        # The importer pastes the password into a postgres:// URL as it is, and lib/pq decodes that URL.
        password = kubernetes.core.v1.Secret(
            f"{name}-import-password",
            metadata={"namespace": namespace, "labels": labels(name, "import")},
            string_data={"password": pulumi.Output.secret(quote(media_import.db_password, safe=""))},
            opts=child,
        )
        binary = import_binary(media_import)
        # The password from a file: in neither the Job's command nor its env.
        command = ["/bin/sh", "-c", f'exec {binary} -dbPassword="$(cat {PASSWORD_DIR}/password)" "$@"', binary]
        container = media_repo_container(
            stack, [{"name": "MACHINE_ID", "value": str(machine_id)}], command, probes=False
        )
        container["args"] = import_flags(media_import)
        container["volumeMounts"].append({"name": "import-password", "mountPath": PASSWORD_DIR, "readOnly": True})
        volumes = [
            *pod_volumes(stack, config_volume, media_claim),
            {"name": "import-password", "secret": {"secretName": password.metadata.name, "defaultMode": 0o440}},
        ]
        kubernetes.batch.v1.Job(
            f"{name}-import",
            metadata={
                "namespace": namespace,
                "labels": labels(name, "import"),
                # An import of years of media takes hours: `pulumi up` starts it and does not wait.
                "annotations": {"pulumi.com/skipAwait": "true"},
            },
            spec=manifest(
                {
                    # A re-run skips what it has already imported.
                    "backoffLimit": 2,
                    "template": {
                        # Not MMR's labels: the Service must never send a request to the importer.
                        # Reaches Postgres and Redis as MMR does, and is fenced in by the same egress policy.
                        "metadata": {
                            "labels": {
                                **labels(name, "import"),
                                DATABASE_CLIENT_LABEL: "true",
                                MMR_PROCESS_LABEL: "true",
                            }
                        },
                        "spec": pod_spec(stack, [container], volumes, restartPolicy="OnFailure"),
                    },
                }
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.register_outputs({})


def kubernetes_import_command(stack: StackConfig, machine_id: int, name: str) -> str:
    """The import again, by hand, in machine 0's pod under the importer's id; it asks for the password."""
    media_import = stack.media_import
    assert media_import is not None
    flags = " ".join(import_flags(media_import))
    return (
        f"kubectl --namespace {stack.kubernetes.namespace} exec -it {name}-primary-0 -- "
        f"env MACHINE_ID={machine_id} {import_binary(media_import)} {flags}"
    )
