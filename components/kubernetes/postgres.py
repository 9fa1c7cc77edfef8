"""Postgres on Kubernetes: a one-replica StatefulSet beside MMR, and the Job a managed cluster's GRANT runs in.

``MediaDatabase`` (components/shared/media_database.py) owns what is made here. The
data lives on a PVC of its own rather than a volumeClaimTemplate, so that Pulumi
protects it and keeps it when the stack is destroyed.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.objects import (
    DATABASE_CLIENT_LABEL,
    admit_only,
    container_security,
    labels,
    manifest,
    pod_security,
    retained_claim,
    rollout_timeouts,
    selector,
)
from components.shared.media_database import POSTGRES_PORT, ManagedAdmin, PlatformPostgres, grant_command
from config_schema.database import Database
from config_schema.kubernetes import Kubernetes, max_workers
from config_schema.postgres_data import POSTGRES_MAJOR_ANNOTATION, image_major, kubernetes_upgrade_steps

# The alpine images' postgres user and group (docker-library/postgres alpine Dockerfile: -u 70 -G postgres).
# The entrypoint runs as it unchanged: it skips its chowns and gosu when not root, and ignores a failed
# chmod of /var/run/postgresql (17/alpine3.22/docker-entrypoint.sh, docker_create_db_directories and _main).
POSTGRES_UID = 70
PASSWORD_DIR = "/run/secrets/postgres"
GRANT_DIR = "/run/secrets/grant"
DATA_DIR = "/var/lib/postgresql/data"
# Postgres finishes a checkpoint before it stops; killed, it replays its WAL at the next start.
STOP_GRACE_SECONDS = 60


class KubernetesDatabasePlatform:
    def __init__(self, namespace: pulumi.Input[str], settings: Kubernetes) -> None:
        self._namespace = namespace
        self._settings = settings

    def run_postgres(
        self, owner: pulumi.ComponentResource, name: str, database: Database, password: pulumi.Output[str]
    ) -> PlatformPostgres:
        namespace, volume = self._namespace, self._settings.postgres_volume
        child = pulumi.ResourceOptions(parent=owner)
        host = f"{name}-postgres"
        secret = kubernetes.core.v1.Secret(
            f"{name}-postgres-password",
            metadata={"namespace": namespace, "labels": labels(name, "postgres")},
            string_data={"password": password},
            opts=child,
        )
        claim_name = f"{name}-postgres-data"
        major = image_major(database.container_image, database.postgres_version)
        claim = retained_claim(
            claim_name,
            namespace=namespace,
            instance=name,
            component="postgres",
            access_mode="ReadWriteOnce",
            storage_class=volume.storage_class,
            size=volume.size,
            protect=database.protect,
            parent=owner,
            annotations={POSTGRES_MAJOR_ANNOTATION: major},
        )
        # Resolves in the preview from the PVC's recorded annotation, before the StatefulSet can change.
        checked_claim_name = claim.metadata.apply(
            lambda metadata: self._same_major(claim_name, (metadata or {}).get("annotations"), major, name, database)
        )
        pods = selector(name, "postgres")
        pg_isready = ["pg_isready", "-h", "127.0.0.1", "-U", database.user, "-d", database.name]
        statefulset = kubernetes.apps.v1.StatefulSet(
            host,
            metadata={
                "name": host,
                "namespace": namespace,
                "labels": labels(name, "postgres"),
            },
            spec=manifest(
                {
                    "replicas": 1,
                    "serviceName": host,
                    "selector": {"matchLabels": pods},
                    "template": {
                        "metadata": {"labels": labels(name, "postgres")},
                        "spec": {
                            "automountServiceAccountToken": False,
                            "securityContext": pod_security(POSTGRES_UID),
                            "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
                            "containers": [
                                {
                                    "name": "postgres",
                                    "image": database.container_image,
                                    "env": [
                                        {"name": "POSTGRES_USER", "value": database.user},
                                        {"name": "POSTGRES_DB", "value": database.name},
                                        {"name": "POSTGRES_PASSWORD_FILE", "value": f"{PASSWORD_DIR}/password"},
                                        # A subdirectory: a volume's root may hold lost+found, which initdb refuses.
                                        {"name": "PGDATA", "value": f"{DATA_DIR}/pgdata"},
                                    ],
                                    "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                                    "startupProbe": _probe(pg_isready, period=5, failures=60),
                                    "readinessProbe": _probe(pg_isready, period=10, failures=3),
                                    "livenessProbe": _probe(pg_isready, period=30, failures=4),
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "256Mi"},
                                        "limits": {"memory": "1Gi"},
                                    },
                                    "securityContext": container_security(),
                                    "volumeMounts": [
                                        {"name": "data", "mountPath": DATA_DIR},
                                        {"name": "password", "mountPath": PASSWORD_DIR, "readOnly": True},
                                        # The image writes its socket and lock here and nowhere else outside PGDATA.
                                        {"name": "run", "mountPath": "/var/run/postgresql"},
                                        {"name": "tmp", "mountPath": "/tmp"},
                                    ],
                                }
                            ],
                            "volumes": [
                                {"name": "data", "persistentVolumeClaim": {"claimName": checked_claim_name}},
                                {
                                    "name": "password",
                                    "secret": {"secretName": secret.metadata.name, "defaultMode": 0o440},
                                },
                                {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}},
                                {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                            ],
                        },
                    },
                }
            ),
            opts=pulumi.ResourceOptions(parent=owner, custom_timeouts=rollout_timeouts()),
        )
        kubernetes.core.v1.Service(
            host,
            metadata={"name": host, "namespace": namespace, "labels": labels(name, "postgres")},
            spec=manifest(
                {"selector": pods, "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres"}]}
            ),
            opts=child,
        )
        admit_only(
            f"{name}-postgres-clients",
            namespace=namespace,
            instance=name,
            to_pods=pods,
            sources=[{"podSelector": {"matchLabels": {DATABASE_CLIENT_LABEL: "true"}}}],
            ports=[POSTGRES_PORT],
            opts=child,
        )
        return PlatformPostgres(
            host=host,
            major=major,
            ready=[statefulset],
            restore_command=(
                f"kubectl --namespace {self._settings.namespace} exec -i statefulset/{host} -- "
                f"pg_restore --clean --if-exists --no-owner -U {database.user} -d {database.name} < <dump file>"
            ),
        )

    def _same_major(
        self, claim_name: str, annotations: dict[str, str] | None, major: str, name: str, database: Database
    ) -> str:
        """The claim's name, if its data was written by ``major``; raises with the upgrade steps otherwise."""
        recorded = (annotations or {}).get(POSTGRES_MAJOR_ANNOTATION)
        if recorded is None or recorded == major:
            # A PVC made before the annotation existed: Postgres itself refuses another major's data.
            return claim_name
        steps = kubernetes_upgrade_steps(
            stack_name=name,
            namespace=self._settings.namespace,
            user=database.user,
            database=database.name,
            old_major=recorded,
            new_major=major,
            workers=max_workers(self._settings) > 0,
        )
        raise pulumi.RunError(
            f"matrix-media-repo:database.postgresVersion asks for Postgres {major}, but PVC {claim_name} holds "
            f"data written by Postgres {recorded}, which {major} cannot open; nothing was changed. To move the "
            f"data: {steps}. To stay: pulumi config set --path database.postgresVersion {recorded}"
        )

    def grant_schema(
        self,
        owner: pulumi.ComponentResource,
        name: str,
        database: Database,
        admin: ManagedAdmin,
        depends_on: list[pulumi.Resource],
    ) -> list[pulumi.Input[pulumi.Resource]]:
        child = pulumi.ResourceOptions(parent=owner)
        secret = kubernetes.core.v1.Secret(
            f"{name}-grant-password",
            metadata={"namespace": self._namespace, "labels": labels(name, "grant")},
            string_data={"password": admin.password, **({"grant.sql": admin.script} if admin.script else {})},
            opts=child,
        )
        # The script may set a password: it reaches psql as a file from the Secret, never in the manifest.
        script_volumes = (
            [
                {
                    "name": "grant",
                    "secret": {
                        "secretName": secret.metadata.name,
                        "items": [{"key": "grant.sql", "path": "grant.sql", "mode": 0o440}],
                    },
                }
            ]
            if admin.script
            else []
        )
        script_mounts = [{"name": "grant", "mountPath": GRANT_DIR, "readOnly": True}] if admin.script else []
        # libpq ignores a pgpass file that its group may read, which is how a Secret volume with an
        # fsGroup is mounted; PGPASSWORD from the Secret keeps the password out of the manifest.
        job = kubernetes.batch.v1.Job(
            f"{name}-grant",
            metadata={"namespace": self._namespace, "labels": labels(name, "grant")},
            spec=manifest(
                {
                    "backoffLimit": 3,
                    "activeDeadlineSeconds": 600,
                    "template": {
                        "metadata": {"labels": labels(name, "grant")},
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "securityContext": pod_security(POSTGRES_UID),
                            "volumes": script_volumes,
                            "containers": [
                                {
                                    "name": "psql",
                                    "image": database.container_image,
                                    "command": grant_command(admin, f"{GRANT_DIR}/grant.sql" if admin.script else None),
                                    "volumeMounts": script_mounts,
                                    "env": [
                                        {"name": "PGSSLMODE", "value": "require"},
                                        {"name": "PGCONNECT_TIMEOUT", "value": "15"},
                                        {
                                            "name": "PGPASSWORD",
                                            "valueFrom": {
                                                "secretKeyRef": {"name": secret.metadata.name, "key": "password"}
                                            },
                                        },
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "10m", "memory": "32Mi"},
                                        "limits": {"memory": "64Mi"},
                                    },
                                    "securityContext": container_security(),
                                }
                            ],
                        },
                    },
                }
            ),
            # Pulumi waits for a Job to complete and fails the update when it fails.
            opts=pulumi.ResourceOptions(parent=owner, depends_on=depends_on),
        )
        return [job]


def _probe(command: list[str], *, period: int, failures: int) -> dict[str, Any]:
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}
