"""From the raw values ``pulumi.Config`` hands over to a validated ``StackConfig``."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from config_schema.database import connection_warning
from config_schema.dsn import dsn_has_sslmode
from config_schema.errors import PROJECT, SECRET_KEYS, StackConfigError, format_validation_error, set_command
from config_schema.kubernetes import max_processes
from config_schema.stack import StackConfig

# Config paths whose values are credentials, split for walking: ("homeservers", "[]", "signingKey").
SECRET_PATHS: tuple[tuple[str, ...], ...] = tuple(
    tuple(part for part in key.replace("[]", ".[]").split(".")) for key in sorted(SECRET_KEYS)
)

TOP_LEVEL_KEYS: tuple[str, ...] = tuple(field.alias or name for name, field in StackConfig.model_fields.items())


def load_stack_config(raw: Mapping[str, Any], secret_top_level_keys: Iterable[str] = ()) -> StackConfig:
    """Validates the stack's config; raises ``StackConfigError`` with one line on any problem.

    ``secret_top_level_keys``: the keys Pulumi reports as secret; no value below them is shown.
    """
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise StackConfigError(format_validation_error(exc, StackConfig, tuple(secret_top_level_keys))) from None


def plaintext_secret_warnings(raw: Mapping[str, Any], secret_top_level_keys: Iterable[str]) -> list[str]:
    """Credentials that sit in the stack file unencrypted.

    Pulumi marks a whole top-level key secret when any path below it was set
    with ``--secret``, so that is the finest grain the program can see.
    """
    secret = set(secret_top_level_keys)
    warnings = []
    for path in SECRET_PATHS:
        if path[0] in secret:
            continue
        for key, value in _values_at(raw, path, ""):
            if value:
                warnings.append(
                    f"{PROJECT}:{key} is stored in plain text in the stack file; "
                    f"encrypt it in place: {set_command(key, _current_value(key), secret=True)}"
                )
    return warnings


def _current_value(key: str) -> str:
    """The shell words that read the key's present value back, so the fix re-sets it encrypted."""
    return '"$(pulumi config get --path ' + shlex.quote(key) + ')"'


def _values_at(value: Any, path: tuple[str, ...], prefix: str) -> list[tuple[str, Any]]:
    if not path:
        return [(prefix, value)]
    head, rest = path[0], path[1:]
    if head == "[]":
        items = value if isinstance(value, list) else []
        return [pair for i, item in enumerate(items) for pair in _values_at(item, rest, f"{prefix}[{i}]")]
    if not isinstance(value, Mapping):
        return []
    return _values_at(value.get(head), rest, f"{prefix}.{head}" if prefix else head)


def advisory_warnings(stack: StackConfig) -> list[str]:
    """Settings that work but probably not as the operator meant."""
    warnings = []
    # Every MMR process and the importer hold a pool of their own.
    processes = (max_processes(stack) if stack.platform == "kubernetes" else 1) + (1 if stack.media_import else 0)
    connections = connection_warning(stack.database, processes)
    if connections:
        warnings.append(connections)
    dsn = stack.database.dsn
    if stack.database.provider == "external" and dsn and not dsn_has_sslmode(dsn):
        warnings.append(
            f"{PROJECT}:database.dsn has no sslmode: MMR's driver (lib/pq) then requires TLS and fails against a "
            "server without it; add ?sslmode=require (or disable on a private network)"
        )
    return warnings
