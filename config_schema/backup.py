"""Scheduled database backups: what an operator sets, and what the backup container is told.

Where the program runs Postgres itself (``database.provider: container``), a
container of ``prodrigestivill/postgres-backup-local`` dumps it on a schedule.
That image was chosen because it is maintained, built on the official postgres
image (so its ``pg_dump`` matches the server's major), reads the password from a
file (``POSTGRES_PASSWORD_FILE``), keeps daily, weekly and monthly dumps with
retention by age, and runs hook scripts after each dump, which the copy to S3
uses. Its settings are environment variables (``env.sh`` and ``backup.sh`` in
prodrigestivill/docker-postgres-backup-local at d257e5d), rendered here.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from config_schema.common import ConfigModel
from config_schema.errors import ConfigError
from config_schema.images import check_pinned_image, default_backup_image
from config_schema.postgres_data import restore_command

BACKUP_DIR = "/backups"
DUMP_SUFFIX = ".dump"
PASSWORD_FILE = "/run/postgres-password"
# What robfig/cron (go-cron, the image's scheduler) accepts: a descriptor, or five or six fields.
_SCHEDULE = re.compile(r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every \d+[smh]|(\S+\s+){4,5}\S+)$")


class BackupRetention(ConfigModel):
    # Dumps kept by age, in days; one per day, per week and per month is kept as long as its field says.
    days: int = Field(default=7, ge=1)
    weeks: int = Field(default=4, ge=0)
    months: int = Field(default=6, ge=0)


class Backup(ConfigModel):
    # None: on wherever the program runs the database (the container provider).
    enabled: bool | None = None
    schedule: str = "@daily"
    retention: BackupRetention = Field(default_factory=BackupRetention)
    # Copy each dump to the stack's S3 bucket, under backups/, with a key that cannot delete (aws only).
    s3: bool = False
    # None: prodrigestivill/postgres-backup-local at the database's major.
    image: str | None = None
    # the backup volume: protected against `pulumi destroy` and kept on delete
    protect: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _SCHEDULE.match(value.strip()):
            raise ConfigError(
                f"{value!r} is not a schedule the backup container reads (@daily, @every 6h, or cron fields)"
            )
        return value.strip()


def kubernetes_schedule(schedule: str) -> bool:
    """Whether a CronJob reads it: five cron fields or a descriptor, but neither @every nor a seconds field."""
    return not schedule.startswith("@every") and (schedule.startswith("@") or len(schedule.split()) == 5)


def backup_image(backup: Backup, postgres_major: str) -> str:
    """The backup image: its pg_dump must be of the server's major or newer."""
    return backup.image or default_backup_image(postgres_major)


def backup_environment(
    backup: Backup, *, host: str, port: int, database: str, user: str, password_file: str = PASSWORD_FILE
) -> list[str]:
    """The backup container's settings; the password comes from a file, never from here."""
    retention = backup.retention
    return [
        f"POSTGRES_HOST={host}",
        f"POSTGRES_PORT={port}",
        f"POSTGRES_DB={database}",
        f"POSTGRES_USER={user}",
        f"POSTGRES_PASSWORD_FILE={password_file}",
        # pg_dump's custom format: compressed, and what pg_restore reads (tests/test_postgres_dump.py).
        "POSTGRES_EXTRA_OPTS=--format=custom",
        f"BACKUP_SUFFIX={DUMP_SUFFIX}",
        f"SCHEDULE={backup.schedule}",
        # A dump right after each (re)start, so a new deployment has one at once.
        "BACKUP_ON_START=TRUE",
        f"BACKUP_KEEP_DAYS={retention.days}",
        f"BACKUP_KEEP_WEEKS={retention.weeks}",
        f"BACKUP_KEEP_MONTHS={retention.months}",
    ]


def latest_dump(database: str) -> str:
    """The newest dump; backup.sh points this symlink at each new one."""
    return f"{BACKUP_DIR}/last/{database}-latest{DUMP_SUFFIX}"


