"""Scheduled dumps of the Postgres container beside MMR, kept on a protected volume and optionally copied to S3.

See ``config_schema/backup.py`` for the image chosen and the settings it is given.
On Kubernetes the same dump, retention and destinations belong in a CronJob that
takes the same ``Backup`` model: nothing here depends on Docker but the container.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_docker as docker

from components.shared.media_bucket import BackupUpload
from components.shared.media_database import POSTGRES_PORT, MediaDatabase
from config_schema.backup import (
    BACKUP_DIR,
    HOOK_PATH,
    PASSWORD_FILE,
    S3_CREDENTIALS_FILE,
    Backup,
    backup_environment,
    backup_image,
    curl_credentials,
    s3_copy_hook,
)

# A dump in progress is finished rather than cut.
STOP_GRACE_SECONDS = 60


class PostgresBackup(pulumi.ComponentResource):
    """Exposes ``volume`` (the dumps) and ``container``."""

    volume: docker.Volume
    container: docker.Container

    def __init__(
        self,
        name: str,
        backup: Backup,
        *,
        database: MediaDatabase,
        networks: Sequence[docker.Network],
        limits: dict[str, Any],
        s3_upload: pulumi.Output[BackupUpload] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:PostgresBackup", name, None, opts)
        if database.container_name is None or database.password is None or database.postgres_major is None:
            raise ValueError("only a container database is backed up by this program")
        child = pulumi.ResourceOptions(parent=self)
        # The dumps outlive every container and every config change, like the data they copy.
        self.volume = docker.Volume(
            f"{name}-backups",
            name=f"{name}-backups",
            opts=pulumi.ResourceOptions(parent=self, protect=backup.protect, retain_on_delete=True),
        )
        image = docker.RemoteImage(
            f"{name}-backup-image", name=backup_image(backup, database.postgres_major), keep_locally=True, opts=child
        )
        settings = database.settings
        envs = backup_environment(
            backup, host=database.container_name, port=POSTGRES_PORT, database=settings.name, user=settings.user
        )
        password = database.password
        # Read by the image's env.sh as root, before pg_dump: a root-owned upload is fine here.
        uploads = [
            docker.ContainerUploadArgs(file=PASSWORD_FILE, content=pulumi.Output.secret(password), permissions="0400")
        ]
        if s3_upload is not None:
            envs += [
                s3_upload.apply(lambda upload: f"S3_URL={upload.url}"),
                s3_upload.apply(lambda upload: f"S3_REGION={upload.region}"),
            ]
            uploads += [
                docker.ContainerUploadArgs(file=HOOK_PATH, content=s3_copy_hook(), permissions="0755"),
                docker.ContainerUploadArgs(
                    file=S3_CREDENTIALS_FILE,
                    content=pulumi.Output.secret(
                        s3_upload.apply(lambda upload: curl_credentials(upload.access_key_id, upload.secret))
                    ),
                    permissions="0400",
                ),
            ]
        self.container = docker.Container(
            f"{name}-postgres-backup",
            name=f"{name}-postgres-backup",
            image=image.image_id,
            envs=envs,
            uploads=uploads,
            **limits,
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=BACKUP_DIR)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name) for network in networks],
            restart="unless-stopped",
            destroy_grace_seconds=STOP_GRACE_SECONDS,
            stop_timeout=STOP_GRACE_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, depends_on=database.ready, delete_before_replace=True),
        )
        self.register_outputs({"volume": self.volume.name})
