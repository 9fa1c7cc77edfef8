"""Turning validation failures into one line an operator can act on.

Every message names the stack config key (``matrix-media-repo:<path>``) and ends
with the command that fixes it, because the person reading it has just typed
``pulumi up`` and wants to know what to type next.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

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


# Values that are credentials: every fix that sets one carries --secret.
SECRET_KEYS = frozenset({"database.dsn", "s3.accessSecret", "homeservers[].signingKey", "import.dbPassword"})


def pattern(key: str) -> str:
    """``homeservers[0].name`` -> ``homeservers[].name``."""
    return re.sub(r"\[\d+\]", "[]", key)


def set_command(key: str, value: str, *, secret: bool = False) -> str:
    flag = " --secret" if secret or pattern(key) in SECRET_KEYS else ""
    return f"pulumi config set{flag} --path '{key}' {value}"


def rm_command(key: str) -> str:
    return f"pulumi config rm --path '{key}'"


def fix_for(key: str) -> str:
    """Commands that give ``key`` a working value: an example, or a first item for a list."""
    # Imported here: the examples name stack.py's defaults, and stack.py needs this module.
    from config_schema.examples import EXAMPLES, REQUIRED_ITEM_KEYS

    shape = pattern(key)
    if shape in EXAMPLES:
        return set_command(key, EXAMPLES[shape])
    item, index = (f"{key}[0]", None) if shape in REQUIRED_ITEM_KEYS else (key, shape.endswith("[]"))
    if (index is None or index) and pattern(item).removesuffix("[]") in REQUIRED_ITEM_KEYS:
        fields = REQUIRED_ITEM_KEYS[pattern(item).removesuffix("[]")]
        return " && ".join(set_command(f"{item}.{field}", EXAMPLES[f"{pattern(item)}.{field}"]) for field in fields)
    if f"{shape}[]" in EXAMPLES:
        return set_command(f"{key}[0]", EXAMPLES[f"{shape}[]"])
    return rm_command(key)


def _typed_back(value: Any) -> str | None:
    """How to type ``value`` again on the command line, or None when `config set` cannot make it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return shlex.quote(value)
    return None


def _describe(error: dict[str, Any]) -> tuple[str, str, str]:
    """Returns (key, problem, fix) for one pydantic error."""
    loc = [part for part in error["loc"] if part not in ("function-after", "function-before")]
    key = config_path(loc)
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, ConfigError):
        if cause.key:
            key = f"{key}.{cause.key}" if key and not cause.key.startswith(key) else cause.key
        fix = cause.fix or (set_command(key, cause.example) if cause.example else fix_for(key))
        return key, cause.message, fix

    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(key, error.get("input"))
    if kind == "missing":
        return key, "is required", fix_for(key)
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        first = expected.split(",")[0].split(" or ")[0].strip().strip("'")
        return key, f"must be one of {expected}", set_command(key, first)
    if kind.startswith("int") or kind.startswith("greater_than") or kind.startswith("less_than"):
        return key, error["msg"].lower(), fix_for(key)
    if kind.startswith("bool"):
        return key, "must be true or false", set_command(key, "true")
    if kind in ("list_type", "tuple_type"):
        return key, "must be a list", _replace(key)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return key, "must be an object with named fields", _replace(key)
    return key, error["msg"], fix_for(key)


def _replace(key: str) -> str:
    """Remove what is there, then set a working value where the key has no usable default."""
    replacement = fix_for(key)
    return rm_command(key) if replacement == rm_command(key) else f"{rm_command(key)} && {replacement}"


def _unknown_key(key: str, value: Any) -> tuple[str, str, str]:
    if key in REPLACED_KEYS:
        replacement, fix = REPLACED_KEYS[key]
        return key, f"was replaced by {replacement}", fix
    parent, _, name = key.rpartition(".")
    known = to_camel(name)
    if known != name and (typed := _typed_back(value)) is not None:
        # snake_case: the stack file's keys are camelCase, as the README lists them.
        renamed = f"{parent}.{known}" if parent else known
        fix = f"{rm_command(key)} && {set_command(renamed, typed)}"
        return key, f"is not a setting this program knows: keys are camelCase ({known})", fix
    return key, "is not a setting this program knows (a typo?)", rm_command(key)


def format_validation_error(exc: ValidationError) -> str:
    """All problems of one config, on one line, each with its fix."""
    parts = []
    for error in exc.errors(include_url=False):
        key, problem, fix = _describe(error)
        parts.append(f"{PROJECT}:{key} {problem}. Fix: {fix}")
    return "Invalid stack config: " + "; ".join(parts)
