"""Scheduled database backups, per backend, under mocks; the dumps themselves are restored for real in
tests/test_docker_engine.py (a container on a real engine) and tests/test_postgres_dump.py (real PostgreSQL)."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from config_schema import load_stack_config
from config_schema.errors import StackConfigError
from config_schema.images import default_backup_image
from config_schema.s3_policy import backup_upload_policy
from tests.pulumi_harness import (
    MOCK_AWS_SECRET,
    MOCK_PASSWORD,
    ProgramRun,
    is_secret_marker,
    plain_strings,
    run_program,
)
from tests.variants import HOMESERVER, PROVIDER_CONFIG, VARIANTS

CONTAINER = "docker:index/container:Container"
EXTERNAL_DSN = "postgres://u:p@db/x?sslmode=require"
VOLUME = "docker:index/volume:Volume"


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_program(VARIANTS["dev"]())


@pytest.fixture(scope="module")
def aws() -> ProgramRun:
    return run_program(VARIANTS["aws"]())


def test_the_default_stack_backs_its_database_up_daily_with_retention(dev: ProgramRun) -> None:
    backup = dev.one(CONTAINER, "mmr-dev-postgres-backup")
    envs = dict(env.split("=", 1) for env in backup.inputs["envs"])
    assert envs == {
        "POSTGRES_HOST": "mmr-dev-postgres",
        "POSTGRES_PORT": "5432",
        "POSTGRES_DB": "mediarepo",
        "POSTGRES_USER": "mediarepo",
        "POSTGRES_PASSWORD_FILE": "/run/postgres-password",
        "POSTGRES_EXTRA_OPTS": "--format=custom",
        "BACKUP_SUFFIX": ".dump",
        "SCHEDULE": "@daily",
        "BACKUP_ON_START": "TRUE",
        "BACKUP_KEEP_DAYS": "7",
        "BACKUP_KEEP_WEEKS": "4",
        "BACKUP_KEEP_MONTHS": "6",
    }
    image = dev.by_urn(next(urn for urn in backup.dependencies if dev.by_urn(urn).name == "mmr-dev-backup-image"))
    assert image.inputs["name"] == default_backup_image("17")
    # The password only as a secret file; the dumps on a volume as protected as the data.
    [upload] = backup.raw_inputs["uploads"]
    assert upload["file"] == "/run/postgres-password" and is_secret_marker(upload["content"])
    assert all(MOCK_PASSWORD not in text for text in plain_strings(backup.raw_inputs))
    volume = dev.one(VOLUME, "mmr-dev-backups")
    assert volume.protect and volume.retain_on_delete
    assert backup.inputs["volumes"] == [{"volumeName": "mmr-dev-backups", "containerPath": "/backups"}]
    assert [n["name"] for n in backup.inputs["networksAdvanced"]] == ["mmr-dev-private"]
    assert dev.one(CONTAINER, "mmr-dev-postgres").urn in backup.dependencies


def test_the_restore_command_is_printed_without_a_secret(dev: ProgramRun) -> None:
    command = dev.outputs["databaseRestoreCommand"]
    assert "databaseRestoreCommand" not in dev.secret_outputs
    assert command.startswith("docker stop mmr-dev && docker exec mmr-dev-postgres-backup sh -c ")
    assert "pg_restore --clean --if-exists --no-owner --exit-on-error" in command
    assert "/backups/last/mediarepo-latest.dump" in command
    assert command.endswith("&& docker start mmr-dev")
    assert MOCK_PASSWORD not in command


def test_schedule_and_retention_are_the_operators(dev: ProgramRun) -> None:
    config = {**VARIANTS["dev"](), "backup": {"schedule": "0 3 * * *", "retention": {"days": 14, "months": 12}}}
    envs = run_program(config).one(CONTAINER, "mmr-dev-postgres-backup").inputs["envs"]
    assert {"SCHEDULE=0 3 * * *", "BACKUP_KEEP_DAYS=14", "BACKUP_KEEP_WEEKS=4", "BACKUP_KEEP_MONTHS=12"} <= set(envs)


def test_backups_can_be_turned_off_and_the_image_follows_the_major() -> None:
    off = run_program({**VARIANTS["dev"](), "backup": {"enabled": False}})
    assert off.of_type("matrix-media-repo:index:PostgresBackup") == []
    pg16 = run_program({**VARIANTS["dev"](), "database": {"postgresVersion": 16}})
    images = {r.inputs["name"] for r in pg16.of_type("docker:index/remoteImage:RemoteImage")}
    assert default_backup_image("16") in images


def test_managed_and_external_databases_schedule_nothing_here() -> None:
    do = run_program(VARIANTS["digitalocean"](), extra_config=PROVIDER_CONFIG["digitalocean"])
    assert do.of_type("matrix-media-repo:index:PostgresBackup") == []
    assert do.outputs["databaseClusterId"] == "mmr-dev-cluster-id"
    assert do.outputs["databaseRestoreCommand"].startswith(
        "doctl databases fork mmr-dev-restored --restore-from-cluster-id mmr-dev-cluster-id --restore-from-timestamp "
    )
    external = run_program(VARIANTS["external"]())
    assert external.of_type("matrix-media-repo:index:PostgresBackup") == []
    assert "databaseRestoreCommand" not in external.outputs


def test_dumps_are_copied_to_the_bucket_with_an_add_only_key(aws: ProgramRun) -> None:
    uploader = aws.one("aws:iam/user:User", "mmr-dev-backup-uploader")
    policy = json.loads(aws.one("aws:iam/userPolicy:UserPolicy", "mmr-dev-backup-uploader-policy").inputs["policy"])
    assert policy == backup_upload_policy("arn:aws:s3:::example-org-media", "backups/")
    assert uploader.inputs["name"] == "mmr-dev-backup-uploader"
    backup = aws.one(CONTAINER, "mmr-dev-postgres-backup")
    envs = backup.inputs["envs"]
    assert "S3_URL=https://example-org-media.s3.eu-central-1.amazonaws.com" in envs
    assert "S3_REGION=eu-central-1" in envs
    uploads = {upload["file"]: upload for upload in backup.raw_inputs["uploads"]}
    assert uploads["/hooks/50-copy-to-s3"]["permissions"] == "0755"
    assert is_secret_marker(uploads["/run/backup-s3-credentials"]["content"])
    assert all(MOCK_AWS_SECRET not in text for text in plain_strings(backup.raw_inputs))
    # The bucket is outside the internal network: the copy needs the edge one.
    assert sorted(n["name"] for n in backup.inputs["networksAdvanced"]) == ["mmr-dev-edge", "mmr-dev-private"]


@pytest.mark.parametrize(
    ("config", "key", "problem"),
    [
        ({"database": {"provider": "external", "dsn": EXTERNAL_DSN}, "backup": {"enabled": True}},
         "backup.enabled", "an external server is backed up where it runs"),
        ({"backup": {"s3": True}}, "backup.s3", "only an AWS bucket"),
        ({"backup": {"schedule": "every night"}}, "backup.schedule", "not a schedule"),
        ({"backup": {"retention": {"days": 0}}}, "backup.retention.days", "greater than or equal to 1"),
        ({"backup": {"image": "prodrigestivill/postgres-backup-local:latest"}}, "backup.image", "not pinned"),
    ],
)  # fmt: skip
def test_bad_backup_settings(config: dict, key: str, problem: str) -> None:
    with pytest.raises(StackConfigError, match=rf"matrix-media-repo:{re.escape(key)} .*{problem}"):
        load_stack_config({"homeservers": [HOMESERVER], **config})


def test_a_failed_backup_config_stops_the_program() -> None:
    with pytest.raises(pulumi.RunError, match=r"matrix-media-repo:backup\.s3 "):
        run_program({**VARIANTS["dev"](), "backup": {"s3": True}})
