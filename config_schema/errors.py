"""The error types every validator raises and the commands a fix is made of.

Every message names the stack config key (``matrix-media-repo:<path>``) and ends
with the command that fixes it, because the person reading it has just typed
``pulumi up`` and wants to know what to type next. This module imports nothing
of the package, so that every other module may import it; ``messages`` turns a
failed validation into that line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

PROJECT = "matrix-media-repo"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class ConfigError(ValueError):
    """A stack config value that cannot work.

    Raised inside validators. ``key`` is the full config path when the check
    spans several fields (so pydantic's location would only point at the
    parent); ``example`` a value that would work; ``fix`` the shell command
    that repairs it, when that is more than setting the key to ``example``. In
    ``fix``, ``{key}`` stands for the full path of the reported key and
    ``{parent}`` for the path of the object that holds it (``homeservers[2]``),
    which a validator of one list item cannot know.

    A validator of a credential never puts the value into ``message``.
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
    return "".join(_member(part) for part in loc).removeprefix(".")


def _member(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    # Pulumi's --path syntax quotes any other key: a["b.c"] (properties_path.go parsePropertyPath), which
    # also keeps the message on one line.
    return f".{part}" if _PLAIN_KEY.match(part) else f"[{json.dumps(part)}]"


# Values that are credentials: every fix that sets one carries --secret, no message shows one, and the
# program warns when one sits in the stack file in plain text. "[]" stands for every item of a list.
SECRET_KEYS = frozenset({"database.dsn", "s3.accessSecret", "homeservers[].signingKey", "import.dbPassword"})


def pattern(key: str) -> str:
    """``homeservers[0].name`` -> ``homeservers[].name``."""
    return re.sub(r"\[\d+\]", "[]", key)


def set_command(key: str, value: str, *, secret: bool = False) -> str:
    flag = " --secret" if secret or pattern(key) in SECRET_KEYS else ""
    # A value that starts with '-' (a PEM key, a negative number) would be read as a flag without '--'.
    end_of_flags = "-- " if value.startswith(("-", '"$(')) else ""
    return f"pulumi config set{flag} --path '{key}' {end_of_flags}{value}"


def move_commands(old: str, new: str, value: Any) -> str:
    """Commands that move what is stored at ``old`` to ``new``, leaf by leaf, read back and never printed.

    ``pulumi config get --path`` prints a leaf as text and ``set --path`` types it again
    (pulumi/pulumi sdk/go/common/resource/config/object.go ``coerce``, lines 565-590), so a
    string that looks like a number or boolean is set with ``--type string``.
    """
    commands = []
    for suffix, leaf in _leaves(value):
        source, target = f"{old}{suffix}", f"{new}{suffix}"
        read_back = f'"$(pulumi config get --path {quoted(source)})"'
        if isinstance(leaf, str) and _coerced(leaf) and pattern(target) not in SECRET_KEYS:
            commands.append(f"pulumi config set --type string --path '{target}' -- {read_back}")
        else:
            commands.append(set_command(target, read_back))
    return " && ".join([*commands, f"pulumi config rm --path {quoted(old)}"])


def quoted(key: str) -> str:
    return "'" + key.replace("'", "'\\''") + "'"


def _coerced(text: str) -> bool:
    """Whether `pulumi config set --path` would store ``text`` as a boolean or an integer."""
    return text in ("true", "false") or bool(re.fullmatch(r"[+-]?(0|[1-9]\d*)|-0\d*", text))


def _leaves(value: Any, suffix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for name, item in value.items() for leaf in _leaves(item, suffix + _member(name))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, f"{suffix}[{index}]")]
    return [(suffix, value)]


def rm_command(key: str) -> str:
    return f"pulumi config rm --path '{key}'"
