"""What MMR's container needs on its volumes before it starts, put there by a one-shot ``setup`` container.

MMR's root filesystem is read-only, and Docker refuses to extract an upload into
such a container unless the extraction directory is on a volume (moby
``daemon/archive_unix.go`` ``checkWritablePath``, line 184 at HEAD). The docker
provider always extracts at ``/`` (terraform-provider-docker
``internal/provider/resource_docker_container_funcs.go`` line 575, ``dstPath :=
"/"``), so nothing can be uploaded into MMR's container itself. And the tar
entries it writes carry no owner (same file, lines 559-563), so an upload is
always root's, whatever ``owner`` says.

So a one-shot container with a writable root receives the uploads under
``/staging`` and, as root with only the capabilities it needs and no network:
- hands the media volume's top directory to MMR's user (not recursive: cheap on
  a volume that holds years of media), and leaves a file in it that keeps Docker
  from handing it back to root (``MEDIA_MARKER``);
- removes from MMR's scratch volume what is a day old (a killed MMR's leftovers; it runs while MMR runs, on
  every config change, so never what MMR holds now) and makes it world-writable with the sticky bit, like
  ``/tmp``;
- installs each file into the config volume owned by MMR's user, mode 0400, by
  copying next to it and renaming: a rename is atomic, so MMR never reads half a
  file, and MMR's watch on its config directory sees the change (config_schema/live_config.py); then removes
  files that are no longer uploaded (a removed signing key).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_docker as docker

from config_schema.media_repo import CONFIG_DIR, MEDIA_PATH

# MMR runs as this user, never as root.
MEDIA_REPO_UID = 10001
MEDIA_REPO_GID = 10001
STAGING_DIR = "/staging"
# Where the setup container mounts MMR's scratch volume; MMR mounts it at /tmp.
SCRATCH_PATH = "/scratch"
TMP_PATH = "/tmp"
# Scratch files older than this are what a killed MMR left behind: the setup container removes them.
SCRATCH_MAX_AGE_MINUTES = 24 * 60
# A file that keeps the media volume from ever being empty. When a container is created with an empty named
# volume at a path its image has, Docker copies that path's content and owner into the volume (moby
# ``daemon/create_unix.go`` ``populateVolumes``, lines 79-96 at v20.10.24, and ``container/container_unix.go``
# ``copyExistingContents``, line 408);
# MMR's image declares ``/media`` a VOLUME owned by root, so each new MMR container would hand an empty media
# volume back to root, and MMR could not write it. A volume with anything in it is left alone (measured on
# docker.io 20.10.24: an empty volume's owner reset to root, a non-empty one's kept; tests/test_docker_engine.py).
MEDIA_MARKER = ".matrix-media-repo-volume"
MEDIA_MARKER_TEXT = (
    "Keeps this volume non-empty, so that Docker never resets its owner to the image's (root). Leave it here."
)


def staged_name(file_name: str) -> str:
    """Where a file waits under STAGING_DIR: flat, since the provider's upload names no parent directory."""
    return file_name.replace("/", "__")


def setup_script(file_names: list[str]) -> str:
    """The shell (busybox ash in MMR's alpine image) the setup container runs. ``file_names`` are paths under the
    config directory (``repo/media-repo.yaml``, ``signing-key-0.pem``). It runs again on every config change,
    MMR running: it never takes anything from under MMR but what is gone from the config."""
    owner = f"{MEDIA_REPO_UID}:{MEDIA_REPO_GID}"
    marker = f"{MEDIA_PATH}/{MEDIA_MARKER}"
    lines = [
        "set -eu",
        f"chown {owner} {MEDIA_PATH}",
        # Never rewritten: its mtime tells when the volume was first set up.
        f"[ -e {marker} ] || {{ echo {shlex.quote(MEDIA_MARKER_TEXT)} > {marker}; }}",
        # What a killed MMR left a day ago and more; never what a running MMR holds (uploads in flight).
        f"find {SCRATCH_PATH} -mindepth 1 -maxdepth 1 -mmin +{SCRATCH_MAX_AGE_MINUTES} -exec rm -rf {{}} +",
        f"chmod 1777 {SCRATCH_PATH}",
    ]
    directories = sorted({name.rsplit("/", 1)[0] for name in file_names if "/" in name})
    for directory in directories:
        lines += [f"mkdir -p {CONFIG_DIR}/{directory}", f"chown {owner} {CONFIG_DIR}/{directory}"]
        lines.append(f"chmod 0500 {CONFIG_DIR}/{directory}")
    for file_name in file_names:
        staged, final = f"{STAGING_DIR}/{staged_name(file_name)}", f"{CONFIG_DIR}/{file_name}"
        # Next to the config directory, never in it: MMR reads every file in REPO_CONFIG's directory
        # (common/config/access.go lines 69-84), and a rename into it is atomic.
        temporary = f"{CONFIG_DIR}/.{staged_name(file_name)}.new"
        lines += [
            f"cp {staged} {temporary}",
            f"chmod 0400 {temporary}",
            f"chown {owner} {temporary}",
            f"mv -f {temporary} {final}",
        ]
    top = sorted({name.split("/", 1)[0] for name in file_names})
    lines.append(_remove_others(CONFIG_DIR, top))
    for directory in directories:
        inside = [name.rsplit("/", 1)[1] for name in file_names if name.rsplit("/", 1)[0] == directory]
        lines.append(_remove_others(f"{CONFIG_DIR}/{directory}", inside))
    lines.append(f'echo "installed {len(file_names)} file(s) for uid {MEDIA_REPO_UID}"')
    return "\n".join(lines)


