"""A Job that calls MMR's API as a repo admin, run by ``pulumi up``: the smoke test's and the transfer's.

It runs ``mmr_admin.sh`` in MMR's own image against MMR's Service, under the ``restricted`` Pod
Security Standard, with the script from a ConfigMap and the token from a Secret: in neither the
manifest's command nor its env. Pulumi waits for a Job to complete and fails the update when it
fails, quoting the pod's errors (pulumi-kubernetes ``provider/pkg/await/job.go`` lines 154-155 and
270-283 at 9497796); a terminated container's message is among them (``await/checker/pod/check.go``
lines 143-157), and ``FallbackToLogsOnError`` makes that message the end of the script's log: MMR's
answer. A Job's ``spec.template`` cannot change in place, so any change to it replaces the Job
(``provider/pkg/provider/diff.go`` lines 178-186), which runs it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.media_repo_pods import MEDIA_REPO_UID
from components.kubernetes.objects import ADMIN_CLIENT_LABEL, container_security, labels, manifest, pod_security
from components.shared.admin_calls import ADMIN_SCRIPT, SCRIPT_FILE, TOKEN_FILE

SCRIPT_NAME = SCRIPT_FILE.rsplit("/", 1)[1]
TOKEN_NAME = TOKEN_FILE.rsplit("/", 1)[1]


class AdminFiles:
    """The script's ConfigMap and the token's Secret, shared by every admin Job of a stack."""

    def __init__(
        self, name: str, namespace: pulumi.Input[str], token: pulumi.Output[str], opts: pulumi.ResourceOptions
    ) -> None:
        self.script = kubernetes.core.v1.ConfigMap(
            f"{name}-admin-script",
            metadata={"namespace": namespace, "labels": labels(name, "admin")},
            data={SCRIPT_NAME: ADMIN_SCRIPT},
            opts=opts,
        )
        self.token = kubernetes.core.v1.Secret(
            f"{name}-admin-token",
            metadata={"namespace": namespace, "labels": labels(name, "admin")},
            string_data={TOKEN_NAME: pulumi.Output.secret(token)},
            opts=opts,
        )


def admin_job(
    job_name: str,
    *,
    instance: str,
    component: str,
    image: str,
    namespace: pulumi.Input[str],
    command: list[str],
    files: AdminFiles,
    template_annotations: Mapping[str, pulumi.Input[str]],
    timeout_seconds: int,
    depends_on: Sequence[pulumi.Input[pulumi.Resource]],
    opts: pulumi.ResourceOptions,
    ignore_changes: Sequence[str] = (),
) -> kubernetes.batch.v1.Job:
    container = {
        "name": component,
        "image": image,
        "command": command,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "script", "mountPath": SCRIPT_FILE.rsplit("/", 1)[0], "readOnly": True},
            {"name": "token", "mountPath": TOKEN_FILE.rsplit("/", 1)[0], "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        {"name": "script", "configMap": {"name": files.script.metadata.name, "defaultMode": 0o444}},
        # Read by the pod's group, which fsGroup makes the file's group.
        {"name": "token", "secret": {"secretName": files.token.metadata.name, "defaultMode": 0o440}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
    ]
    return kubernetes.batch.v1.Job(
        job_name,
        metadata={"name": job_name, "namespace": namespace, "labels": labels(instance, component)},
        spec=manifest(
            {
                # The script retries what is worth retrying; a second pod would only repeat MMR's answer.
                "backoffLimit": 0,
                "activeDeadlineSeconds": timeout_seconds,
                "template": {
                    "metadata": {
                        "labels": {**labels(instance, component), ADMIN_CLIENT_LABEL: "true"},
                        "annotations": dict(template_annotations),
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        "securityContext": pod_security(MEDIA_REPO_UID),
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
            }
        ),
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                depends_on=list(depends_on),
                # The Job's name is fixed: the old one goes before the new one is made.
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout_seconds + 60}s"),
                ignore_changes=list(ignore_changes),
            ),
        ),
    )
