"""Postgres connection strings, built and checked the way MMR's driver reads them.

MMR opens its database with lib/pq v1.10.9 (MMR's go.mod line 31 at 84bcb70), which
hands a ``postgres://`` URL to Go's ``net/url`` (lib/pq ``connector.go`` line 65,
``url.go`` lines 32-76) and then reads user, password, host, port, dbname and every
query parameter from the result. MMR is built with Go 1.22 (go.mod lines 3-5). This
module follows both closely enough to refuse, before anything is deployed, every URL
they would refuse or misread, and never puts the password into a message.

Run as a script (``python3 config_schema/dsn.py``, standard library only), it reads a
DSN on stdin and writes it back with its user and password percent-encoded: the fix
the validation error prints, so that the operator never retypes the password.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

SslMode = Literal["disable", "require", "verify-ca", "verify-full"]
# lib/pq ssl.go lines 21-51 at v1.10.9: any other sslmode fails every connection ("prefer" included).
SSL_MODES: tuple[str, ...] = ("disable", "require", "verify-ca", "verify-full")

# Go net/url validUserinfo (url.go, go1.22): what may stand unescaped in user info.
_USERINFO_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:~!$&'()*+,;=%@")
# Go net/url shouldEscape(c, encodeHost): the ASCII a host may hold besides letters and digits.
_HOST_SAFE = frozenset("-_.~!$&'()*+,;=:[]<>\"")
_HEX = frozenset("0123456789abcdefABCDEF")


class DsnError(ValueError):
    """What is wrong with a DSN, by part; its text never holds the password."""

    def __init__(self, part: str, message: str, *, encode_userinfo: bool = False) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part
        self.message = message
        # True when re-encoding user and password (``python3 config_schema/dsn.py``) repairs it.
        self.encode_userinfo = encode_userinfo


@dataclass(frozen=True)
class ParsedDsn:
    user: str
    password: str | None
    host: str
    port: int
    dbname: str
    params: dict[str, str]


def build_postgres_dsn(*, user: str, password: str, host: str, port: int, database: str, sslmode: SslMode) -> str:
    """A ``postgres://`` URL that survives any character in user or password.

    lib/pq defaults to ``sslmode=require`` when the URL says nothing, which a
    container Postgres on a private network does not offer, so the mode is
    always explicit.
    """
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgres://{credentials}@{host}:{port}/{quote(database, safe='')}?sslmode={sslmode}"


def _bad_escape(text: str) -> str | None:
    """The first malformed percent-escape in ``text`` (Go net/url unescape), or None."""
    for index, char in enumerate(text):
        if char == "%" and not (index + 2 < len(text) and text[index + 1] in _HEX and text[index + 2] in _HEX):
            return text[index : index + 3]
    return None


def _userinfo_region(dsn: str) -> str | None:
    """What the operator meant as ``user:password``: between ``://`` and the last ``@``, if any."""
    rest = dsn.split("://", 1)[1] if "://" in dsn else ""
    return rest.rsplit("@", 1)[0] if "@" in rest else None


def _unsafe_in_userinfo(userinfo: str) -> list[str]:
    """Characters that Go refuses in user info, or that end it early (# / ?), in order of appearance."""
    unsafe = [c for c in userinfo if c not in _USERINFO_SAFE or c in "#/?"]
    if _bad_escape(userinfo):
        unsafe.append("%")
    return list(dict.fromkeys(unsafe))


def encoded_characters(characters: list[str]) -> str:
    return ", ".join(f"{c!r} as {quote(c, safe='')}" for c in characters)


def _userinfo_problem(dsn: str) -> DsnError | None:
    userinfo = _userinfo_region(dsn)
    if userinfo is None:
        return None
    unsafe = _unsafe_in_userinfo(userinfo)
    if not unsafe:
        return None
    return DsnError(
        "user info",
        f"the user or password holds characters a URL must percent-encode ({encoded_characters(unsafe)}); "
        "MMR's driver would read another user, password or host",
        encode_userinfo=True,
    )


def _parse_host(authority_host: str) -> tuple[str, str]:
    """(host, port text) as Go's parseHost and net.SplitHostPort leave them for lib/pq."""
    if authority_host.startswith("["):
        end = authority_host.rfind("]")
        if end < 0:
            raise DsnError("host", "an IPv6 address opens '[' but never closes it")
        host, colon_port = authority_host[1:end], authority_host[end + 1 :]
        if not colon_port[1:]:
            # net.SplitHostPort fails without a port, and lib/pq then dials "[::1]" brackets and all.
            raise DsnError("port", "an IPv6 host needs an explicit port, such as [2001:db8::5]:5432")
    elif ":" in authority_host:
        host, _, port_text = authority_host.rpartition(":")
        colon_port = ":" + port_text
    else:
        host, colon_port = authority_host, ""
    if colon_port and not ((colon_port.startswith(":") and colon_port[1:].isdigit()) or colon_port == ":"):
        raise DsnError("port", "must be digits after the host's ':'")
    for index, char in enumerate(host):
        if char == "%" and host[index : index + 3] != "%25" and (_bad_escape(host[index:]) or host[index + 1] < "8"):
            raise DsnError("host", "a host may percent-encode only non-ASCII bytes")
        if char < "\x80" and not char.isalnum() and char not in _HOST_SAFE and char != "%":
            raise DsnError("host", f"holds {char!r}, which no host name has")
    return unquote(host), colon_port[1:]