def _remove_others(directory: str, keep: list[str]) -> str:
    """The line that removes what ``directory`` holds beyond ``keep`` (a removed signing key)."""
    names = "|".join(shlex.quote(name) for name in keep)
    return (
        f'for existing in {directory}/* {directory}/.[!.]*; do [ -e "$existing" ] || continue; '
        f'case "${{existing##*/}}" in {names}) ;; *) rm -rf "$existing" ;; esac; done'
    )


def volume_mount(volume: docker.Volume, target: str, *, read_only: bool = False) -> docker.ContainerMountArgs:
    """A named volume, mounted with no ``volume_options``.

    ``no_copy`` would belong here, and cannot be sent: the provider refuses every
    ``volume_options`` block when the engine's API is below 1.45
    (terraform-provider-docker v4.5.0 ``internal/provider/resource_docker_container_funcs.go``
    lines 219-225, whatever the options say), which fails every container on Debian 12's
    docker.io 20.10 (API 1.41). The setup container's ``MEDIA_MARKER`` does its work instead.
    """
    return docker.ContainerMountArgs(type="volume", source=volume.name, target=target, read_only=read_only)


def setup_container(
    name: str,
    *,
    image_id: pulumi.Input[str],
    files: Mapping[str, pulumi.Output[str]],
    media_volume: docker.Volume,
    config_volume: docker.Volume,
    scratch_volume: docker.Volume,
    limits: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> docker.Container:
    """``files`` maps a file name in the config directory to its (secret) content; ``limits`` bound it."""
    return docker.Container(
        f"{name}-setup",
        name=f"{name}-setup",
        image=image_id,
        user="0:0",
        entrypoints=["/bin/sh", "-c"],
        command=[setup_script(list(files))],
        **limits,
        uploads=[
            docker.ContainerUploadArgs(
                file=f"{STAGING_DIR}/{staged_name(file_name)}",
                content=pulumi.Output.secret(content),
                permissions="0400",
            )
            for file_name, content in files.items()
        ],
        mounts=[
            volume_mount(media_volume, MEDIA_PATH),
            volume_mount(config_volume, CONFIG_DIR),
            volume_mount(scratch_volume, SCRATCH_PATH),
        ],
        network_mode="none",
        # chown, and clearing scratch files that MMR's user left in directories of mode 0700. In the CAP_ form,
        # upper case and sorted, because that is what the engine stores on every version: the provider's Docker Go
        # client rewrites each name so before it sends it (docker v28.5.2 client/container_create.go 72-73 and
        # 139-154), and every refresh writes the engine's list back into the state (terraform-provider-docker
        # v4.5.0 resource_docker_container_funcs.go 870-877). "CHOWN" made every `pulumi refresh` propose
        # "CHOWN" => "CAP_CHOWN", a replacement (../shared/upstream/pulumi/real-engine.md).
        capabilities=docker.ContainerCapabilitiesArgs(
            drops=["ALL"], adds=["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]
        ),
        security_opts=["no-new-privileges:true"],
        must_run=False,
        attach=True,
        logs=True,
        opts=opts,
    )
