"""Runs a printed `Fix:` exactly as printed, in bash, against the stand-in `pulumi` (tests/pulumi_cli.py).

Where a fix asks for a value (``pulumi config set --path KEY`` with none), the operator's answer is the
example for that key (tests/config_examples.py). Where it leaves the operator's own value in the command
for them to change, running it as printed changes nothing; the operator then types a working value in
its place, which ``edited`` does.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from typing import Any

from config_schema import StackConfigError, load_stack_config
from config_schema.errors import set_command
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
# One `pulumi config set` of one key, and the value after it.
_ONE_SET = re.compile(r"^pulumi config set (?:--plaintext )?(?:--type string )?--path '([^']+)' (?:-- )?(.+)$")


def reported(config: dict[str, Any], secret_keys: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(key, fix) for each problem the program reports; [] when the config is valid."""
    try:
        load_stack_config(config, secret_keys)
    except StackConfigError as error:
        return re.findall(rf"{PROJECT}:(\S+) .*?\. Fix: (.*?)(?=; {PROJECT}:|$)", str(error))
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


def edited(key: str, fix: str, config: dict[str, Any]) -> str:
    """The fix with the operator's own value replaced by a working one, as they would type it."""
    match = _ONE_SET.match(fix)
    assert match and match.group(1) == key, f"{key}: a fix that leaves the value to change sets only it: {fix}"
    words = working_value(key, config)
    assert words is not None, f"{key}: tests/config_examples.py has no value to type in place of the operator's"
    return set_command(key, words)


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


def _as_typed(value: Any) -> str:
    """A value as the operator typed it on the command line."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def check_fix(config: dict[str, Any], key: str, fix: str, *, certain: bool = False) -> dict[str, Any]:
    """Runs ``fix`` for ``key`` as printed; returns the program's view of the stack once the key is fixed.

    A fix either repairs the key as printed (answering what it asks), or sets nothing but the operator's own
    value, left for them to change; then the operator's working value in its place repairs it. ``certain``:
    the fix must repair the key as printed.
    """
    assert is_bash(fix), f"{key}: bash cannot read the fix: {fix}"
    assert not invented(config, fix), f"{key}: the fix sets {invented(config, fix)}, which nobody typed: {fix}"
    before = stack_from_program_view(config).program_view()[0]
    after = apply_fix(config, fix).program_view()[0]
    if key in [again for again, _ in reported(after)] and not certain:
        left = value_at(before, key) is not None and _as_typed(value_at(after, key)) == _as_typed(value_at(before, key))
        assert left, f"{key}: {fix!r} neither fixes it nor leaves the operator's own value: {reported(after)}"
        after = apply_fix(config, edited(key, fix, config)).program_view()[0]
    still = [again for again, _ in reported(after) if again == key]
    assert not still, f"{key}: {fix!r} leaves it reported: {reported(after)}"
    return after
