"""Containers that run once and must succeed before anything that needs them starts.

The docker provider waits for an ``attach``-ed container to exit but never looks at
its exit code: the attach branch of ``resourceDockerContainerCreate`` waits on
``ContainerWait(..., WaitConditionNotRunning)`` and only copies the logs
(terraform-provider-docker ``internal/provider/resource_docker_container_funcs.go``
lines 631-672 at v4.5.0). The read that follows records ``exit_code``
(same file, line 816). So a failed chown, GRANT or config install would pass as
"created". ``exited_cleanly`` turns a non-zero exit into a failed ``pulumi up``
that names the container and shows the end of its log.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

LOG_LINES_SHOWN = 20


def exited_cleanly(container: docker.Container, container_name: str) -> pulumi.Output[str]:
    """The container's id once it has exited 0; resolving it raises ``pulumi.RunError`` otherwise.

    Use the result as an input (or ``depends_on=[result.apply(lambda _: container)]``) of
    whatever must not start after a failure.
    """
    return pulumi.Output.all(container.id, container.exit_code, container.container_logs, container.urn).apply(
        lambda values: _check(container_name, *values)
    )


def _check(container_name: str, container_id: str, exit_code: int | None, logs: str | None, urn: str) -> str:
    # None: the provider has not read an exit code (a preview, or a container that still runs).
    if exit_code in (None, 0):
        return container_id
    tail = "\n".join((logs or "").rstrip("\n").splitlines()[-LOG_LINES_SHOWN:]) or "(no output)"
    raise pulumi.RunError(
        f"The one-shot container {container_name} exited with code {exit_code}, so nothing that depends on it "
        f"was started. Its last log lines:\n{tail}\n"
        f"Fix the cause, then run it again: pulumi up --replace '{urn}'"
    )
