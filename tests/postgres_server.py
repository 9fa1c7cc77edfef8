"""A throwaway PostgreSQL cluster for tests that need a real server.

Use it from a test module with ``from tests.postgres_server import postgres_server``
(pytest finds a fixture only in the test module's namespace, a conftest, or a
plugin), or once for every module from the root ``tests/conftest.py`` with
``pytest_plugins = ["tests.postgres_server"]``.

Without PostgreSQL binaries the tests are skipped locally, but fail when the
``CI`` environment variable is set: CI exists to prove the real-server
behaviour, and a silent skip there would prove nothing.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.host_tools import find_postgres, require_postgres, unavailable

HOST = "127.0.0.1"
ADMIN_USER = "admin"
# Postgres refuses to run as root, so as root the cluster belongs to this OS user.
SERVER_OS_USER = "postgres"
START_ATTEMPTS = 3


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    admin_user: str
    admin_password: str = field(repr=False)
    version: int
    """``server_version_num`` as libpq reports it, e.g. 150013."""

    @property
    def admin_dsn(self) -> str:
        return self.admin_dsn_for("postgres")

    def admin_dsn_for(self, dbname: str) -> str:
        # Key/value form built by psycopg, so the helper does not depend on
        # the URL encoder under test.
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.admin_user,
            password=self.admin_password,
            dbname=dbname,
            sslmode="disable",
        )


def find_postgres_bin_dir() -> Path | None:
    """The server's programs, at whatever major is installed (tests/host_tools.py)."""
    found = find_postgres()
    return found.bin_dir if found else None


def _free_port() -> int:
    # Racy by nature (another process may take the port before Postgres
    # binds it), which is why starting is retried with a fresh port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class _Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        self.os_user: pwd.struct_passwd | None = None
        if self.as_root:
            try:
                self.os_user = pwd.getpwnam(SERVER_OS_USER)
            except KeyError:
                unavailable(f"running as root, but there is no {SERVER_OS_USER!r} OS user to run PostgreSQL as")
        self.base = Path(tempfile.mkdtemp(prefix="mmr-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.log = self.base / "server.log"
        self.password = secrets.token_urlsafe(24)
        self.started = False

    def _run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        user = self.os_user
        # subprocess drops privileges itself, so runuser/su/sudo need not be
        # installed; extra_groups=[] sheds root's supplementary groups too.
        return subprocess.run(
            [str(arg) for arg in args],
            cwd=self.base,  # the server user may not be able to enter the caller's cwd
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n--- server log ---\n{log}"
            )

    def init(self) -> None:
        self.sockets.mkdir()
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.os_user is not None:
            for path in (self.base, self.sockets, pwfile):
                os.chown(path, self.os_user.pw_uid, self.os_user.pw_gid)
        result = self._run(
            self.bin_dir / "initdb",
            "--pgdata",
            self.data,
            "--username",
            ADMIN_USER,
            "--pwfile",
            pwfile,
            # Password auth everywhere, socket included, so nothing passes on
            # trust and the tests exercise the same auth as a real deployment.
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C",  # always present, unlike C.UTF-8 / en_US.UTF-8 on minimal images
            "--no-sync",
            "--no-instructions",
        )
        self._check(result, "initdb")
        pwfile.unlink()
        # Appended, so these win over initdb's defaults; written to the file
        # rather than passed through pg_ctl -o to avoid its shell quoting.
        settings = {
            "listen_addresses": f"'{HOST}'",
            "unix_socket_directories": f"'{self.sockets}'",
            "password_encryption": "'scram-sha-256'",
            "ssl": "off",  # the sslmode=require test relies on a server without TLS
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# throwaway test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> int:
        last_error: Exception | None = None
        for _ in range(START_ATTEMPTS):
            port = _free_port()
            result = self._run(
                self.bin_dir / "pg_ctl",
                "--pgdata",
                self.data,
                "--log",
                self.log,
                "--options",
                f"-p {port}",
                "--wait",
                "--timeout",
                "60",
                "start",
            )
            if result.returncode == 0:
                self.started = True
                return port
            try:
                self._check(result, "pg_ctl start")
            except RuntimeError as error:
                last_error = error
        raise RuntimeError(f"PostgreSQL did not start after {START_ATTEMPTS} attempts") from last_error

    def stop(self) -> None:
        try:
            if self.started:
                # immediate: the data is thrown away, so no checkpoint is worth waiting for.
                self._run(self.bin_dir / "pg_ctl", "--pgdata", self.data, "--mode", "immediate", "--wait", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _server_version(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        return conn.info.server_version


def start_postgres_server(bin_dir: Path | None = None) -> tuple[PostgresServer, _Cluster]:
    found = bin_dir or require_postgres().bin_dir
    cluster = _Cluster(found)
    try:
        cluster.init()
        port = cluster.start()
        server = PostgresServer(host=HOST, port=port, admin_user=ADMIN_USER, admin_password=cluster.password, version=0)
        server = replace(server, version=_server_version(server.admin_dsn))
    except BaseException:
        cluster.stop()
        raise
    return server, cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server, cluster = start_postgres_server()
    try:
        yield server
    finally:
        cluster.stop()


__all__ = ["PostgresServer", "find_postgres_bin_dir", "postgres_server", "start_postgres_server"]


# The password of the MMR-shaped role mmr_database makes.
ROLE_PASSWORD = "dump:p@ss/word"


@pytest.fixture
def mmr_database(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """(role, database): a database MMR's role owns, as the container provider's entrypoint makes it."""
    suffix = secrets.token_hex(4)
    role, database = f"mediarepo_{suffix}", f"mediarepo_{suffix}"
    with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(ROLE_PASSWORD))
        )
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))
    try:
        yield role, database
    finally:
        with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
