"""The dump and restore commands this program prints (a major upgrade's steps), run against a real PostgreSQL.

``config_schema.postgres_data`` builds them; here they run with Debian's
``pg_dump``/``pg_restore`` against the throwaway server of ``tests/postgres_server.py``,
as MMR's own (non-superuser) role, on a schema and rows shaped like MMR's.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from config_schema.postgres_data import dump_command, restore_command
from tests.postgres_server import ROLE_PASSWORD, PostgresServer, find_postgres_bin_dir

# MMR's own tables (migrations/1_create_tables_up.sql and later, at 84bcb70), trimmed, plus a reference
# between them so that the restore's ordering is exercised.
SCHEMA = """
CREATE TABLE media (origin TEXT NOT NULL, media_id TEXT NOT NULL, upload_name TEXT NOT NULL,
    content_type TEXT NOT NULL, user_id TEXT NOT NULL, sha256_hash TEXT NOT NULL, size_bytes BIGINT NOT NULL,
    datastore_id TEXT NOT NULL, location TEXT NOT NULL, creation_ts BIGINT NOT NULL, quarantined BOOLEAN NOT NULL);
CREATE UNIQUE INDEX media_index ON media (media_id, origin);
CREATE TABLE thumbnails (origin TEXT NOT NULL, media_id TEXT NOT NULL, width INT NOT NULL, height INT NOT NULL,
    method TEXT NOT NULL, animated BOOLEAN NOT NULL, content_type TEXT NOT NULL, size_bytes BIGINT NOT NULL,
    datastore_id TEXT NOT NULL, location TEXT NOT NULL, creation_ts BIGINT NOT NULL,
    FOREIGN KEY (media_id, origin) REFERENCES media (media_id, origin));
CREATE TABLE media_attributes (origin TEXT NOT NULL, media_id TEXT NOT NULL, purpose TEXT NOT NULL,
    FOREIGN KEY (media_id, origin) REFERENCES media (media_id, origin));
CREATE TABLE user_stats (user_id TEXT PRIMARY KEY, uploaded_bytes BIGINT NOT NULL);
"""
TABLES = ("media", "thumbnails", "media_attributes", "user_stats")


def _fill(conn: psycopg.Connection) -> None:
    for index in range(40):
        media_id = f"m{index:03d}{secrets.token_hex(4)}"
        origin = "example.org" if index % 2 else "example.com"
        conn.execute(
            "INSERT INTO media VALUES (%s, %s, %s, 'image/png', %s, %s, %s, 'file', %s, %s, %s)",
            (origin, media_id, f"upload '{index}'.png", f"@u{index}:{origin}", secrets.token_hex(32), index * 1024,
             f"ab/cd/{media_id}", 1700000000000 + index, index == 7),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO thumbnails VALUES (%s, %s, 96, 96, 'crop', false, 'image/png', 512, 'file', %s, %s)",
            (origin, media_id, f"th/{media_id}", 1700000000000 + index),
        )
        conn.execute("INSERT INTO media_attributes VALUES (%s, %s, 'none')", (origin, media_id))
    conn.execute("INSERT INTO user_stats VALUES ('@u1:example.org', 4096), ('@u2:example.com', 0)")


def _rows(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in TABLES}


def _role_dsn(server: PostgresServer, role: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=server.host, port=server.port, user=role, password=ROLE_PASSWORD, dbname=database, sslmode="disable"
    )


def _run(server: PostgresServer, command: list[str], *, stdin: Path | None = None, stdout: Path | None = None) -> None:
    """A command as `docker exec` runs it in the Postgres container, here against the test server."""
    bin_dir = find_postgres_bin_dir()
    assert bin_dir is not None
    environment = {**os.environ, "PGHOST": server.host, "PGPORT": str(server.port), "PGPASSWORD": ROLE_PASSWORD}
    with (stdin or Path(os.devnull)).open("rb") as source, (stdout or Path(os.devnull)).open("wb") as sink:
        result = subprocess.run(
            [str(bin_dir / command[0]), *command[1:]],
            stdin=source,
            stdout=sink,
            stderr=subprocess.PIPE,
            env=environment,
        )
    assert result.returncode == 0, result.stderr.decode()


def _recreate(server: PostgresServer, role: str, database: str, *, with_fresh_schema: bool) -> None:
    """The new major's empty database; MMR may already have run its migrations into it."""
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))
    if with_fresh_schema:
        with psycopg.connect(_role_dsn(server, role, database)) as conn:
            conn.execute(SCHEMA)


@pytest.mark.parametrize("with_fresh_schema", [False, True], ids=["empty database", "after MMR's migrations"])
def test_dump_and_restore_bring_back_every_row(
    postgres_server: PostgresServer, mmr_database: tuple[str, str], tmp_path: Path, with_fresh_schema: bool
) -> None:
    role, database = mmr_database
    dsn = _role_dsn(postgres_server, role, database)
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
        _fill(conn)
    before = _rows(dsn)
    assert sum(len(rows) for rows in before.values()) == 122
    dump = tmp_path / f"{database}.dump"
    _run(postgres_server, dump_command(role, database), stdout=dump)
    _recreate(postgres_server, role, database, with_fresh_schema=with_fresh_schema)
    _run(postgres_server, restore_command(role, database), stdin=dump)
    assert _rows(dsn) == before


def test_a_plain_dump_cannot_be_restored_with_pg_restore(
    postgres_server: PostgresServer, mmr_database: tuple[str, str], tmp_path: Path
) -> None:
    """Why the dump is --format=custom: the restore command refuses anything else."""
    role, database = mmr_database
    with psycopg.connect(_role_dsn(postgres_server, role, database)) as conn:
        conn.execute(SCHEMA)
    plain = [part.replace("--format=custom", "--format=plain") for part in dump_command(role, database)]
    dump = tmp_path / "plain.sql"
    _run(postgres_server, plain, stdout=dump)
    with pytest.raises(AssertionError, match="input file appears to be a text format dump"):
        _run(postgres_server, restore_command(role, database), stdin=dump)
