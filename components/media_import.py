"""A one-shot import of a homeserver's local media into MMR, with the image's own importer."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import pulumi
import pulumi_docker as docker

from components.media_repo import DATA_PATH, MEDIA_REPO_GID, MEDIA_REPO_UID, config_upload, media_mount
from config_schema.media_import import import_binary, import_flags
from config_schema.operations import MediaImport as MediaImportConfig

# In the image's /etc: this one-shot container keeps a writable root filesystem.
PASSWORD_FILE = "/etc/media-repo-import-db-password"
CONFIG_PATH = "/etc/media-repo.yaml"


class MediaImport(pulumi.ComponentResource):
    """Runs import_synapse or import_dendrite once, detached: an import of years of media takes hours."""

    container: docker.Container

    def __init__(
        self,
        name: str,
        media_import: MediaImportConfig,
        *,
        image_id: pulumi.Input[str],
        config_yaml: pulumi.Output[str],
        media_volume: docker.Volume,
        networks: Sequence[docker.Network],
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
            entrypoints=["/bin/sh", "-c", f'exec {binary} -dbPassword="$(cat {PASSWORD_FILE})" "$@"', binary],
            command=import_flags(media_import),
            working_dir=DATA_PATH,
            user=f"{MEDIA_REPO_UID}:{MEDIA_REPO_GID}",
            envs=[f"REPO_CONFIG={CONFIG_PATH}", f"MACHINE_ID={media_import.machine_id}"],
            uploads=[
                docker.ContainerUploadArgs(
                    file=PASSWORD_FILE,
                    content=password,
                    owner=str(MEDIA_REPO_UID),
                    group=str(MEDIA_REPO_GID),
                    permissions="0400",
                ),
                config_upload(config_yaml, CONFIG_PATH),
            ],
            volumes=[media_mount(media_volume)],
            tmpfs={DATA_PATH: "rw,noexec,nosuid,size=16m,mode=1777"},
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name) for network in networks],
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=["no-new-privileges:true"],
            must_run=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(depends_on),
                # Runs again when the import settings change (flags, password),
                # not whenever MMR's own config does; a re-run skips media it has.
                ignore_changes=["uploads[1]"],
            ),
        )
        self.register_outputs({"container": self.container.name})
