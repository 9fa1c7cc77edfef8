"""Backups of the in-cluster Postgres: a CronJob with the Docker side's settings, and a restore that works.

The restore Job's command is run for real, against the throwaway PostgreSQL of
tests/postgres_server.py, with the paths its pod mounts mapped to a temp dir.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from config_schema import StackConfigError, load_stack_config
from config_schema.backup import backup_environment
from config_schema.postgres_data import dump_command
from tests.kubernetes_stacks import AWS, one, run_config, run_variant, variant
from tests.postgres_server import ROLE_PASSWORD, PostgresServer, find_postgres_bin_dir
from tests.test_postgres_dump import SCHEMA, _fill, _recreate, _role_dsn, _rows, _run


def _container(cron_job: dict) -> dict:
    (container,) = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


def test_the_cron_job_dumps_with_the_docker_side_settings_onto_a_protected_volume() -> None:
    run = run_variant("in-cluster-postgres")
    cron_job = one(run, "CronJob", "mmr-prod-postgres-backup")
    assert cron_job["spec"]["schedule"] == "@daily" and cron_job["spec"]["timeZone"] == "Etc/UTC"
    assert cron_job["spec"]["concurrencyPolicy"] == "Forbid"
    container = _container(cron_job)
    assert container["command"] == ["/backup.sh"]
    stack = load_stack_config(variant(database={"provider": "container"}))
    expected = [
        item
        for item in backup_environment(
            stack.backup, host="mmr-prod-postgres", port=5432, database="mediarepo", user="mediarepo"
        )
        if not item.startswith(("SCHEDULE=", "BACKUP_ON_START="))
    ]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert [f"{k}={v}" for k, v in env.items() if not k.startswith("S3_")] == expected
    assert env["S3_URL"].endswith(".amazonaws.com/mmr-media") or "mmr-media" in env["S3_URL"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts["/backups"] == "backups" and mounts["/run"] == "run" and mounts["/hooks"] == "hooks"
    claims = {r.name: r for r in run.registrations if r.type == "kubernetes:core/v1:PersistentVolumeClaim"}
    assert claims["mmr-prod-backups"].protect and claims["mmr-prod-backups"].retain_on_delete
    restore = one(run, "CronJob", "mmr-prod-postgres-restore")
    assert restore["spec"]["suspend"] is True
    command = run.outputs["databaseRestoreCommand"]
    assert "create job mmr-prod-restore --from=cronjob/mmr-prod-postgres-restore" in command
    assert command.index("--replicas=0") < command.index("create job") < command.index("primary --replicas=1")


def test_a_schedule_a_cron_job_cannot_read_is_refused_on_kubernetes_only() -> None:
    with pytest.raises(StackConfigError, match=r"backup\.schedule is '@every 6h'"):
        load_stack_config(variant(database={"provider": "container"}, backup={"schedule": "@every 6h"}))
    docker = variant(database={"provider": "container"}, backup={"schedule": "@every 6h"}, kubernetes=None)
    docker.pop("platform")
    docker.pop("kubernetes", None)
    assert load_stack_config(docker).backup.schedule == "@every 6h"


def test_the_restore_job_restores_the_newest_dump(
    postgres_server: PostgresServer, mmr_database: tuple[str, str], tmp_path: Path
) -> None:
    role, database = mmr_database
    run = run_config(
        variant(database={"provider": "container", "user": role, "name": database}, s3=None, datastores=None,
                kubernetes={"replicas": 1, "ingress": {}}),
        AWS,
    )  # fmt: skip
    shell, flag, script = _container(one(run, "CronJob", "mmr-prod-postgres-restore"))["command"]
    assert (shell, flag) == ("/bin/sh", "-c")

    dsn = _role_dsn(postgres_server, role, database)
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
        _fill(conn)
    before = _rows(dsn)
    # What the backup Job leaves: the newest dump behind last/<database>-latest.dump.
    (tmp_path / "backups" / "last").mkdir(parents=True)
    dump = tmp_path / "backups" / "last" / f"{database}-20261125-030000.dump"
    _run(postgres_server, dump_command(role, database), stdout=dump)
    (tmp_path / "backups" / "last" / f"{database}-latest.dump").symlink_to(dump.name)
    _recreate(postgres_server, role, database, with_fresh_schema=True)
    (tmp_path / "postgres-password").write_text(ROLE_PASSWORD)

    # The pod's paths, mapped: the Secret at /run, the PVC at /backups, the Service name to the test server.
    local = (
        script.replace("/run/postgres-password", str(tmp_path / "postgres-password"))
        .replace("/backups/", f"{tmp_path}/backups/")
        .replace("--host=mmr-prod-postgres", f"--host={postgres_server.host}")
    )
    bin_dir = find_postgres_bin_dir()
    assert bin_dir is not None
    environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PGPORT": str(postgres_server.port)}
    result = subprocess.run(["sh", "-c", local], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert _rows(dsn) == before