def container_restore_command(*, stack_name: str, database: str, user: str, host: str) -> str:
    """Restores the newest dump, with MMR stopped; the password is read inside the container, never shown."""
    restore = " ".join([*restore_command(user, database), f"--host={host}", latest_dump(database)])
    return (
        f"docker stop {stack_name} && docker exec {stack_name}-postgres-backup sh -c "
        f"'PGPASSWORD=\"$(cat {PASSWORD_FILE})\" {restore}' && docker start {stack_name}"
    )


def managed_restore_command(cluster_id: str, stack_name: str) -> str:
    """DigitalOcean restores a managed cluster's backup into a new cluster, a fork (doctl v1.166 reference)."""
    return (
        f"doctl databases fork {stack_name}-restored --restore-from-cluster-id {cluster_id} "
        "--restore-from-timestamp '2026-01-31 23:00:00 +0000 UTC' --wait"
    )


HOOK_PATH = "/hooks/50-copy-to-s3"
S3_CREDENTIALS_FILE = "/run/backup-s3-credentials"
S3_PREFIX = "backups/"


def s3_copy_hook() -> str:
    """A post-backup hook (the image runs /hooks/* with run-parts after each dump) that uploads the newest dump.

    curl signs the request itself (``--aws-sigv4``); the key comes from a curl config file, so it shows in
    no command line. The key may only put objects under ``backups/``: nothing it does can delete.
    """
    return f"""#!/bin/sh
set -eu
[ "${{1:-}}" = post-backup ] || exit 0
for latest in {BACKUP_DIR}/last/*-latest{DUMP_SUFFIX}; do
    [ -e "$latest" ] || continue
    dump="$(readlink -f "$latest")"
    # S3 needs the payload's hash signed too; curl cannot hash a streamed file, so it signs the
    # header's value "UNSIGNED-PAYLOAD" (TLS protects the body).
    curl --fail --silent --show-error --aws-sigv4 "aws:amz:$S3_REGION:s3" --config {S3_CREDENTIALS_FILE} \\
        --header "x-amz-content-sha256: UNSIGNED-PAYLOAD" --upload-file "$dump" "$S3_URL/{S3_PREFIX}${{dump##*/}}"
    echo "copied ${{dump##*/}} to $S3_URL/{S3_PREFIX}"
done
"""


def curl_credentials(access_key_id: str, secret: str) -> str:
    """A curl config file holding the key (curl's quoting: backslash and double quote escaped)."""
    value = f"{access_key_id}:{secret}".replace("\\", "\\\\").replace('"', '\\"')
    return f'user = "{value}"\n'


def check_backup(
    backup: Backup, *, platform: str, database_provider: str, s3_provider: str | None, backs_up_database: bool
) -> None:
    """What ``backup.*`` must get right given the rest of the stack; raises ``ConfigError``."""
    if backup.image is not None:
        check_pinned_image(backup.image, "backup.image")
    if platform == "kubernetes" and backs_up_database and not kubernetes_schedule(backup.schedule):
        raise ConfigError(
            f"is {backup.schedule!r}, which a Kubernetes CronJob does not read (no @every, no seconds field; "
            "@daily, @hourly or five cron fields)",
            key="backup.schedule",
        )
    if backup.enabled and database_provider != "container":
        elsewhere = {
            "digitalocean": "DigitalOcean backs managed clusters up daily, with point-in-time recovery",
            "aws": "RDS backs the instance up daily, with point-in-time restore (database.aws.backupRetentionDays)",
            "external": "an external server is backed up where it runs",
        }[database_provider]
        raise ConfigError(
            f"is true, but this program runs no database to back up: {elsewhere}",
            key="backup.enabled",
            fix="pulumi config rm --path 'backup.enabled'",
        )
    if backup.s3 and not (backs_up_database and s3_provider == "aws"):
        raise ConfigError(
            "copies dumps to the stack's bucket with a key that cannot delete, which only an AWS bucket "
            "this program creates allows (a Spaces key cannot be limited so, an external bucket is yours)",
            key="backup.s3",
            fix="pulumi config rm --path 'backup.s3'",
        )