def parse_dsn(dsn: str) -> ParsedDsn:
    """Reads ``dsn`` as lib/pq reads a URL; raises ``DsnError`` where lib/pq or net/url would fail or misread.

    Where that fails and the text between ``://`` and the last ``@`` holds characters a URL must
    encode, the password is the likely cause (an unencoded ``#``, ``/`` or ``?`` cuts the URL short
    and leaves part of the password as host or port), and the problem says so.
    """
    try:
        return _go_parse(dsn)
    except DsnError as problem:
        raise _userinfo_problem(dsn) or problem from None


def _go_parse(dsn: str) -> ParsedDsn:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in dsn):
        raise DsnError("URL", "holds a control character (a line break?), which Go's URL parser refuses")
    # lib/pq treats the text as a URL only with these exact prefixes (connector.go line 65), else as key=value.
    if not (dsn.startswith("postgres://") or dsn.startswith("postgresql://")):
        raise DsnError("scheme", "must start with postgres:// or postgresql:// (lib/pq's key=value form is not read)")
    # Go's Parse cuts the fragment, then the query, then the authority at its first '/'; lib/pq never reads
    # a fragment, so a '#' only ever cuts something off.
    if "#" in dsn:
        raise DsnError("URL", "holds '#', which ends a URL: write it as %23")
    rest = dsn.split("://", 1)[1]
    rest, _, raw_query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, authority_host = authority.rpartition("@")
    host, port_text = _parse_host(authority_host)
    user = password = None
    if at:
        if any(c not in _USERINFO_SAFE for c in userinfo) or _bad_escape(userinfo):
            raise DsnError("user info", "holds a character Go's URL parser refuses there, or a bad %-escape")
        user_text, colon, password_text = userinfo.partition(":")
        user, password = unquote(user_text), (unquote(password_text) if colon else None)
    if not user:
        raise DsnError("user info", "names no user: lib/pq would log in as the container's OS user")
    if not host:
        raise DsnError("host", "is empty: lib/pq would try localhost, which inside MMR's container is MMR itself")
    port = int(port_text) if port_text else 5432
    if not 1 <= port <= 65535:
        raise DsnError("port", f"{port} is not a TCP port between 1 and 65535")
    if escape := _bad_escape(path):
        raise DsnError("database name", f"has {escape!r}, which is no percent-escape: write '%' as %25")
    return ParsedDsn(user, password, host, port, unquote(slash and path), _parse_query(raw_query))


def _parse_query(raw_query: str) -> dict[str, str]:
    """Go's ParseQuery drops, without a word, every pair it cannot read; lib/pq then never sees it."""
    params: dict[str, str] = {}
    for pair in filter(None, raw_query.split("&")):
        key, _, value = pair.partition("=")
        if ";" in pair:
            # Go 1.17 and later drop such a pair (net/url parseQuery: "invalid semicolon separator").
            raise DsnError("parameters", f"separate parameters with '&', not ';' (after {unquote(key)!r})")
        if _bad_escape(key) or _bad_escape(value):
            raise DsnError("parameters", f"{unquote(key)!r} has a value with a malformed percent-escape")
        params.setdefault(unquote(key.replace("+", " ")), unquote(value.replace("+", " ")))
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in SSL_MODES:
        raise DsnError("parameters", f"sslmode={sslmode} is not one lib/pq supports ({', '.join(SSL_MODES)})")
    return params


def dsn_host(dsn: str) -> str:
    """The server a validated DSN points at, without credentials: safe to show."""
    parsed = parse_dsn(dsn)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{host}:{parsed.port}"


def dsn_has_sslmode(dsn: str) -> bool:
    return "sslmode" in parse_dsn(dsn).params


def redacted(dsn: str) -> str | None:
    """The DSN with its password as ***, or None when no user info can be told apart from the rest."""
    userinfo = _userinfo_region(dsn)
    if userinfo is None:
        return None
    scheme, rest = dsn.split("://", 1)
    user, colon, _ = userinfo.partition(":")
    # lib/pq reads a password from the query too (url.go lines 69-72).
    after = re.sub(r"(?<=[?&]password=)[^&#]*", "***", rest[len(userinfo) + 1 :])
    return f"{scheme}://{user}{':***' if colon else ''}@{after}"


def encode_userinfo(dsn: str) -> str:
    """``dsn`` with its user and password percent-encoded; valid escapes are kept, a stray '%' becomes %25."""
    userinfo = _userinfo_region(dsn)
    if userinfo is None:
        return dsn
    scheme, rest = dsn.split("://", 1)
    user, colon, password = userinfo.partition(":")

    def encode(text: str) -> str:
        out = []
        for index, char in enumerate(text):
            valid_escape = char == "%" and not _bad_escape(text[index : index + 3])
            out.append(char if valid_escape else quote(char, safe="-._~!$&'()*+,;="))
        return "".join(out)

    return f"{scheme}://{encode(user)}{colon}{encode(password)}@{rest[len(userinfo) + 1 :]}"


if __name__ == "__main__":
    sys.stdout.write(encode_userinfo(sys.stdin.read().rstrip("\n")))
