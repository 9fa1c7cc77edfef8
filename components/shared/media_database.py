"""MMR's Postgres: one beside MMR on its platform, a managed DigitalOcean cluster or RDS instance, or one that exists.

What differs between a Docker host and Kubernetes (how Postgres runs beside MMR,
and where the one GRANT a managed cluster needs is run from) is asked of a
``DatabasePlatform``; the rest is written once here. The password and the
cluster stay children of this component on every platform, so their URNs do not
move (tests/test_urns.py).

pulumi_random, pulumi_digitalocean and pulumi_aws are imported inside the method that
needs them: a stack without that kind of database does not pay for loading them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pulumi

from config_schema.backup import managed_restore_command
from config_schema.database import Database
from config_schema.dsn import build_postgres_dsn, dsn_host
from config_schema.rds import grant_script
from config_schema.rds import restore_command as rds_restore_command

POSTGRES_PORT = 5432


@dataclass(frozen=True)
class PlatformPostgres:
    """What a platform made when it runs Postgres beside MMR."""

    # The name MMR reaches it by, on the platform's private network.
    host: str
    major: str
    # What MMR must wait for before it starts.
    ready: list[pulumi.Input[pulumi.Resource]]
    restore_command: str


@dataclass(frozen=True)
class ManagedAdmin:
    """The admin connection of a managed cluster, for the one GRANT MMR's user needs."""

    host: pulumi.Output[str]
    port: pulumi.Output[Any]
    user: pulumi.Output[str]
    password: pulumi.Output[str]
    database: str
    grantee: str
    # A SQL script to run instead of the one GRANT, secret (it may set a password): the platform hands
    # it to psql as a file, never in a command, an env or a manifest.
    script: pulumi.Output[str] | None = None


class DatabasePlatform(Protocol):
    def run_postgres(
        self, owner: pulumi.ComponentResource, name: str, database: Database, password: pulumi.Output[str]
    ) -> PlatformPostgres: ...

    def grant_schema(
        self,
        owner: pulumi.ComponentResource,
        name: str,
        database: Database,
        admin: ManagedAdmin,
        depends_on: list[pulumi.Resource],
    ) -> list[pulumi.Input[pulumi.Resource]]:
        """Runs ``GRANT CREATE, USAGE ON SCHEMA public`` once; returns what MMR must wait for."""
        ...


