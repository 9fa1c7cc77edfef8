"""Every `Fix:` the program prints works as typed: run in bash against a stand-in `pulumi` that stores
values as the Pulumi CLI does (tests/pulumi_cli.py, read from pulumi/pulumi), the error is gone.
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_schema import StackConfigError, load_stack_config
from tests.pulumi_cli import CliError, Stack, parse_path, run_shell, stack_from_program_view
from tests.test_validation import INVALID
from tests.variants import HOMESERVER, SIGNING_KEY

PROJECT = "matrix-media-repo"
_PLACEHOLDER = re.compile(r"<[^>]+>")
# A fix that reads a file the operator has ("$(cat example.org.mmr.key)") finds it in the working directory.
FILES = {"example.org.mmr.key": SIGNING_KEY}


def apply_fix(config: dict[str, Any], fix: str, secret_paths: tuple[tuple[str | int, ...], ...] = ()) -> Stack:
    """The stack after running ``fix`` (`pulumi config` commands joined by &&) as typed."""
    command_text = re.sub(r"\s+\([^()]*\)\s*$", "", fix)  # a trailing remark: "(or digitalocean, external)"
    stack, _ = run_shell(stack_from_program_view(config, secret_paths), command_text, FILES)
    return stack


def _set(config: dict[str, Any], parts: list[str | int], value: Any) -> None:
    """Builds a test input directly (not through the CLI): missing lists and objects are made on the way."""
    node: Any = config
    for part, following in itertools.pairwise(parts):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            while len(node) <= part:
                node.append(copy.deepcopy(empty))
        elif not isinstance(node.get(part), dict | list):
            node[part] = empty
        node = node[part]
    if isinstance(parts[-1], int):
        while len(node) <= parts[-1]:
            node.append(None)
    node[parts[-1]] = value


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
        after = apply_fix(config, fix).program_view()[0]
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


def test_the_stand_in_stores_values_as_the_cli_does() -> None:
    stack, _ = run_shell(
        Stack(),
        "pulumi config set --path 'a.b[0].c' 25 && pulumi config set --path 'a.d' true && "
        "pulumi config set --path 'a.zip' 0123 && pulumi config set --secret --path 'a.pin' 1234 && "
        "pulumi config set --path 'a.list' '[\"x\"]' && pulumi config set --type string --path 'a.n' 7",
    )
    assert stack.program_view() == (
        {"a": {"b": [{"c": 25}], "d": True, "zip": "0123", "pin": "1234", "list": '["x"]', "n": "7"}},
        ["a"],
    )
    stack, _ = run_shell(stack, "pulumi config rm --path 'a.b' && pulumi config rm --path 'a.nothing[3]'")
    assert "b" not in stack.program_view()[0]["a"]
    with pytest.raises(CliError, match="array index out of range"):
        run_shell(stack_from_program_view({"h": [{"n": 1}]}), "pulumi config set --path 'h[2].n' 1")
    with pytest.raises(CliError, match="invalid array index"):
        run_shell(Stack(), "pulumi config set --path 'homeservers[N].name' x")
    with pytest.raises(CliError, match="expected an array"):
        run_shell(
            stack_from_program_view({"docker": {"networks": "x"}}), "pulumi config set --path 'docker.networks[0]' y"
        )
    with pytest.raises(CliError, match="unknown flag"):
        run_shell(Stack(), "pulumi config set --path 'k' -----BEGIN")
    # Without --path, a dotted key is stored whole; a top-level value set with --path is not typed.
    stack, _ = run_shell(Stack(), "pulumi config set s3.provider aws && pulumi config set --path 'replicas' 3")
    assert stack.program_view() == ({"s3.provider": "aws", "replicas": 3}, [])
    assert stack.values["matrix-media-repo:replicas"] == "3"
    assert parse_path('a["b.c"][2]') == ["a", "b.c", 2]
