"""After MMR's processes are ready, prove that MMR stores and returns media for every homeserver: a Job.

The Job's pod template names the config's ConfigMap and Secret, which are replaced (new names)
whenever the config or a credential in it changes, and carries MMR's image: so the Job is replaced,
and the test run again, exactly when one of them changes (components/kubernetes/admin_job.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.kubernetes.admin_job import AdminFiles, admin_job
from components.kubernetes.media_repo_pods import HTTP_PORT
from components.shared.admin_calls import SMOKE_TIMEOUT_SECONDS, smoke_command
from config_schema.stack import StackConfig

CONFIG_ANNOTATION = "matrix-media-repo.org/config"


class KubernetesSmokeTest(pulumi.ComponentResource):
    """Exposes ``passed``, known once the Job completed; a failed Job fails ``pulumi up``."""

    passed: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        namespace: pulumi.Input[str],
        service_name: str,
        files: AdminFiles,
        config_names: pulumi.Input[str],
        depends_on: Sequence[pulumi.Input[pulumi.Resource]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:KubernetesSmokeTest", name, None, opts)
        job = admin_job(
            f"{name}-smoke",
            instance=name,
            component="smoke",
            image=stack.image,
            namespace=namespace,
            command=smoke_command(stack, service_name, HTTP_PORT),
            files=files,
            template_annotations={CONFIG_ANNOTATION: config_names},
            timeout_seconds=SMOKE_TIMEOUT_SECONDS,
            depends_on=depends_on,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.passed = pulumi.Output.concat(
            "smoke test passed for ", str(len(stack.homeservers)), " homeserver(s): Job ", job.metadata.name
        )
        self.register_outputs({"passed": self.passed})
