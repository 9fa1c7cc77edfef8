"""``datastores.file.transferTo: s3`` on Kubernetes: MMR's transfer of the file datastore to S3, as a Job.

The same script as on Docker (components/docker/media_transfer.py), after the smoke test's Job
when there is one. Its spec is ignored after creation, so an upgrade or a new config never starts
it again; ``pulumi up --replace <its URN>`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.kubernetes.admin_job import AdminFiles, admin_job
from components.kubernetes.media_repo_pods import HTTP_PORT
from components.shared.admin_calls import TRANSFER_TIMEOUT_SECONDS, transfer_command
from config_schema.stack import StackConfig

AFTER_ANNOTATION = "matrix-media-repo.org/after-smoke-test"


class KubernetesMediaTransfer(pulumi.ComponentResource):
    """Exposes ``finished``, known once the Job completed, and ``rerun_command``."""

    finished: pulumi.Output[str]
    rerun_command: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        namespace: pulumi.Input[str],
        service_name: str,
        files: AdminFiles,
        after: pulumi.Input[str],
        depends_on: Sequence[pulumi.Input[pulumi.Resource]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:KubernetesMediaTransfer", name, None, opts)
        job = admin_job(
            f"{name}-transfer",
            instance=name,
            component="transfer",
            image=stack.image,
            namespace=namespace,
            command=transfer_command(stack, service_name, HTTP_PORT),
            files=files,
            template_annotations={AFTER_ANNOTATION: after},
            timeout_seconds=TRANSFER_TIMEOUT_SECONDS,
            depends_on=depends_on,
            opts=pulumi.ResourceOptions(parent=self),
            ignore_changes=["spec"],
        )
        self.finished = pulumi.Output.concat("transfer finished: Job ", job.metadata.name, " completed")
        self.rerun_command = pulumi.Output.concat("pulumi up --replace '", job.urn, "'")
        self.register_outputs({"finished": self.finished})