class MediaDatabase(pulumi.ComponentResource):
    """Exposes ``dsn`` (secret, in the form MMR's lib/pq reads) and ``host``."""

    dsn: pulumi.Output[str]
    host: pulumi.Output[str]
    # beside MMR: what a backup connects with (the name on the private network, the password)
    container_name: str | None = None
    password: pulumi.Output[str] | None = None
    postgres_major: str | None = None
    # digitalocean provider: the managed cluster's id, for its backups and restores
    cluster_id: pulumi.Output[str] | None = None
    # aws provider: the RDS instance's identifier
    instance_id: pulumi.Output[str] | None = None
    # What MMR must wait for before it starts.
    ready: list[pulumi.Input[pulumi.Resource]]

    def __init__(
        self,
        name: str,
        database: Database,
        *,
        platform: DatabasePlatform,
        trusted_droplet_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``trusted_droplet_id``: a droplet the program made for MMR, which a managed cluster's firewall admits."""
        super().__init__("matrix-media-repo:index:MediaDatabase", name, None, opts)
        self._trusted_droplet_id = trusted_droplet_id
        self._name = name
        self._database = database
        self._platform = platform
        self.settings = database
        self.restore_command: pulumi.Output[str] | None = None
        if database.provider == "container":
            self._beside_media_repo()
        elif database.provider == "digitalocean":
            self._digitalocean()
        elif database.provider == "aws":
            self._aws()
        else:
            self._external()
        self.register_outputs({"dsn": self.dsn, "host": self.host})

    def _mmr_password(self) -> pulumi.Output[str]:
        """MMR's password. The data keeps it from its first use on, so it must never be regenerated: it is as
        protected as the data."""
        import pulumi_random as random

        password = random.RandomPassword(
            f"{self._name}-password",
            length=32,
            special=True,
            override_special="%@:/?#_-",
            opts=pulumi.ResourceOptions(parent=self, protect=self._database.protect, retain_on_delete=True),
        )
        return pulumi.Output.secret(password.result)

    def _tls_connection(self, password: pulumi.Output[str], host: pulumi.Output[str], port: pulumi.Output[Any]) -> None:
        """``dsn`` and ``host`` of a managed database, which accepts TLS connections only."""
        database = self._database
        self.dsn = pulumi.Output.secret(
            pulumi.Output.all(password, host, port).apply(
                lambda v: build_postgres_dsn(
                    user=database.user,
                    password=v[0],
                    host=v[1],
                    port=int(v[2]),
                    database=database.name,
                    sslmode="require",
                )
            )
        )
        self.host = pulumi.Output.all(host, port).apply(lambda v: f"{v[0]}:{v[1]}")

    def _beside_media_repo(self) -> None:
        name, database = self._name, self._database
        secret_password = self._mmr_password()
        postgres = self._platform.run_postgres(self, name, database, secret_password)
        self.dsn = pulumi.Output.secret(
            secret_password.apply(
                lambda secret: build_postgres_dsn(
                    user=database.user,
                    password=secret,
                    host=postgres.host,
                    port=POSTGRES_PORT,
                    database=database.name,
                    # Postgres is reachable on the private network only, and the image has no certificate.
                    sslmode="disable",
                )
            )
        )
        self.host = pulumi.Output.from_input(f"{postgres.host}:{POSTGRES_PORT}")
        self.ready = postgres.ready
        self.container_name, self.password, self.postgres_major = postgres.host, secret_password, postgres.major
        self.restore_command = pulumi.Output.from_input(postgres.restore_command)

    def _digitalocean(self) -> None:
        import pulumi_digitalocean as digitalocean

        name, database = self._name, self._database
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
            ]
            + (
                [digitalocean.DatabaseFirewallRuleArgs(type="droplet", value=self._trusted_droplet_id)]
                if self._trusted_droplet_id is not None
                else []
            ),
            opts=cluster_child,
        )
        # Since Postgres 15 only a database's owner may create tables in its public schema, and
        # DigitalOcean makes its admin the owner. MMR runs its migrations at every start, so its
        # user is granted that right once, from where MMR runs (which the firewall admits, as MMR
        # needs it to).
        admin = ManagedAdmin(
            host=cluster.host,
            port=cluster.port,
            user=cluster.user,
            password=pulumi.Output.secret(cluster.password),
            database=database.name,
            grantee=database.user,
        )
        granted = self._platform.grant_schema(self, name, database, admin, [db, user, firewall])
        # DigitalOcean's clusters accept TLS connections only.
        self._tls_connection(pulumi.Output.secret(user.password), cluster.host, cluster.port)
        self.cluster_id = cluster.id
        self.restore_command = cluster.id.apply(lambda cluster_id: managed_restore_command(cluster_id, name))
        self.ready = [*granted, firewall]

    def _aws(self) -> None:
        from components.shared.rds_instance import create_rds_instance

        name, database = self._name, self._database
        rds = create_rds_instance(self, name, database)
        instance = rds.instance
        # MMR's own role, which the grant script creates with this password.
        secret_password = self._mmr_password()
        admin = ManagedAdmin(
            host=instance.address,
            port=instance.port,
            user=instance.username,
            password=rds.admin_password,
            # RDS makes this database at creation; MMR's is made by the script.
            database="postgres",
            grantee=database.user,
            script=pulumi.Output.secret(
                secret_password.apply(lambda secret: grant_script(database.user, secret, database.name))
            ),
        )
        granted = self._platform.grant_schema(self, name, database, admin, [instance])
        # rds.force_ssl is on; verify-full would need the RDS CA bundle in MMR's image (README, AWS S3 and RDS).
        self._tls_connection(secret_password, instance.address, instance.port)
        self.instance_id = instance.identifier
        self.restore_command = pulumi.Output.all(
            instance.identifier, rds.subnet_group.name, rds.security_group.id
        ).apply(lambda v: rds_restore_command(v[0], v[1], v[2]))
        self.ready = granted

    def _external(self) -> None:
        dsn = self._database.dsn or ""
        self.dsn = pulumi.Output.secret(dsn)
        self.host = pulumi.Output.from_input(dsn_host(dsn))
        self.ready = []


def grant_command(admin: ManagedAdmin, script_path: str | None = None) -> pulumi.Output[list[str]]:
    """psql running the one GRANT, or the script at ``script_path``, stopping at the first error.

    The password comes from a pgpass file or the environment, never from here.
    """
    if script_path:
        what = f"--file={script_path}"
    else:
        what = f'--command=GRANT CREATE, USAGE ON SCHEMA public TO "{admin.grantee}"'
    return pulumi.Output.all(admin.host, admin.port, admin.user).apply(
        lambda v: [
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            f"--host={v[0]}",
            f"--port={v[1]}",
            f"--username={v[2]}",
            f"--dbname={admin.database}",
            what,
        ]
    )


def pgpass_line(host: str, port: Any, database: str, user: str, password: str) -> str:
    """One line of a pgpass file, which separates fields with ':' and escapes with '\\'."""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    return f"{host}:{port}:{database}:{user}:{escape(password)}\n"
