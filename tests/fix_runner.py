"""Runs a printed `Fix:` exactly as printed, in bash, against the stand-in `pulumi` (tests/pulumi_cli.py).

Where a fix asks for a value (``pulumi config set --path KEY`` with none), the operator's answer is the
example for that key (tests/config_examples.py). Where it offers a choice of commands, each is run on its own.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from typing import Any

from config_schema import StackConfigError, load_stack_config
from config_schema.errors import alternatives
from tests.config_examples import FILES, answer_for, example_for
from tests.pulumi_cli import Stack, parse_path, run_shell, stack_from_program_view

PROJECT = "matrix-media-repo"
# Values only an example would hold; a fix that sets one the operator never typed has made it up.
EXAMPLE_VALUES = (
    "example.org",
    "example.com",
    "example-media",
    "example.net",
    "203.0.113.",
    "nfs-client",
    "172.31.0.0",
    "synapse_default",
    "spam.example",
    "redis.internal",
    "eu-central-1",
    "ams3",
    "EXAMPLE",
    "correct-horse",
    "@daily",
    "sg-0a1b2c3d",
)


def reported(config: dict[str, Any], secret_keys: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(key, fix) for each problem the program reports; [] when the config is valid."""
    try:
        load_stack_config(config, secret_keys)
    except StackConfigError as error:
        return re.findall(rf"{PROJECT}:(\S+) .*?\. Fix: (.*?)(?=; {PROJECT}:|$)", str(error))
    return []


def reported_lines(config: dict[str, Any]) -> list[str]:
    """Each problem as printed, without the project's prefix: ``key problem. Fix: commands``."""
    try:
        load_stack_config(config)
    except StackConfigError as error:
        problems = re.split(rf"; (?={PROJECT}:)", str(error).removeprefix("Invalid stack config: "))
        return [problem.removeprefix(f"{PROJECT}:") for problem in problems]
    return []


def is_bash(command: str) -> bool:
    """Whether bash reads ``command`` as a command line (nothing run)."""
    return subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode == 0


def _homeserver_name(config: dict[str, Any]) -> str | None:
    homeservers = config.get("homeservers")
    first = homeservers[0] if isinstance(homeservers, list) and homeservers else None
    return first["name"] if isinstance(first, dict) and isinstance(first.get("name"), str) else None


def working_value(key: str, config: dict[str, Any]) -> str | None:
    """The shell words an operator would type for ``key`` in this stack: the example, or, for a value that
    must name one of the stack's homeservers, that name."""
    name = _homeserver_name(config)
    if name and re.fullmatch(r"admins\[\d+\]", key):
        return f"@admin:{name}"
    if name and key == "import.serverName":
        return name
    datastores = config.get("datastores") if isinstance(config.get("datastores"), dict) else {}
    file_id = (datastores.get("file") or {}).get("id") if isinstance(datastores.get("file"), dict) else None
    if key == "datastores.s3.id" and file_id == example_for(key):
        return "s3-media"  # the example is the file datastore's id here: the operator types another
    return example_for(key)


def apply_fix(config: dict[str, Any], fix: str, secret_paths: tuple[tuple[str | int, ...], ...] = ()) -> Stack:
    """The stack after running ``fix`` as printed, every value it asks for answered."""
    keys = [shlex.split(quoted)[0] for quoted in re.findall(r"--path ('(?:[^']|'\\'')*')", fix)]
    answers = {}
    for key in keys:
        words = working_value(key, config)
        answer = answer_for(key) if words == example_for(key) else words
        if answer is not None:
            answers[key] = answer
    stack, _ = run_shell(stack_from_program_view(config, secret_paths), fix, FILES, answers)
    return stack


def invented(config: dict[str, Any], fix: str) -> list[str]:
    """Example values the fix sets that the operator never typed."""
    typed = repr(config).lower()
    return [value for value in EXAMPLE_VALUES if value in fix and value.lower() not in typed]


def value_at(view: dict[str, Any], key: str) -> Any:
    node: Any = view
    for part in parse_path(key):
        found = isinstance(node, dict) and part in node
        found = found or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if not found:
            return None
        node = node[part]
    return node


def check_fix(config: dict[str, Any], key: str, fix: str) -> dict[str, Any]:
    """Runs ``fix`` for ``key`` as printed; returns the program's view of the stack after its first command.

    Each command the fix offers must repair the key as printed, answering what it asks
    (tests/fix_property.py); none sets a value nobody typed.
    """
    from tests.fix_property import assert_fix_clears

    assert_fix_clears(config, key, fix)
    return apply_fix(config, alternatives(fix)[0]).program_view()[0]
