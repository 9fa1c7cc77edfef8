"""Postgres on the Docker host: a container beside MMR, and the one-shot psql a managed cluster's GRANT runs in.

``MediaDatabase`` (components/shared/media_database.py) owns what is made here:
every resource is its child, with the names it always had, so that no URN moves.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.docker.engine_api import healthcheck_start_interval
from components.docker.host_limits import ONE_SHOT_MIB, bounded
from components.docker.one_shot import exited_cleanly
from components.shared.media_database import ManagedAdmin, PlatformPostgres, grant_command, pgpass_line
from config_schema.backup import container_restore_command
from config_schema.database import Database
from config_schema.docker_host import DockerHost
from config_schema.postgres_data import POSTGRES_MAJOR_LABEL, image_major, upgrade_steps

# The postgres image reads the superuser password from this file at first
# start, so the password never shows in `docker inspect`.
PASSWORD_FILE = "/run/postgres-password"
PGDATA = "/var/lib/postgresql/data"
PGPASS_FILE = "/root/.pgpass"
GRANT_SCRIPT = "/root/grant.sql"
# Postgres finishes a checkpoint before it stops; killed, it replays its WAL at the next start.
STOP_GRACE_SECONDS = 60


class DockerDatabasePlatform:
    """Runs Postgres on the private network of the Docker host."""

    def __init__(self, private_network: docker.Network, host: DockerHost) -> None:
        self._network = private_network
        self._host = host

    def run_postgres(
        self, owner: pulumi.ComponentResource, name: str, database: Database, password: pulumi.Output[str]
    ) -> PlatformPostgres:
        stateful = pulumi.ResourceOptions(parent=owner, protect=database.protect, retain_on_delete=True)
        major = image_major(database.container_image, database.postgres_version)
        volume = docker.Volume(
            f"{name}-data",
            name=f"{name}-data",
            # Docker keeps a volume's labels for its life; the provider reads them back on refresh
            # (terraform-provider-docker internal/provider/resource_docker_volume.go line 309). Ignored
            # as an input, so that a changed major never plans to replace the data.
            labels=[docker.VolumeLabelArgs(label=POSTGRES_MAJOR_LABEL, value=major)],
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(ignore_changes=["labels"])),
        )
        # Resolves in the preview from the volume's recorded labels, before any container changes.
        volume_name = pulumi.Output.all(volume.name, volume.labels).apply(
            lambda values: _same_major(values[0], values[1], major, name, database)
        )
        image = docker.RemoteImage(
            f"{name}-postgres-image",
            name=database.container_image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=owner),
        )
        container_name = f"{name}-postgres"
        container = docker.Container(
            container_name,
            name=container_name,
            image=image.image_id,
            envs=[
                f"POSTGRES_USER={database.user}",
                f"POSTGRES_DB={database.name}",
                f"POSTGRES_PASSWORD_FILE={PASSWORD_FILE}",
                f"PGDATA={PGDATA}/pgdata",
            ],
            **bounded(self._host, self._host.memory.postgres),
            # The image's entrypoint reads the file again after dropping to the postgres user
            # (docker-library/postgres docker-entrypoint.sh: docker_setup_env, then exec su-exec postgres
            # "$BASH_SOURCE"), and the upload is root's (no owner in the provider's tar header): 0444.
            uploads=[docker.ContainerUploadArgs(file=PASSWORD_FILE, content=password, permissions="0444")],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume_name, container_path=PGDATA)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=self._network.name)],
            healthcheck=docker.ContainerHealthcheckArgs(
                # Over TCP: during initdb the entrypoint's temporary server listens on the socket only,
                # so this stays false until the real server is up.
                tests=["CMD", "pg_isready", "-h", "127.0.0.1", "-U", database.user, "-d", database.name],
                interval="10s",
                timeout="5s",
                retries=5,
                start_period="30s",
                # Only where the engine takes it (API 1.44+; components/docker/engine_api.py).
                start_interval=healthcheck_start_interval(2),
            ),
            restart="unless-stopped",
            wait=True,
            wait_timeout=180,
            # The provider would otherwise stop it with a timeout of 0, a kill
            # (resource_docker_container_funcs.go lines 1085-1093).
            destroy_grace_seconds=STOP_GRACE_SECONDS,
            stop_timeout=STOP_GRACE_SECONDS,
            opts=pulumi.ResourceOptions(parent=owner, delete_before_replace=True),
        )
        return PlatformPostgres(
            host=container_name,
            major=major,
            ready=[container],
            restore_command=container_restore_command(
                stack_name=name, database=database.name, user=database.user, host=container_name
            ),
        )

    def grant_schema(
        self,
        owner: pulumi.ComponentResource,
        name: str,
        database: Database,
        admin: ManagedAdmin,
        depends_on: list[pulumi.Resource],
    ) -> list[pulumi.Input[pulumi.Resource]]:
        # psql in a one-shot container on the Docker host. The admin password goes in a pgpass
        # file, never in the container's env or command.
        admin_pgpass = pulumi.Output.secret(
            pulumi.Output.all(admin.host, admin.port, admin.user, admin.password).apply(
                lambda v: pgpass_line(v[0], v[1], admin.database, v[2], v[3])
            )
        )
        image = docker.RemoteImage(
            f"{name}-psql-image",
            name=database.container_image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=owner),
        )
        uploads = [docker.ContainerUploadArgs(file=PGPASS_FILE, content=admin_pgpass, permissions="0600")]
        if admin.script is not None:
            # The script may set a password: a secret upload, like the pgpass file.
            uploads.append(docker.ContainerUploadArgs(file=GRANT_SCRIPT, content=admin.script, permissions="0600"))
        grant = docker.Container(
            f"{name}-grant",
            name=f"{name}-grant",
            image=image.image_id,
            envs=[f"PGPASSFILE={PGPASS_FILE}", "PGSSLMODE=require", "PGCONNECT_TIMEOUT=15"],
            uploads=uploads,
            command=grant_command(admin, GRANT_SCRIPT if admin.script is not None else None),
            **bounded(self._host, ONE_SHOT_MIB),
            user="0:0",
            must_run=False,
            attach=True,
            logs=True,
            opts=pulumi.ResourceOptions(parent=owner, depends_on=depends_on, delete_before_replace=True),
        )
        granted = exited_cleanly(grant, f"{name}-grant")
        return [granted.apply(lambda _: grant)]


def _same_major(
    volume_name: str, labels: list[dict[str, str]] | None, major: str, name: str, database: Database
) -> str:
    """The volume's name, if the data in it was written by ``major``; raises with the upgrade steps otherwise."""
    recorded = {item["label"]: item["value"] for item in labels or []}.get(POSTGRES_MAJOR_LABEL)
    if recorded is None:
        # Volumes made before the label existed: Postgres itself refuses a data directory of another
        # major ("database files are incompatible with server"), so the worst case is a failed start.
        return volume_name
    if recorded != major:
        steps = upgrade_steps(
            stack_name=name,
            user=database.user,
            database=database.name,
            old_major=recorded,
            new_major=major,
            image=database.container_image,
        )
        raise pulumi.RunError(
            f"matrix-media-repo:database.postgresVersion asks for Postgres {major}, but volume {volume_name} "
            f"holds data written by Postgres {recorded}, which {major} cannot open; nothing was changed. "
            f"To move the data: {steps}. To stay: pulumi config set --path database.postgresVersion {recorded}"
        )
    return volume_name
