"""A one-shot import of a homeserver's local media into MMR, with the image's own importer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_docker as docker

from components.docker.media_repo import DATA_PATH, REPO_CONFIG
from components.docker.media_repo_files import MEDIA_REPO_GID, MEDIA_REPO_UID, volume_mount
from config_schema.media_import import import_binary, import_flags
from config_schema.media_repo import CONFIG_DIR, MEDIA_PATH
from config_schema.operations import MediaImport as MediaImportConfig

# In the image's /etc: this one-shot container keeps a writable root filesystem. The upload is root's
# whatever its owner says (the provider's tar entries carry no owner), so root reads it and then drops
# to MMR's user with su-exec, which MMR's image ships for its own run.sh.
PASSWORD_FILE = "/etc/media-repo-import-db-password"


class MediaImport(pulumi.ComponentResource):
    """Runs import_synapse or import_dendrite once, detached: an import of years of media takes hours."""

    container: docker.Container

    def __init__(
        self,
        name: str,
        media_import: MediaImportConfig,
        *,
        image_id: pulumi.Input[str],
        config_volume: docker.Volume,
        media_volume: docker.Volume,
        networks: Sequence[pulumi.Input[str]],
        limits: dict[str, Any],
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:MediaImport", name, None, opts)
        binary = import_binary(media_import)
        # The importer pastes the password into a postgres:// URL as it is, and
        # lib/pq decodes that URL: percent-encoded, any character survives.
        password = pulumi.Output.secret(quote(media_import.db_password, safe=""))
        self.container = docker.Container(
            f"{name}-import",
            name=f"{name}-import",
            image=image_id,
            # The password comes from a file, so it is in neither the container's
            # command nor its env, both of which `docker inspect` shows.
            entrypoints=[
                "/bin/sh",
                "-c",
                f'exec su-exec {MEDIA_REPO_UID}:{MEDIA_REPO_GID} {binary} -dbPassword="$(cat {PASSWORD_FILE})" "$@"',
                binary,
            ],
            command=import_flags(media_import),
            working_dir=DATA_PATH,
            user="0:0",
            envs=[f"REPO_CONFIG={REPO_CONFIG}", f"MACHINE_ID={media_import.machine_id}"],
            **limits,
            uploads=[docker.ContainerUploadArgs(file=PASSWORD_FILE, content=password, permissions="0400")],
            # MMR's config, as MMR's setup container installed it; read-only.
            mounts=[volume_mount(media_volume, MEDIA_PATH), volume_mount(config_volume, CONFIG_DIR, read_only=True)],
            tmpfs={DATA_PATH: "rw,noexec,nosuid,size=16m"},
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network) for network in networks],
            # su-exec needs SETUID and SETGID; nothing else. In the CAP_ form the provider's Docker client sends and
            # a refresh reads back (components/docker/media_repo_files.py says why).
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=["CAP_SETGID", "CAP_SETUID"]),
            security_opts=["no-new-privileges:true"],
            must_run=False,
            # A detached import runs for hours; stopping it mid-way loses nothing (a re-run skips what it has).
            destroy_grace_seconds=10,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on), delete_before_replace=True),
        )
        self.register_outputs({"container": self.container.name})
