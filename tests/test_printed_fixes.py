"""Every `Fix:` the program prints works as typed: run exactly as printed in bash, against a stand-in `pulumi`
that stores values as the Pulumi CLI does (tests/pulumi_cli.py, read from pulumi/pulumi), the error is gone,
and what it set is what the operator meant (tests/fix_runner.py).
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_schema import load_stack_config
from config_schema.errors import alternatives
from config_schema.signing_key import dendrite_pem, mmr_pem, seed_of, synapse_line
from tests.fix_runner import check_fix, reported, reported_lines, value_at
from tests.pulumi_cli import CliError, Stack, parse_path, run_shell, stack_from_program_view
from tests.test_validation import INVALID
from tests.variants import HOMESERVER, MINIMAL_DIGITALOCEAN_HOST, SIGNING_KEY


def assert_every_fix_fixes(config: dict[str, Any]) -> None:
    for key, fix in reported(config):
        check_fix(config, key, fix)


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


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_hand_written_fix_fixes(case: str) -> None:
    config = INVALID[case][0]
    assert reported(config), "the case is invalid"
    assert_every_fix_fixes(config)


# A server name no example holds, so that a fix which set an example value would show.
OWN_HOMESERVER = {"name": "chat.mydomain.net", "csApi": "http://synapse:8008"}
BASE = {
    "homeservers": [dict(OWN_HOMESERVER)],
    "admins": ["@admin:chat.mydomain.net"],
    "database": {"maxConnections": 25},
}
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


# Each example runs the fix in bash: its time is the machine's load, not the program's (no deadline).
@settings(deadline=None)
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


def _homeserver(**changes: Any) -> dict[str, Any]:
    return {"homeservers": [{**OWN_HOMESERVER, **changes}]}


def _external_s3(**changes: Any) -> dict[str, Any]:
    bucket = {"provider": "external", "endpoint": "minio.lan:9000", "bucketName": "media", "accessKeyId": "k"}
    return {**BASE, "s3": {**bucket, "accessSecret": "s", **changes}}


def _s3_renamed(key: str, other_name: str) -> dict[str, Any]:
    """An external bucket whose ``key`` was typed under another tool's name for it."""
    config = _external_s3()
    config["s3"][other_name] = config["s3"].pop(key)
    return config


IMPORT = {
    "from": "synapse",
    "dbName": "synapse",
    "dbUsername": "synapse",
    "dbPassword": "pw",
    "serverName": "chat.mydomain.net",
    "baseUrl": "http://synapse:8008",
}
ALL_KINDS_BUT_ONE_MISSPELT = ["thumbnails", "remote-media", "local_media", "archives"]

