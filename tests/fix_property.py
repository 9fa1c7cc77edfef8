"""The one property every printed fix must have: run as printed, it clears the error it was printed for.

Applied to the stack that produced it (each value it asks for answered as an operator would, from
tests/config_examples.py), then loaded again, the stack no longer reports that key. A fix that offers a choice
(``config_schema.errors.alternatives``) must do so for each command it offers. A fix that sets the refused value
again changes nothing and loops the operator: this is what catches it (issue #36).
"""

from __future__ import annotations

from typing import Any

from config_schema import load_stack_config
from config_schema.errors import alternatives
from config_schema.loading import advisory_warnings, plaintext_secret_warnings
from tests.fix_runner import apply_fix, invented, is_bash, reported_lines


def problems(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, problem, fix) of each error the program reports for ``config``."""
    found = []
    for line in reported_lines(config):
        head, fix = line.split(". Fix: ", 1) if ". Fix: " in line else (line, "")
        key, problem = head.split(" ", 1)
        found.append((key, problem, fix))
    return found


def still_reported(config: dict[str, Any], key: str, fix: str) -> list[tuple[str, str, str]]:
    """(command, problem, the fix printed again) for each command of ``fix`` after which the stack still reports
    the same problem for ``key``. Another problem of the same key may follow (a choice that needs another
    setting); that one has a fix of its own."""
    before = {problem for again, problem, _ in problems(config) if again == key}
    left = []
    for command in alternatives(fix):
        after = apply_fix(config, command).program_view()[0]
        left += [(command, p, f) for again, p, f in problems(after) if again == key and p in before]
    return left


def assert_fix_clears(config: dict[str, Any], key: str, fix: str) -> None:
    assert fix.strip(), f"{key}: an empty fix"
    for command in alternatives(fix):
        assert is_bash(command), f"{key}: bash cannot read {command!r}"
    assert not invented(config, fix), f"{key}: the fix sets {invented(config, fix)}, which nobody typed: {fix}"
    left = still_reported(config, key, fix)
    assert not left, f"{key}: run as printed, {left[0][0]!r} leaves it reported: {left[0][2]!r}"


def warnings_of(config: dict[str, Any], secret_keys: tuple[str, ...] = ()) -> list[str]:
    return plaintext_secret_warnings(config, secret_keys) + advisory_warnings(load_stack_config(config, secret_keys))


def warned(config: dict[str, Any], secret_keys: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(key, fix) of each warning that ends in a fix."""
    pairs = []
    for warning in warnings_of(config, secret_keys):
        if "Fix: " in warning:
            pairs.append((warning.split(" ", 1)[0].removeprefix("matrix-media-repo:"), warning.split("Fix: ", 1)[1]))
    return pairs


def assert_warning_fix_clears(config: dict[str, Any], secret_keys: tuple[str, ...], key: str, fix: str) -> None:
    """The same property for a warning: each command of its fix, run as printed, silences it for its key."""
    for command in alternatives(fix):
        assert is_bash(command), f"{key}: bash cannot read {command!r}"
        secret_paths = tuple((top,) for top in secret_keys)
        after, after_secret = apply_fix(config, command, secret_paths).program_view()
        again = [fix for k, fix in warned(after, tuple(after_secret)) if k == key]
        assert not again, f"{key}: run as printed, {command!r} leaves the warning: {again}"
