"""A one-shot container that calls MMR's API as a repo admin: the smoke test's and the transfer's.

It runs ``mmr_admin.sh`` in MMR's own image, on the private network (where MMR's container name
resolves and nothing else is reached; the edge one too when a download may be redirected to the
bucket's public URL), with nothing published. The token is an upload, root's
and mode 0400, read by root without a single capability: it is in neither the command nor the env,
both of which ``docker inspect`` shows. ``attach`` makes the provider wait for the exit, whose code
``exited_cleanly`` turns into a failed ``pulumi up`` showing the script's last lines: MMR's answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_docker as docker

from components.docker.one_shot import exited_cleanly
from components.shared.admin_calls import ADMIN_SCRIPT, SCRIPT_FILE, TOKEN_FILE


def last_log_line(logs: str | None) -> str:
    """What the script said last: how it ended. Empty in a preview, before anything ran."""
    lines = (logs or "").strip().splitlines()
    return lines[-1] if lines else ""


def how_it_ended(container: docker.Container, container_name: str) -> pulumi.Output[str]:
    """The script's last line once the container exited 0; resolving it fails ``pulumi up`` otherwise."""
    return pulumi.Output.all(exited_cleanly(container, container_name), container.container_logs).apply(
        lambda values: last_log_line(values[1])
    )


def admin_container(
    name: str,
    *,
    image_id: pulumi.Input[str],
    command: list[str],
    token: pulumi.Output[str],
    networks: Sequence[pulumi.Input[str]],
    limits: dict[str, Any],
    labels: Mapping[str, pulumi.Input[str]],
    depends_on: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
    ignore_changes: Sequence[str] = (),
    create_timeout_seconds: int | None = None,
) -> docker.Container:
    """``create_timeout_seconds``: how long the provider waits for the exit, past its default of 20 minutes
    for a container's create (terraform-provider-docker ``internal/provider/resource_docker_container.go``
    lines 12 and 30-33 at 83c00e0b), which bounds the attached wait."""
    return docker.Container(
        name,
        name=name,
        image=image_id,
        user="0:0",
        entrypoints=[command[0]],
        command=command[1:],
        **limits,
        uploads=[
            docker.ContainerUploadArgs(file=SCRIPT_FILE, content=ADMIN_SCRIPT, permissions="0444"),
            docker.ContainerUploadArgs(file=TOKEN_FILE, content=pulumi.Output.secret(token), permissions="0400"),
        ],
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network) for network in networks],
        labels=[docker.ContainerLabelArgs(label=key, value=value) for key, value in labels.items()],
        capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
        security_opts=["no-new-privileges:true"],
        must_run=False,
        attach=True,
        logs=True,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                depends_on=list(depends_on),
                # A fixed container name cannot exist twice: the old one goes first.
                delete_before_replace=True,
                ignore_changes=list(ignore_changes),
                custom_timeouts=pulumi.CustomTimeouts(create=f"{create_timeout_seconds}s")
                if create_timeout_seconds
                else None,
            ),
        ),
    )
