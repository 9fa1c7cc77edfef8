"""The DSN rendered for MMR, against a real PostgreSQL server.

MMR's driver (lib/pq) and libpq (under psycopg) read ``postgres://`` URLs the
same way: user and password are percent-decoded, and ``sslmode`` defaults to
``prefer`` (libpq) or ``require`` (lib/pq). Connecting with psycopg therefore
checks the very string MMR gets, with the same server-side auth (SCRAM) and
privileges, without starting MMR.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from config_schema.dsn import SslMode, build_postgres_dsn
from tests.postgres_server import PostgresServer

# Every character that has a meaning in a URL's authority, path, query or
# fragment, plus quoting characters for shells, SQL and conninfo, and a
# literal "%40" so a missing encoding of "%" shows up as a wrong password
# instead of happening to work.
PASSWORD = "p@ss:w/rd?#% 'q&=+\"\\;x%40"
REQUIRED_CHARACTERS = "@:/?#% '&=+\"\\"


@dataclass(frozen=True)
class Role:
    name: str
    password: str


def _suffix() -> str:
    return secrets.token_hex(4)


def _admin(server: PostgresServer, dbname: str = "postgres") -> psycopg.Connection[TupleRow]:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    return psycopg.connect(server.admin_dsn_for(dbname), autocommit=True)


def _mmr_dsn(server: PostgresServer, role: Role, database: str, sslmode: SslMode = "disable") -> str:
    return build_postgres_dsn(
        user=role.name,
        password=role.password,
        host=server.host,
        port=server.port,
        database=database,
        sslmode=sslmode,
    )


def _run_migration_like_statements(dsn: str) -> list[TupleRow]:
    """What MMR's migrations need: DDL in the public schema, then DML on the new table."""
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE media_probe (id SERIAL PRIMARY KEY, origin TEXT NOT NULL)")
        conn.execute("INSERT INTO media_probe (origin) VALUES (%s), (%s)", ("example.org", "example.com"))
        return conn.execute("SELECT origin FROM media_probe ORDER BY id").fetchall()


@pytest.fixture
def mmr_role(postgres_server: PostgresServer) -> Iterator[Role]:
    # "@" in the name too: build_postgres_dsn encodes the user the same way.
    role = Role(name=f"mmr@media_{_suffix()}", password=PASSWORD)
    with _admin(postgres_server) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.Identifier(role.name), sql.Literal(role.password)
            )
        )
    try:
        yield role
    finally:
        with _admin(postgres_server) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role.name)))


@pytest.fixture
def role_owned_database(postgres_server: PostgresServer, mmr_role: Role) -> Iterator[str]:
    """The container path: the image's entrypoint makes POSTGRES_USER the owner of POSTGRES_DB."""
    name = f"mediarepo_{_suffix()}"
    with _admin(postgres_server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(mmr_role.name)))
    try:
        yield name
    finally:
        _drop_database(postgres_server, name)


@pytest.fixture
def admin_owned_database(postgres_server: PostgresServer, mmr_role: Role) -> Iterator[str]:
    """The DigitalOcean path: the cluster's admin owns the database, MMR's user does not."""
    name = f"mediarepo_{_suffix()}"
    with _admin(postgres_server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        _drop_database(postgres_server, name)


def _drop_database(server: PostgresServer, name: str) -> None:
    # FORCE: a failed test may leave its connection open.
    with _admin(server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_password_covers_the_dangerous_characters() -> None:
    # Guards the other tests against someone "simplifying" PASSWORD.
    assert set(REQUIRED_CHARACTERS) <= set(PASSWORD)


def test_rendered_dsn_connects_and_can_create_tables(
    postgres_server: PostgresServer,
    mmr_role: Role,
    role_owned_database: str,
) -> None:
    dsn = _mmr_dsn(postgres_server, mmr_role, role_owned_database)

    # libpq's own parser (the one psycopg hands the string to) must get the
    # credentials back unchanged.
    parsed = conninfo_to_dict(dsn)
    assert (parsed["user"], parsed["password"], parsed["sslmode"]) == (mmr_role.name, PASSWORD, "disable")

    assert _run_migration_like_statements(dsn) == [("example.org",), ("example.com",)]
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT current_user, current_database(), inet_server_addr() IS NOT NULL").fetchone()
        # inet_server_addr() is NULL over a Unix socket: the DSN really went over TCP.
        assert row == (mmr_role.name, role_owned_database, True)


def test_sslmode_require_fails_against_a_server_without_tls(
    postgres_server: PostgresServer,
    mmr_role: Role,
    role_owned_database: str,
) -> None:
    # lib/pq treats a DSN without sslmode as sslmode=require, so this is what
    # MMR would hit against the container Postgres (no certificate) if the
    # rendered DSN left the mode out.
    dsn = _mmr_dsn(postgres_server, mmr_role, role_owned_database, sslmode="require")
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        psycopg.connect(dsn).close()


def test_dsn_without_percent_encoding_does_not_work(
    postgres_server: PostgresServer,
    mmr_role: Role,
    role_owned_database: str,
) -> None:
    # What a hand-written f-string template would produce: "@", "/", "?" and
    # "#" in the password end the authority early, so the URL is rejected or
    # names the wrong user, host or password.
    raw = (
        f"postgres://{mmr_role.name}:{mmr_role.password}@{postgres_server.host}:{postgres_server.port}"
        f"/{role_owned_database}?sslmode=disable"
    )
    assert raw != _mmr_dsn(postgres_server, mmr_role, role_owned_database)
    with pytest.raises(psycopg.Error):
        psycopg.connect(raw).close()


def test_granted_role_can_create_tables_in_admin_owned_database(
    postgres_server: PostgresServer,
    mmr_role: Role,
    admin_owned_database: str,
) -> None:
    with _admin(postgres_server, admin_owned_database) as conn:
        # The statement the DigitalOcean path runs through psql as the cluster admin.
        conn.execute(sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(sql.Identifier(mmr_role.name)))

    dsn = _mmr_dsn(postgres_server, mmr_role, admin_owned_database)
    assert _run_migration_like_statements(dsn) == [("example.org",), ("example.com",)]


def test_ungranted_role_cannot_create_tables_in_admin_owned_database(
    postgres_server: PostgresServer,
    mmr_role: Role,
    admin_owned_database: str,
) -> None:
    # Shows the grant above is needed, not just harmless: PG15 revoked CREATE
    # on schema public from PUBLIC. Older servers still allow it.
    if postgres_server.version < 150000:
        pytest.skip(f"PostgreSQL {postgres_server.version} predates 15: PUBLIC may still create in schema public")
    dsn = _mmr_dsn(postgres_server, mmr_role, admin_owned_database)
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema public"):
        _run_migration_like_statements(dsn)
