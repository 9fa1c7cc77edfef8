"""Every `Fix:` the program prints works as typed: applied as the Pulumi CLI stores it, the error is gone.

``pulumi config set --path KEY VALUE`` stores ``true``/``false`` as booleans and
integers as numbers, and every other value as a string; ``pulumi config rm
--path KEY`` removes the key. ``apply_fix`` does the same to a stack config, and
each test reruns validation on the result.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_schema import StackConfigError, load_stack_config
from tests.test_validation import INVALID
from tests.variants import HOMESERVER, SIGNING_KEY

PROJECT = "matrix-media-repo"
_PATH_PART = re.compile(r'\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.?([^.\[]+)')
_PLACEHOLDER = re.compile(r"<[^>]+>")
# A fix that reads a file the operator has ("$(cat example.org.mmr.key)") gets that file's content here.
FILE_CONTENTS = {"example.org.mmr.key": SIGNING_KEY}


def path_parts(path: str) -> list[str | int]:
    """``homeservers[0].name`` -> ["homeservers", 0, "name"]; ``a["b.c"]`` -> ["a", "b.c"] (Pulumi's syntax)."""
    parts: list[str | int] = []
    for index, quoted, plain in _PATH_PART.findall(path):
        parts.append(int(index) if index else json.loads(f'"{quoted}"') if quoted else plain)
    return parts


def typed(value: str) -> Any:
    """What `pulumi config set --path` stores for a value typed on the command line."""
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _set(config: dict[str, Any], parts: list[str | int], value: Any) -> None:
    node: Any = config
    for part, following in itertools.pairwise(parts):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            assert isinstance(node, list), f"not a list at {part}"
            while len(node) <= part:
                node.append(copy.deepcopy(empty))
            if not isinstance(node[part], dict | list):
                node[part] = empty
        elif not isinstance(node.get(part), dict | list):
            node[part] = empty
        node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value


def _remove(config: dict[str, Any], parts: list[str | int]) -> None:
    node: Any = config
    for part in parts[:-1]:
        node = node[part]
    if isinstance(node, list):
        node.pop(parts[-1])
    else:
        node.pop(parts[-1], None)


def apply_fix(config: dict[str, Any], fix: str) -> dict[str, Any]:
    """The stack config after running ``fix`` (one or more `pulumi config` commands joined by &&)."""
    fixed = copy.deepcopy(config)
    command_text = re.sub(r"\s+\([^()]*\)\s*$", "", fix)  # a trailing remark: "(or digitalocean, external)"
    for command in command_text.split(" && "):
        for file_name, content in FILE_CONTENTS.items():
            command = command.replace(f'"$(cat {file_name})"', shlex.quote(content))
        words = [word for word in shlex.split(command) if word not in ("--secret", "--")]
        assert words[:2] == ["pulumi", "config"], command
        if words[2] == "rm":
            assert words[3] == "--path", command
            _remove(fixed, path_parts(words[4]))
        elif words[2] == "set" and words[3] == "--path":
            _set(fixed, path_parts(words[4]), typed(words[5]))
        elif words[2] == "set" and ":" in words[3] and not words[3].startswith(f"{PROJECT}:"):
            continue  # another provider's key: not this program's config
        else:
            assert words[2] == "set", command
            fixed[words[3].removeprefix(f"{PROJECT}:")] = words[4]  # without --path: always a string
    return fixed


def reported(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, fix) for each problem the program reports; [] when the config is valid."""
    try:
        load_stack_config(config)
    except StackConfigError as error:
        return re.findall(rf"{PROJECT}:(\S+) .*?\. Fix: (.*?)(?=; {PROJECT}:|$)", str(error))
    return []


def assert_every_fix_fixes(config: dict[str, Any]) -> None:
    for key, fix in reported(config):
        assert not _PLACEHOLDER.search(fix), f"{key}: a placeholder instead of an example: {fix}"
        after = apply_fix(config, fix)
        still = [again for again, _ in reported(after) if again == key]
        assert not still, f"{key}: {fix!r} leaves it reported: {reported(after)}"


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_hand_written_fix_fixes(case: str) -> None:
    config = INVALID[case][0]
    assert reported(config), "the case is invalid"
    assert_every_fix_fixes(config)


BASE = {"homeservers": [dict(HOMESERVER)], "admins": ["@admin:example.org"], "database": {"maxConnections": 25}}
WRONG_VALUES = st.one_of(
    st.just("yes-maybe"), st.just("[]"), st.just(""), st.integers(-5, 70000), st.booleans(), st.just({"x": 1}),
    st.just(["a"]), st.just("https://x.example/y"),
)  # fmt: skip
KEYS = [
    ("homeservers", 0, "name"), ("homeservers", 0, "csApi"), ("homeservers", 0, "publicHost"),
    ("homeservers", 0, "adminApiKind"), ("homeservers", 0, "backoffAt"), ("homeservers",), ("admins",),
    ("admins", 0), ("image",), ("http", "port"), ("http", "bindAddress"), ("metrics", "port"), ("metrics", "enabled"),
    ("database", "provider"), ("database", "maxConnections"), ("database", "maxIdleConnections"),
    ("database", "postgresVersion"), ("datastores", "file", "forKinds"), ("datastores", "s3", "forKinds"),
    ("datastores", "file", "id"), ("s3", "provider"), ("s3", "endpoint"), ("s3", "tempPath"), ("s3", "ssl"),
    ("s3", "region"), ("s3", "bucketName"), ("redis", "enabled"), ("redis", "shards"), ("uploads", "maxBytes"),
    ("accessTokens", "maxCacheTimeSeconds"), ("docker", "networks"), ("federation", "ignoredHosts"),
]  # fmt: skip


def _with(parts: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    _set(config, list(parts), value)
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.sampled_from(KEYS), value=WRONG_VALUES)
def test_each_generated_fix_fixes(parts: tuple[str | int, ...], value: Any) -> None:
    assert_every_fix_fixes(_with(parts, value))


@given(key=st.sampled_from(["cs_api", "csapi", "admin_api_kind", "signing_key"]))
def test_snake_case_and_misspelt_keys_are_reported_with_a_fix(key: str) -> None:
    config = {"homeservers": [{**HOMESERVER, key: "synapse"}]}
    assert [reported_key for reported_key, _ in reported(config)] == [f"homeservers[0].{key}"]
    assert_every_fix_fixes(config)


def test_what_pulumi_config_set_stores_is_accepted_where_the_meaning_is_clear() -> None:
    # `pulumi config set --path 'datastores.s3.forKinds' '[]'` stores the string "[]".
    stack = load_stack_config({**BASE, "s3": {"provider": "aws"}, "datastores": {"s3": {"forKinds": "[]"}}})
    assert stack.datastores.s3.for_kinds == []
    # A droplet id typed on the command line arrives as an integer.
    database = {
        "provider": "digitalocean",
        "trustedSources": [{"type": "droplet", "value": 123456789}],
    }
    stack = load_stack_config({**BASE, "database": database})
    assert stack.database.trusted_sources[0].value == "123456789"


def test_secret_fixes_carry_secret() -> None:
    fixes = dict(reported({**BASE, "database": {"provider": "external"}}))
    assert fixes["database.dsn"].startswith("pulumi config set --secret ")
    config = {**BASE, "import": {"from": "synapse", "dbHost": "h", "dbName": "d", "dbUsername": "u"}}
    assert dict(reported(config))["import.dbPassword"].startswith("pulumi config set --secret ")


def test_apply_fix_follows_the_cli() -> None:
    fixed = apply_fix({}, "pulumi config set --path 'a.b[0].c' 25 && pulumi config set --path 'a.d' true")
    assert fixed == {"a": {"b": [{"c": 25}], "d": True}}
    assert apply_fix(fixed, "pulumi config set --path 'a.d' '[]'")["a"]["d"] == "[]"
    assert apply_fix(fixed, "pulumi config rm --path 'a.b'") == {"a": {"d": True}}
    assert path_parts('a["b.c"][2]') == ["a", "b.c", 2]