# (what the operator typed, the key, what they meant): each fix, pasted, sets what was meant.
MEANT: dict[str, tuple[dict[str, Any], str, Any]] = {
    "trailing dot": (_homeserver(name="chat.mydomain.net."), "homeservers[0].name", "chat.mydomain.net"),
    "name as a URL": (_homeserver(name="https://chat.mydomain.net/"), "homeservers[0].name", "chat.mydomain.net"),
    "name with a port": (_homeserver(name="chat.mydomain.net:8448"), "homeservers[0].name", "chat.mydomain.net"),
    "a name typed as a number": (_homeserver(name=1234), "homeservers[0].name", "1234"),
    "public host with a port": (
        _homeserver(publicHost="matrix.mydomain.net:443"),
        "homeservers[0].publicHost",
        "matrix.mydomain.net",
    ),
    "upper-case bucket": (
        {**BASE, "s3": {"provider": "aws", "bucketName": "Example-Org-Media"}},
        "s3.bucketName",
        "example-org-media",
    ),
    "upper-case region": ({**BASE, "s3": {"provider": "aws", "region": "EU-Central-1"}}, "s3.region", "eu-central-1"),
    "platform k8s": ({**BASE, "platform": "k8s"}, "platform", "kubernetes"),
    "platform kubernets": ({**BASE, "platform": "kubernets"}, "platform", "kubernetes"),
    "platform Docker": ({**BASE, "platform": "Docker"}, "platform", "docker"),
    "misspelt kind": (
        {**BASE, "s3": {"provider": "aws"}, "datastores": {"s3": {"forKinds": ["local_media", "remote_meda"]}}},
        "datastores.s3.forKinds[1]",
        "remote_media",
    ),
    "kind with a hyphen": (
        {**BASE, "datastores": {"file": {"forKinds": ALL_KINDS_BUT_ONE_MISSPELT}}},
        "datastores.file.forKinds[1]",
        "remote_media",
    ),
    "kinds as one string": (
        {**BASE, "s3": {"provider": "aws"}, "datastores": {"s3": {"forKinds": "local_media"}}},
        "datastores.s3.forKinds",
        ["local_media"],
    ),
    "provider aws3": ({**BASE, "s3": {"provider": "aws3"}}, "s3.provider", "aws"),
    "provider digitalcoean": (
        {**BASE, "s3": {"provider": "digitalcoean", "region": "ams3"}},
        "s3.provider",
        "digitalocean",
    ),
    "database provider contianer": ({**BASE, "database": {"provider": "contianer"}}, "database.provider", "container"),
    "admin without @": ({**BASE, "admins": ["alice:chat.mydomain.net"]}, "admins[0]", "@alice:chat.mydomain.net"),
    "admin as a bare name": ({**BASE, "admins": ["alice"]}, "admins[0]", "@alice:chat.mydomain.net"),
    "admin's server misspelt": (
        {**BASE, "admins": ["@alice:chat.mydomian.net"]},
        "admins[0]",
        "@alice:chat.mydomain.net",
    ),
    "s3 endpoint as a URL": (_external_s3(endpoint="https://minio.lan:9000/"), "s3.endpoint", "minio.lan:9000"),
    "ssl misspelt": (_external_s3(ssl="ture"), "s3.ssl", True),
    "import host with its port": (
        {**BASE, "import": {**IMPORT, "dbHost": "synapse-db:5433"}},
        "import",
        {**IMPORT, "dbHost": "synapse-db", "dbPort": 5433},
    ),
    "s3 secret under AWS's name": (_s3_renamed("accessSecret", "secretAccessKey"), "s3", _external_s3()["s3"]),
    "s3 key id under MinIO's name": (_s3_renamed("accessKeyId", "accessKey"), "s3", _external_s3()["s3"]),
    "egress range as an address": (
        {**BASE, "platform": "kubernetes", "kubernetes": {"networkPolicy": {"egressCidrs": ["10.1.2.3"]}}},
        "kubernetes.networkPolicy.egressCidrs[0]",
        "10.1.2.3/32",
    ),
}


def test_a_credential_under_another_name_moves_only_to_a_secret_key() -> None:
    fixes = dict(reported(_s3_renamed("accessSecret", "secretAccessKey")))
    assert "pulumi config set --secret --path 's3.accessSecret'" in fixes["s3.secretAccessKey"]
    # No secret key is near this one's name: the fix removes it, and moves it into no key kept in plain text.
    fixes = dict(reported(_external_s3(bucketNamePassword="wJalrXUtnFEMI/K7MDENG")))
    assert fixes["s3.bucketNamePassword"] == "pulumi config rm --path 's3.bucketNamePassword'"


def _related(key: str, other: str) -> bool:
    """Whether one key holds the other (or is it)."""
    return key.startswith(other) or other.startswith(key)


def fixed_until_accepted(config: dict[str, Any]) -> dict[str, Any]:
    """The stack once the first command of each fix the program prints was pasted in turn, until it has nothing
    left to report; each fix must repair its key as printed."""
    for _ in range(8):
        problems = reported(config)
        if not problems:
            return config
        key, fix = problems[0]
        config = check_fix(config, key, fix)
    raise AssertionError(f"still reported after 8 fixes: {reported(config)}")


@pytest.mark.parametrize("case", sorted(MEANT))
def test_a_fix_sets_what_the_operator_meant(case: str) -> None:
    config, key, meant = MEANT[case]
    assert any(_related(key, reported_key) for reported_key, _ in reported(config)), reported(config)
    after = fixed_until_accepted(config)
    assert value_at(after, key) == meant
    load_stack_config(after)


