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
    # A hung pg_dump is ended rather than blocking every later backup.
    assert cron_job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 10800
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


def _restore_script(role: str, database: str) -> str:
    run = run_config(
        variant(database={"provider": "container", "user": role, "name": database}, s3=None, datastores=None,
                kubernetes={"replicas": 1, "ingress": {}}),
        AWS,
    )  # fmt: skip
    restore = one(run, "CronJob", "mmr-prod-postgres-restore")
    job = restore["spec"]["jobTemplate"]["spec"]
    # One try, within a deadline: a restore is one transaction, and a hung one must end.
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] == 10800
    shell, flag, script = _container(restore)["command"]
    assert (shell, flag) == ("/bin/sh", "-c") and "--single-transaction" in script
    return script


def _run_restore(postgres_server: PostgresServer, script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The pod's paths, mapped: the Secret at /run, the PVC at /backups, the Service name to the test server.
    local = (
        script.replace("/run/postgres-password", str(tmp_path / "postgres-password"))
        .replace("/backups/", f"{tmp_path}/backups/")
        .replace("--host=mmr-prod-postgres", f"--host={postgres_server.host}")
    )
    bin_dir = find_postgres_bin_dir()
    assert bin_dir is not None
    environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PGPORT": str(postgres_server.port)}
    return subprocess.run(["sh", "-c", local], env=environment, capture_output=True, text=True)


def _newest_dump(postgres_server: PostgresServer, role: str, database: str, tmp_path: Path) -> Path:
    """What the backup Job leaves: the newest dump behind last/<database>-latest.dump."""
    (tmp_path / "backups" / "last").mkdir(parents=True)
    dump = tmp_path / "backups" / "last" / f"{database}-20261125-030000.dump"
    _run(postgres_server, dump_command(role, database), stdout=dump)
    (tmp_path / "backups" / "last" / f"{database}-latest.dump").symlink_to(dump.name)
    (tmp_path / "postgres-password").write_text(ROLE_PASSWORD)
    return dump


def _filled(postgres_server: PostgresServer, role: str, database: str) -> str:
    """MMR's tables with rows in them; returns the role's DSN."""
    dsn = _role_dsn(postgres_server, role, database)
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
        _fill(conn)
    return dsn


def test_the_restore_job_restores_the_newest_dump(
    postgres_server: PostgresServer, mmr_database: tuple[str, str], tmp_path: Path
) -> None:
    role, database = mmr_database
    script = _restore_script(role, database)
    dsn = _filled(postgres_server, role, database)
    before = _rows(dsn)
    _newest_dump(postgres_server, role, database, tmp_path)
    _recreate(postgres_server, role, database, with_fresh_schema=True)
    result = _run_restore(postgres_server, script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert _rows(dsn) == before


def test_a_restore_that_fails_halfway_leaves_the_database_as_it_was(
    postgres_server: PostgresServer, mmr_database: tuple[str, str], tmp_path: Path
) -> None:
    role, database = mmr_database
    script = _restore_script(role, database)
    dsn = _filled(postgres_server, role, database)
    dump = _newest_dump(postgres_server, role, database, tmp_path)
    # The dump breaks off in its data, after the table of contents: pg_restore drops and recreates the
    # tables, then fails reading rows.
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) * 3 // 4])
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO user_stats VALUES ('@after-the-dump:example.org', 1)")
    before = _rows(dsn)
    result = _run_restore(postgres_server, script, tmp_path)
    assert result.returncode != 0
    assert _rows(dsn) == before


FAKE_KUBECTL = """#!/bin/sh
# Records each call; a Job's status is what RESTORE_OUTCOME says (succeeded/failed, as jsonpath prints them).
echo "$*" >> "$KUBECTL_LOG"
case "$*" in *"get job"*) printf '%s' "$RESTORE_OUTCOME";; esac
"""


@pytest.mark.parametrize(("outcome", "succeeds"), [("1/", True), ("/1", False)])
def test_the_restore_command_waits_for_mmr_to_stop_and_fails_fast(tmp_path: Path, outcome: str, succeeds: bool) -> None:
    command = run_variant("in-cluster-postgres").outputs["databaseRestoreCommand"]
    (tmp_path / "kubectl").write_text(FAKE_KUBECTL)
    (tmp_path / "kubectl").chmod(0o755)
    log = tmp_path / "calls"
    environment = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "KUBECTL_LOG": str(log)}
    done = subprocess.run(
        ["bash", "-c", command], env={**environment, "RESTORE_OUTCOME": outcome}, capture_output=True, timeout=60
    )
    calls = log.read_text().splitlines()
    assert (done.returncode == 0) is succeeds
    verbs = [" ".join(call.split()[2:4]) for call in calls]
    assert verbs[:3] == ["scale statefulset/mmr-prod-primary", "wait --for=delete", "create job"]
    assert "--selector=app.kubernetes.io/instance=mmr-prod,matrix-media-repo.org/mmr-process=true" in calls[1]
    started_again = any("mmr-prod-primary --replicas=1" in call for call in calls)
    assert started_again is succeeds
    if not succeeds:
        assert calls[-1].endswith("logs job/mmr-prod-restore") and len(calls) == 5
