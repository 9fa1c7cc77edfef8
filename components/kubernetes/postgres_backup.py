"""Scheduled dumps of the in-cluster Postgres: a CronJob, its PVC, and a suspended CronJob that restores.

The same image, settings, retention and S3 copy as on a Docker host (config_schema/backup.py).
On Docker the image's own scheduler (go-cron, from init.sh) runs ``/backup.sh``; here a
CronJob runs ``/backup.sh`` itself, once per schedule. The restore is a CronJob too, but
suspended: it never runs by itself, and ``kubectl create job --from`` runs it when asked, with
the mounts and the password it needs and no secret on anyone's command line.
"""

from __future__ import annotations

import posixpath

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.objects import (
    DATABASE_CLIENT_LABEL,
    MMR_PROCESS_LABEL,
    container_security,
    labels,
    manifest,
    pod_security,
    retained_claim,
)
from components.kubernetes.postgres import POSTGRES_UID
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
    latest_dump,
    s3_copy_hook,
)
from config_schema.kubernetes import Kubernetes, max_workers
from config_schema.postgres_data import restore_command

# The password and the S3 key sit at the paths the Docker side uploads them to, both in /run.
RUN_DIR = posixpath.dirname(PASSWORD_FILE)
assert posixpath.dirname(S3_CREDENTIALS_FILE) == RUN_DIR


class KubernetesPostgresBackup(pulumi.ComponentResource):
    """Exposes ``restore_command``: stop MMR, restore the newest dump, start MMR again."""

    restore_command: str

    def __init__(
        self,
        name: str,
        backup: Backup,
        settings: Kubernetes,
        *,
        namespace: pulumi.Input[str],
        database: MediaDatabase,
        s3_upload: pulumi.Output[BackupUpload] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:KubernetesPostgresBackup", name, None, opts)
        if database.container_name is None or database.password is None or database.postgres_major is None:
            raise ValueError("only a Postgres this program runs is backed up by it")
        child = pulumi.ResourceOptions(parent=self)
        claim_name = f"{name}-backups"
        volume = settings.backup_volume
        # The dumps outlive every pod and every config change, like the data they copy.
        retained_claim(
            claim_name,
            namespace=namespace,
            instance=name,
            component="backup",
            access_mode="ReadWriteOnce",
            storage_class=volume.storage_class,
            size=volume.size,
            protect=backup.protect,
            parent=self,
        )
        files: dict[str, pulumi.Input[str]] = {posixpath.basename(PASSWORD_FILE): database.password}
        if s3_upload is not None:
            files[posixpath.basename(S3_CREDENTIALS_FILE)] = pulumi.Output.secret(
                s3_upload.apply(lambda upload: curl_credentials(upload.access_key_id, upload.secret))
            )
        secret = kubernetes.core.v1.Secret(
            f"{name}-backup",
            metadata={"namespace": namespace, "labels": labels(name, "backup")},
            string_data=files,
            opts=child,
        )
        run_files = [{"key": key, "path": key} for key in files]
        volumes: list[dict[str, object]] = [
            {"name": "backups", "persistentVolumeClaim": {"claimName": claim_name}},
            {"name": "run", "secret": {"secretName": secret.metadata.name, "defaultMode": 0o440, "items": run_files}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ]
        mounts: list[dict[str, object]] = [
            {"name": "backups", "mountPath": BACKUP_DIR},
            {"name": "run", "mountPath": RUN_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ]
        postgres = database.settings
        env: list[pulumi.Input[dict[str, str]]] = [
            {"name": key, "value": value}
            for key, value in (
                item.split("=", 1)
                for item in backup_environment(
                    backup, host=database.container_name, port=POSTGRES_PORT, database=postgres.name, user=postgres.user
                )
            )
            # The CronJob is the scheduler here; the image's go-cron never starts.
            if key not in ("SCHEDULE", "BACKUP_ON_START")
        ]
        if s3_upload is not None:
            hook = kubernetes.core.v1.ConfigMap(
                f"{name}-backup-hooks",
                metadata={"namespace": namespace, "labels": labels(name, "backup")},
                data={HOOK_PATH.rsplit("/", 1)[1]: s3_copy_hook()},
                opts=child,
            )
            volumes.append({"name": "hooks", "configMap": {"name": hook.metadata.name, "defaultMode": 0o555}})
            mounts.append({"name": "hooks", "mountPath": HOOK_PATH.rsplit("/", 1)[0], "readOnly": True})
            env += [
                s3_upload.apply(lambda upload: {"name": "S3_URL", "value": upload.url}),
                s3_upload.apply(lambda upload: {"name": "S3_REGION", "value": upload.region}),
            ]
        image = backup_image(backup, database.postgres_major)

        def job_template(component: str, command: list[str], *, retries: int, deadline: int) -> dict[str, object]:
            return {
                "spec": {
                    "backoffLimit": retries,
                    # A hung pg_dump or pg_restore is ended: with concurrencyPolicy Forbid it would block every
                    # later run.
                    "activeDeadlineSeconds": deadline,
                    "template": {
                        "metadata": {"labels": {**labels(name, component), DATABASE_CLIENT_LABEL: "true"}},
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "enableServiceLinks": False,
                            "securityContext": pod_security(POSTGRES_UID),
                            "containers": [
                                {
                                    "name": component,
                                    "image": image,
                                    "command": command,
                                    "env": env,
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "128Mi"},
                                        "limits": {"memory": "512Mi"},
                                    },
                                    "securityContext": container_security(),
                                    "volumeMounts": mounts,
                                }
                            ],
                            "volumes": volumes,
                        },
                    },
                }
            }

        cron_job_name = f"{name}-postgres-backup"
        kubernetes.batch.v1.CronJob(
            cron_job_name,
            metadata={"name": cron_job_name, "namespace": namespace, "labels": labels(name, "backup")},
            spec=manifest(
                {
                    "schedule": backup.schedule,
                    # The README promises UTC; without it the controller manager's zone applies.
                    "timeZone": "Etc/UTC",
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": 3600,
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": job_template(
                        "backup", ["/backup.sh"], retries=2, deadline=settings.backup_deadline_seconds
                    ),
                }
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=database.ready),
        )
        restore_name = f"{name}-postgres-restore"
        restore = " ".join(
            [
                *restore_command(postgres.user, postgres.name),
                f"--host={database.container_name}",
                # All or nothing: a restore that fails halfway leaves the database as it was.
                "--single-transaction",
                latest_dump(postgres.name),
            ]
        )
        kubernetes.batch.v1.CronJob(
            restore_name,
            metadata={"name": restore_name, "namespace": namespace, "labels": labels(name, "restore")},
            spec=manifest(
                {
                    # Never on its own: run with `kubectl create job --from=cronjob/...` (the restore command).
                    "suspend": True,
                    "schedule": "@yearly",
                    "timeZone": "Etc/UTC",
                    "jobTemplate": job_template(
                        "restore",
                        ["/bin/sh", "-c", f'PGPASSWORD="$(cat {PASSWORD_FILE})" exec {restore}'],
                        # Never retried: one transaction either applied or not, and the operator reads why.
                        retries=0,
                        deadline=settings.backup_deadline_seconds,
                    ),
                }
            ),
            opts=child,
        )
        self.restore_command = restore_steps(name, settings, restore_name, workers=max_workers(settings) > 0)
        self.register_outputs({"restoreCommand": self.restore_command})


