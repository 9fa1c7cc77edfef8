"""MMR's Postgres: a container beside it, a managed DigitalOcean cluster, or a server that exists.

pulumi_random and pulumi_digitalocean are imported inside the method that
needs them: a stack without that kind of database does not pay for loading them.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.one_shot import exited_cleanly
from config_schema.backup import container_restore_command, managed_restore_command
from config_schema.database import Database
from config_schema.dsn import build_postgres_dsn, dsn_host
from config_schema.postgres_data import POSTGRES_MAJOR_LABEL, image_major, upgrade_steps

POSTGRES_PORT = 5432
# The postgres image reads the superuser password from this file at first
# start, so the password never shows in `docker inspect`.
PASSWORD_FILE = "/run/postgres-password"
PGDATA = "/var/lib/postgresql/data"
PGPASS_FILE = "/root/.pgpass"
# Postgres finishes a checkpoint before it stops; killed, it replays its WAL at the next start.
STOP_GRACE_SECONDS = 60


class MediaDatabase(pulumi.ComponentResource):
    """Exposes ``dsn`` (secret, in the form MMR's lib/pq reads) and ``host``."""

    dsn: pulumi.Output[str]
    host: pulumi.Output[str]
    # container provider: what a backup connects with (the name on the private network, the password)
    container_name: str | None = None
    password: pulumi.Output[str] | None = None
    postgres_major: str | None = None
    # digitalocean provider: the managed cluster's id, for its backups and restores
    cluster_id: pulumi.Output[str] | None = None
    # What MMR's container must wait for before it starts.
    ready: list[pulumi.Input[pulumi.Resource]]

    def __init__(
        self,
        name: str,
        database: Database,
        *,
        private_network: docker.Network | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:MediaDatabase", name, None, opts)
        self._name = name
        self._database = database
        self.settings = database
        self.restore_command: pulumi.Output[str] | None = None
        if database.provider == "container":
            if private_network is None:
                raise ValueError("a container database needs the private network")
            self._container(private_network)
        elif database.provider == "digitalocean":
            self._digitalocean()
        else:
            self._external()
        self.register_outputs({"dsn": self.dsn, "host": self.host})

    def _container(self, network: docker.Network) -> None:
        import pulumi_random as random

        name, database = self._name, self._database
        stateful = pulumi.ResourceOptions(parent=self, protect=database.protect, retain_on_delete=True)
        # The data volume keeps this password from its first start on, so the
        # password must never be regenerated: it is as protected as the volume.
        password = random.RandomPassword(
            f"{name}-password",
            length=32,
            special=True,
            override_special="%@:/?#_-",
            opts=stateful,
        )
        secret_password = pulumi.Output.secret(password.result)
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
            opts=pulumi.ResourceOptions(parent=self),
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
            # The image's entrypoint reads the file again after dropping to the postgres user
            # (docker-library/postgres docker-entrypoint.sh: docker_setup_env, then exec su-exec postgres
            # "$BASH_SOURCE"), and the upload is root's (no owner in the provider's tar header): 0444.
            uploads=[docker.ContainerUploadArgs(file=PASSWORD_FILE, content=secret_password, permissions="0444")],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume_name, container_path=PGDATA)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name)],
            healthcheck=docker.ContainerHealthcheckArgs(
                # Over TCP: during initdb the entrypoint's temporary server
                # listens on the socket only, so this stays false until the
                # real server is up.
                tests=["CMD", "pg_isready", "-h", "127.0.0.1", "-U", database.user, "-d", database.name],
                interval="10s",
                timeout="5s",
                retries=5,
                start_period="30s",
                start_interval="2s",
            ),
            restart="unless-stopped",
            wait=True,
            wait_timeout=180,
            # The provider would otherwise stop it with a timeout of 0, a kill
            # (resource_docker_container_funcs.go lines 1085-1093).
            destroy_grace_seconds=STOP_GRACE_SECONDS,
            stop_timeout=STOP_GRACE_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.dsn = pulumi.Output.secret(
            secret_password.apply(
                lambda secret: build_postgres_dsn(
                    user=database.user,
                    password=secret,
                    host=container_name,
                    port=POSTGRES_PORT,
                    database=database.name,
                    # Postgres is reachable on the internal network only, and the
                    # image has no certificate.
                    sslmode="disable",
                )
            )
        )
        self.host = pulumi.Output.from_input(f"{container_name}:{POSTGRES_PORT}")
        self.ready = [container]
        self.container_name, self.password, self.postgres_major = container_name, secret_password, major
        self.restore_command = pulumi.Output.from_input(
            container_restore_command(stack_name=name, database=database.name, user=database.user, host=container_name)
        )

    def _digitalocean(self) -> None:
        import pulumi_digitalocean as digitalocean

        name, database = self._name, self._database
        child = pulumi.ResourceOptions(parent=self)
        cluster = digitalocean.DatabaseCluster(
            f"{name}-cluster",
            engine="pg",
            version=database.postgres_version,
            size=database.size,
            region=database.region,
            node_count=database.node_count,
            opts=pulumi.ResourceOptions(parent=self, protect=database.protect, retain_on_delete=database.protect),
        )
        cluster_child = pulumi.ResourceOptions(parent=self, depends_on=[cluster])
        db = digitalocean.DatabaseDb(f"{name}-db", cluster_id=cluster.id, name=database.name, opts=cluster_child)
        user = digitalocean.DatabaseUser(f"{name}-user", cluster_id=cluster.id, name=database.user, opts=cluster_child)
        firewall = digitalocean.DatabaseFirewall(
            f"{name}-firewall",
            cluster_id=cluster.id,
            rules=[
                digitalocean.DatabaseFirewallRuleArgs(type=source.type, value=source.value)
                for source in database.trusted_sources
            ],
            opts=cluster_child,
        )
        # Since Postgres 15 only a database's owner may create tables in its
        # public schema, and DigitalOcean makes its admin the owner. MMR runs
        # its migrations at every start, so its user is granted that right, by
        # psql in a one-shot container on the Docker host (which the firewall
        # admits, as MMR needs it to). The admin password goes in a pgpass
        # file, never in the container's env or command.
        admin_pgpass = pulumi.Output.secret(
            pulumi.Output.all(cluster.host, cluster.port, cluster.user, cluster.password).apply(
                lambda v: f"{v[0]}:{v[1]}:{database.name}:{v[2]}:{_pgpass_escape(v[3])}\n"
            )
        )
        image = docker.RemoteImage(
            f"{name}-psql-image",
            name=database.container_image,
            keep_locally=True,
            opts=child,
        )
        grant = docker.Container(
            f"{name}-grant",
            name=f"{name}-grant",
            image=image.image_id,
            envs=[f"PGPASSFILE={PGPASS_FILE}", "PGSSLMODE=require", "PGCONNECT_TIMEOUT=15"],
            uploads=[docker.ContainerUploadArgs(file=PGPASS_FILE, content=admin_pgpass, permissions="0600")],
            command=pulumi.Output.all(cluster.host, cluster.port, cluster.user).apply(
                lambda v: [
                    "psql",
                    "-v",
                    "ON_ERROR_STOP=1",
                    f"--host={v[0]}",
                    f"--port={v[1]}",
                    f"--username={v[2]}",
                    f"--dbname={database.name}",
                    f'--command=GRANT CREATE, USAGE ON SCHEMA public TO "{database.user}"',
                ]
            ),
            user="0:0",
            must_run=False,
            attach=True,
            logs=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[db, user, firewall], delete_before_replace=True),
        )
        user_password = pulumi.Output.secret(user.password)
        self.dsn = pulumi.Output.secret(
            pulumi.Output.all(user_password, cluster.host, cluster.port).apply(
                lambda v: build_postgres_dsn(
                    user=database.user,
                    password=v[0],
                    host=v[1],
                    port=int(v[2]),
                    database=database.name,
                    # DigitalOcean's clusters accept TLS connections only.
                    sslmode="require",
                )
            )
        )
        self.host = pulumi.Output.all(cluster.host, cluster.port).apply(lambda v: f"{v[0]}:{v[1]}")
        self.cluster_id = cluster.id
        self.restore_command = cluster.id.apply(lambda cluster_id: managed_restore_command(cluster_id, name))
        granted = exited_cleanly(grant, f"{name}-grant")
        self.ready = [granted.apply(lambda _: grant), firewall]

    def _external(self) -> None:
        dsn = self._database.dsn or ""
        self.dsn = pulumi.Output.secret(dsn)
        self.host = pulumi.Output.from_input(dsn_host(dsn))
        self.ready = []


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


def _pgpass_escape(value: str) -> str:
    """pgpass separates fields with ':' and escapes with '\\'."""
    return value.replace("\\", "\\\\").replace(":", "\\:")
