"""Postgres connection strings in the form MMR's driver (lib/pq) reads."""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

SslMode = Literal["disable", "require", "verify-ca", "verify-full"]


def build_postgres_dsn(
    *,
    user: str,
    password: str,
    host: str,
    port: int,
    database: str,
    sslmode: SslMode,
) -> str:
    """A ``postgres://`` URL that survives any character in user or password.

    lib/pq defaults to ``sslmode=require`` when the URL says nothing, which a
    container Postgres on a private network does not offer, so the mode is
    always explicit.
    """
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgres://{credentials}@{host}:{port}/{quote(database, safe='')}?sslmode={sslmode}"


def dsn_host(dsn: str) -> str:
    """The server a DSN points at, without credentials: safe to show."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def dsn_has_sslmode(dsn: str) -> bool:
    return "sslmode" in parse_qs(urlsplit(dsn).query)
