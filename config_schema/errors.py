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
import shlex
from collections.abc import Sequence
from typing import Any

PROJECT = "matrix-media-repo"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class ConfigError(ValueError):
    """A stack config value that cannot work.

    Raised inside validators. ``key`` is the full config path when the check
    spans several fields (so pydantic's location would only point at the
    parent). What the printed fix does, in this order:

    - ``fix``: these commands, when the repair is more than setting the key;
    - ``corrected``: sets the key to this, what the operator typed corrected where the correction is certain
      (a trailing dot dropped, a scheme taken off, the case folded where the rule says so);
    - neither: the command that asks for the value (the CLI prompts for it), and the message names the forms
      that work. A value never comes from nowhere, and a fix never sets again the value that was refused: run
      as printed, every fix clears its own error (tests/fix_property.py).

    In ``fix``, ``{key}`` stands for the full path of the reported key and
    ``{parent}`` for the path of the object that holds it (``homeservers[2]``),
    which a validator of one list item cannot know.

    A validator of a credential never puts the value into ``message``.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        corrected: str | int | bool | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.corrected = corrected
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


# Key names the CLI suspects of holding a credential: a plain value that "looks like a secret" is refused for
# them unless --plaintext says it is meant (pulumi/pulumi pkg/v3 v3.274.0 cmd/pulumi/config/config.go line
# 1561, keyPattern, and lines 942-947), as accessTokens.* and sharedSecretAuth.* would be.
SECRET_LOOKING_NAME = re.compile(r"(?i)passwd|pass|password|pwd|secret|token")


def set_command(key: str, value: str, *, secret: bool = False) -> str:
    """``pulumi config set`` of ``value``, which is already shell words (quoted, or a ``"$(...)"``)."""
    if secret or pattern(key) in SECRET_KEYS:
        flag = " --secret"
    else:
        flag = " --plaintext" if SECRET_LOOKING_NAME.search(key) else ""
    # A value that starts with '-' (a PEM key, a negative number) would be read as a flag without '--'.
    end_of_flags = "-- " if value.lstrip("'").startswith(("-", '"$(')) else ""
    return f"pulumi config set{flag} --path '{key}' {end_of_flags}{value}"


def set_value(key: str, value: str | int | bool) -> str:
    """The command that stores ``value`` at ``key`` as the program reads it back: typed as it is, quoted for bash.

    ``--path`` stores "true"/"false" as booleans and base-10 integers as numbers (pulumi/pulumi
    sdk/go/common/resource/config/object.go ``coerce``, lines 565-590): text that looks like one of them is
    set with ``--type string``. A credential is never written out: its command asks for it instead.
    """
    if pattern(key) in SECRET_KEYS:
        return ask_command(key)
    if isinstance(value, bool):
        return set_command(key, "true" if value else "false")
    if isinstance(value, int):
        return set_command(key, str(value))
    command = set_command(key, shlex.quote(value))
    return command.replace(" --path ", " --type string --path ", 1) if _coerced(value) else command


def ask_command(key: str, *, secret: bool = False) -> str:
    """``pulumi config set`` without a value: the CLI asks for it (on a terminal; a pipe is read whole), so a
    fix for a value only the operator knows sets nothing made up (pulumi/pulumi pkg/v3 v3.274.0
    ``cmd/pulumi/config/config.go`` lines 870-896). A credential is asked for without echo."""
    flag = " --secret" if secret or pattern(key) in SECRET_KEYS else ""
    return f"pulumi config set{flag} --path {quoted(key)}"


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
    return f"pulumi config rm --path {quoted(key)}"


# Between the commands of a fix that offers a choice: each is whole and runs as typed on its own. A line pasted
# whole is refused by the CLI (too many arguments) rather than setting two values.
ALTERNATIVE = " or "


def one_of(commands: Sequence[str]) -> str:
    return ALTERNATIVE.join(commands)


def alternatives(fix: str) -> list[str]:
    """The commands a fix offers to choose from (one, where it offers no choice)."""
    return re.split(rf"{ALTERNATIVE}(?=pulumi )", fix)