# (what the operator typed, the key): no fix can know the value; the one printed sets nothing made up, and
# never the refused value again (issue #36): a short list of allowed values is a command each, to choose from.
UNKNOWABLE: dict[str, tuple[dict[str, Any], str]] = {
    "provider gcs": ({**BASE, "s3": {"provider": "gcs"}}, "s3.provider"),
    "bucket with an underscore": ({**BASE, "s3": {"provider": "aws", "bucketName": "My_Bucket"}}, "s3.bucketName"),
    "platform nomad": ({**BASE, "platform": "nomad"}, "platform"),
    "platform openshift": ({**BASE, "platform": "openshift"}, "platform"),
    "database provider azure": ({**BASE, "database": {"provider": "azure"}}, "database.provider"),
    "host provider aws": ({**MINIMAL_DIGITALOCEAN_HOST, "host": {"provider": "aws"}}, "host.provider"),
    "host region mars1": (
        {**MINIMAL_DIGITALOCEAN_HOST, "host": {**MINIMAL_DIGITALOCEAN_HOST["host"], "region": "mars1"}},
        "host.region",
    ),
    "host size huge": (
        {**MINIMAL_DIGITALOCEAN_HOST, "host": {**MINIMAL_DIGITALOCEAN_HOST["host"], "size": "huge"}},
        "host.size",
    ),
    "kind avatars": ({**BASE, "datastores": {"file": {"forKinds": ["avatars"]}}}, "datastores.file.forKinds[0]"),
    "csApi without a scheme": (_homeserver(csApi="synapse:8008"), "homeservers[0].csApi"),
    "no csApi": ({"homeservers": [{"name": "chat.mydomain.net"}]}, "homeservers[0].csApi"),
    "s3 kinds without a provider": ({**BASE, "datastores": {"s3": {"forKinds": ["local_media"]}}}, "s3.provider"),
    "trusted source of a kind no list has": (
        {**BASE, "database": {"provider": "digitalocean", "trustedSources": [{"type": "subnet", "value": "x"}]}},
        "database.trustedSources[0].type",
    ),
}


@pytest.mark.parametrize("case", sorted(UNKNOWABLE))
def test_a_fix_for_a_value_only_the_operator_knows_sets_nothing_made_up(case: str) -> None:
    config, key = UNKNOWABLE[case]
    message = next(line for line in reported_lines(config) if line.startswith(f"{key} "))
    fix = message.split(". Fix: ", 1)[1]
    typed = value_at(config, key)
    before = stack_from_program_view(config)
    for command in alternatives(fix):
        # Run as printed with nobody at the prompt (standard input empty): what it sets is a value the message
        # names as allowed, or nothing (asked for, or removed); never the value refused.
        stack, _ = run_shell(before, command)
        now = value_at(stack.program_view()[0], key)
        assert typed is None or now != typed, f"{command} sets the refused value again"
        problem = message.split(". Fix: ", 1)[0]
        named = re.search(rf"(?<![\w.-]){re.escape(str(now))}(?![\w.-])", problem) if now is not None else None
        assert now in (None, "", typed) or named, f"{command} sets {now!r}, which {problem!r} names not"
    check_fix(config, key, fix)


def test_the_rows_of_issue_36_print_fixes_that_clear_their_own_error() -> None:
    """As a new user typed them: each printed fix, run as printed, no longer gives that error."""
    for case in ("platform openshift", "database provider azure", "provider gcs", "host provider aws"):
        config, key = UNKNOWABLE[case]
        fix = dict(reported(config))[key]
        assert len(alternatives(fix)) >= 2, fix
    for case in ("host region mars1", "host size huge"):
        config, key = UNKNOWABLE[case]
        assert dict(reported(config))[key] == f"pulumi config set --path '{key}'"


@pytest.mark.parametrize("form", ["synapse", "dendrite", "mmr without its version"])
def test_a_homeservers_own_key_form_is_converted_in_place(form: str) -> None:
    seed, version = seed_of(SIGNING_KEY)
    given = {
        "synapse": synapse_line(seed, version),
        "dendrite": dendrite_pem(seed, version),
        "mmr without its version": mmr_pem(seed, version).replace("Version: 1\n", ""),
    }[form]
    config = _homeserver(signingKey=given)
    ((key, fix),) = reported(config)
    assert given not in fix and "config_schema/signing_key.py" in fix
    after = check_fix(config, key, fix)
    # "$(...)" drops the last newline, as it does for a key set with "$(cat file)"; Go's PEM reader needs none.
    assert value_at(after, "homeservers[0].signingKey") == mmr_pem(seed, version).rstrip("\n")