def restore_steps(name: str, settings: Kubernetes, restore_cron_job: str, *, workers: bool) -> str:
    """Stop every MMR process and wait until none runs, restore in one Job, then start machine 0 first.

    The Job's outcome is polled rather than waited on for ``complete`` alone, so that a failed
    restore stops the chain at once (with its log) instead of after the wait's timeout. MMR stays
    stopped then: the database is as it was, and the operator decides.
    """
    kubectl = f"kubectl --namespace {settings.namespace}"
    job = f"{name}-restore"
    processes = f"app.kubernetes.io/instance={name},{MMR_PROCESS_LABEL}=true"
    mmr = f"statefulset/{name}-primary" + (f" statefulset/{name}-workers" if workers else "")
    poll = (
        f"(for attempt in $(seq {settings.backup_deadline_seconds // 5 + 12}); do "
        f"outcome=$({kubectl} get job {job} -o jsonpath='{{.status.succeeded}}/{{.status.failed}}'); "
        f'case "$outcome" in 1/*) exit 0;; */[1-9]*) {kubectl} logs job/{job}; exit 1;; esac; sleep 5; done; exit 1)'
    )
    steps = [
        f"{kubectl} scale {mmr} --replicas=0",
        # With no pod left to match, `kubectl wait --for=delete` succeeds (kubectl pkg/cmd/wait/wait.go:
        # errNoMatchingResources is returned only when not waiting for deletion).
        f"{kubectl} wait --for=delete pod --selector={processes} --timeout=10m",
        f"{kubectl} create job {job} --from=cronjob/{restore_cron_job}",
        poll,
        f"{kubectl} delete job {job}",
        f"{kubectl} scale statefulset/{name}-primary --replicas=1",
        f"{kubectl} rollout status statefulset/{name}-primary --timeout=20m",
    ]
    if workers:
        steps.append(f"{kubectl} scale statefulset/{name}-workers --replicas={settings.replicas - 1}")
    return " && ".join(steps)
