"""Turning validation failures into one line an operator can act on.

Every message names the stack config key (``matrix-media-repo:<path>``) and ends
with the command that fixes it, because the person reading it has just typed
``pulumi up`` and wants to know what to type next.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

PROJECT = "matrix-media-repo"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


# Keys of earlier versions: what replaced them, and the commands that move a stack over.
REPLACED_KEYS: dict[str, tuple[str, str]] = {
    "proxy.traefik.host": (
        "homeservers[].publicHost, which nginx, Caddy and Traefik all match on",
        "pulumi config rm --path 'proxy.traefik.host' && "
        "pulumi config set --path 'homeservers[0].publicHost' matrix.example.org",
    ),
}


class ConfigError(ValueError):
    """A stack config value that cannot work.

    Raised inside validators. ``key`` is the full config path when the check
    spans several fields (so pydantic's location would only point at the
    parent); ``example`` a value that would work; ``fix`` the shell command
    that repairs it, when that is more than setting the key to ``example``.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        example: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.example = example
        self.fix = fix


class StackConfigError(Exception):
    """Raised by ``load_stack_config``: a single line, ready for ``pulumi.RunError``."""


def config_path(loc: Sequence[str | int]) -> str:
    """``("homeservers", 0, "name")`` -> ``homeservers[0].name``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            # Pulumi's --path syntax quotes any other key: a["b.c"] (and keeps the message on one line).
            path += f"[{json.dumps(part)}]"
        else:
            path += f".{part}" if path else part
    return path


def set_command(key: str, value: str = "<value>", *, secret: bool = False) -> str:
    flag = " --secret" if secret else ""
    return f"pulumi config set{flag} --path '{key}' {value}"


def _describe(error: dict[str, Any]) -> tuple[str, str, str]:
    """Returns (key, problem, fix) for one pydantic error."""
    loc = [part for part in error["loc"] if part not in ("function-after", "function-before")]
    key = config_path(loc)
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, ConfigError):
        if cause.key:
            key = f"{key}.{cause.key}" if key and not cause.key.startswith(key) else cause.key
        fix = cause.fix or set_command(key, cause.example or "<value>")
        return key, cause.message, fix

    kind = error["type"]
    if kind == "extra_forbidden" and key in REPLACED_KEYS:
        replacement, fix = REPLACED_KEYS[key]
        return key, f"was replaced by {replacement}", fix
    if kind == "missing":
        return key, "is required", set_command(key)
    if kind == "extra_forbidden":
        return key, "is not a setting this program knows (a typo?)", f"pulumi config rm --path '{key}'"
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        first = expected.split(",")[0].split(" or ")[0].strip().strip("'")
        return key, f"must be one of {expected}", set_command(key, first or "<value>")
    if kind.startswith("int") or kind.startswith("greater_than") or kind.startswith("less_than"):
        return key, error["msg"].lower(), set_command(key, "<number>")
    if kind.startswith("bool"):
        return key, "must be true or false", set_command(key, "true")
    if kind in ("list_type", "tuple_type"):
        return key, "must be a list", set_command(f"{key}[0]")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return key, "must be an object with named fields", set_command(f"{key}.<field>")
    return key, error["msg"], set_command(key)


def format_validation_error(exc: ValidationError) -> str:
    """All problems of one config, on one line, each with its fix."""
    parts = []
    for error in exc.errors(include_url=False):
        key, problem, fix = _describe(error)
        parts.append(f"{PROJECT}:{key} {problem}. Fix: {fix}")
    return "Invalid stack config: " + "; ".join(parts)
