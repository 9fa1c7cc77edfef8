"""Mistakes people really make: each ends in one line naming the key, with a fix that works as typed.

Every case here failed before the DSN parser followed lib/pq, server names with a port were refused,
and fixes named real indexes, nearest keys and the --path form.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from config_schema import StackConfigError, load_stack_config
from config_schema.dsn import DsnError, encode_userinfo, parse_dsn
from tests.fix_runner import apply_fix, check_fix, reported
from tests.pulumi_harness import run_program
from tests.variants import HOMESERVER, SIGNING_KEY, VARIANTS

PASSWORD_PART = "Sentinel"
DSN_FIX = "\"$(pulumi config get --path 'database.dsn' | python3 config_schema/dsn.py)\""


def external_dsn(dsn: str) -> dict[str, Any]:
    return {**VARIANTS["external"](), "database": {"provider": "external", "dsn": dsn}}


def dsn_with_password(password: str) -> str:
    return f"postgres://mmr:{password}@db.example.org:5432/mediarepo?sslmode=require"


# (config, the key the message names, a phrase of the problem, a phrase of the fix)
def droplet(**host: Any) -> dict[str, Any]:
    """A stack that makes its DigitalOcean host, with ``host`` over the minimum it needs."""
    return {"homeservers": [HOMESERVER], "host": {"provider": "digitalocean", "adminCidrs": ["203.0.113.7/32"], **host}}


CASES: dict[str, tuple[dict[str, Any], str, str, str]] = {
    **{
        f"password with {char!r}": (
            external_dsn(dsn_with_password(f"{PASSWORD_PART}{char}1234")),
            "database.dsn",
            f"{char!r} as {encoded}",
            DSN_FIX,
        )
        for char, encoded in (("#", "%23"), ("/", "%2F"), ("?", "%3F"), ("[", "%5B"), (" ", "%20"), ("é", "%C3%A9"))
    },
    "host without admin addresses": (
        droplet(adminCidrs=[]),
        "host.adminCidrs",
        "nobody could reach the new host",
        "pulumi config set --path 'host.adminCidrs[0]'",
    ),
    "host open to the whole internet": (
        droplet(adminCidrs=["203.0.113.7/32", "0.0.0.0/0"]),
        "host.adminCidrs[1]",
        "every address on the internet",
        "pulumi config set --path 'host.adminCidrs[1]'",
    ),
    "host admin range with host bits": (
        droplet(adminCidrs=["192.0.2.9/24"]),
        "host.adminCidrs[0]",
        "the network is 192.0.2.0/24",
        "pulumi config set --path 'host.adminCidrs[0]' 192.0.2.0/24",
    ),
    "host admin address that is no address": (
        droplet(adminCidrs=["my-laptop"]),
        "host.adminCidrs[0]",
        "is not an address or CIDR range",
        "pulumi config set --path 'host.adminCidrs[0]'",
    ),
    "media repo source that is no address": (
        droplet(mediaRepoSources=["10.0.0.300/20"]),
        "host.mediaRepoSources[0]",
        "is not an address or CIDR range",
        "pulumi config set --path 'host.mediaRepoSources[0]'",
    ),
    "host region without volumes": (
        droplet(region="nyc2"),
        "host.region",
        "offers no block storage",
        "pulumi config set --path 'host.region'",
    ),
    "host region misspelt": (
        droplet(region="fra2"),
        "host.region",
        "is not a DigitalOcean region with block storage",
        "pulumi config set --path 'host.region' fra1",
    ),
    "host size too small for the containers": (
        droplet(size="s-1vcpu-2gb"),
        "host.size",
        "the containers' memory limits (docker.memory) add up to",
        "pulumi config set --path 'host.size' s-2vcpu-4gb",
    ),
    "host size not a slug": (
        droplet(size="4 GB"),
        "host.size",
        "is not a droplet size slug",
        "pulumi config set --path 'host.size'",
    ),
    "host keys without a provider": (
        {"homeservers": [HOMESERVER], "host": {"region": "fra1"}},
        "host",
        "host.provider is not set",
        "pulumi config rm host",
    ),
    "host on kubernetes": (
        {**droplet(), "platform": "kubernetes", "kubernetes": {"replicas": 1}},
        "host.provider",
        "this stack's platform is kubernetes",
        "pulumi config rm --path host.provider",
    ),
    "host with networks of another host": (
        {**droplet(), "docker": {"networks": ["synapse_default"]}},
        "docker.networks",
        "makes a new one, where they do not exist",
        "pulumi config rm --path docker.networks",
    ),
    "password with a bad percent-escape": (
        external_dsn(dsn_with_password(f"{PASSWORD_PART}%zz")),
        "database.dsn",
        "'%' as %25",
        DSN_FIX,
    ),
    "dsn port out of range": (
        external_dsn("postgres://mmr:pw@db.example.org:99999/mediarepo?sslmode=require"),
        "database.dsn",
        "port: 99999 is not a TCP port",
        # A credential is asked for, never written out.
        "pulumi config set --secret --path 'database.dsn'",
    ),
    "dsn sslmode lib/pq does not know": (
        external_dsn("postgres://mmr:pw@db.example.org/mediarepo?sslmode=prefer"),
        "database.dsn",
        "sslmode=prefer is not one lib/pq supports",
        "pulumi config set --secret --path 'database.dsn'",
    ),
    "dsn without a user": (
        external_dsn("postgres://db.example.org/mediarepo?sslmode=require"),
        "database.dsn",
        "names no user",
        "pulumi config set --secret --path 'database.dsn'",
    ),
    "dsn parameters split by ';'": (
        external_dsn("postgres://mmr:pw@db.example.org/mediarepo?sslmode=require;connect_timeout=5"),
        "database.dsn",
        "not ';'",
        "pulumi config set --secret --path 'database.dsn'",
    ),
    "server name with a port": (
        {"homeservers": [{**HOMESERVER, "name": "example.org:8448"}]},
        "homeservers[0].name",
        "MMR cuts the Host header at its first ':'",
        "pulumi config set --path 'homeservers[0].name' example.org",
    ),
    "server name as an IPv6 literal": (
        {"homeservers": [{**HOMESERVER, "name": "[2001:db8::1]"}]},
        "homeservers[0].name",
        "has a ':'",
        "pulumi config set --path 'homeservers[0].name'",
    ),
    "server names equal but for case": (
        {"homeservers": [HOMESERVER, {**HOMESERVER, "name": "Example.org"}]},
        "homeservers[1].name",
        "do not differ by case",
        "pulumi config rm --path 'homeservers[1]'",
    ),
    "signing key of the second homeserver": (
        {"homeservers": [HOMESERVER, {**HOMESERVER, "name": "example.net", "signingKey": "not a key"}]},
        "homeservers[1].signingKey",
        "is not an MMR signing key",
        "pulumi config set --secret --path 'homeservers[1].signingKey'",
    ),
    "signing key and path of the second homeserver": (
        {
            "homeservers": [
                HOMESERVER,
                {**HOMESERVER, "name": "example.net", "signingKeyPath": "/k", "signingKey": SIGNING_KEY},
            ]
        },
        "homeservers[1].signingKey",
        "are both set",
        "pulumi config rm --path 'homeservers[1].signingKeyPath'",
    ),
    "docker network misspelt": (
        {"homeservers": [HOMESERVER], "docker": {"networks": ["traefik", "bad name"]}},
        "docker.networks[1]",
        "not a Docker network name",
        "pulumi config set --path 'docker.networks[1]'",
    ),
    "docker network twice": (
        {"homeservers": [HOMESERVER], "docker": {"networks": ["synapse_default", "synapse_default"]}},
        "docker.networks[1]",
        "again",
        "pulumi config rm --path 'docker.networks[1]'",
    ),
    "top-level typo": (
        {"homeserver": [HOMESERVER]},
        "homeserver",
        "did you mean homeservers",
        "pulumi config set --path 'homeservers[0].name' -- \"$(pulumi config get --path 'homeserver[0].name')\"",
    ),
    "case typo": (
        {"homeservers": [{"name": "example.org", "csAPI": "https://matrix.example.org"}]},
        "homeservers[0].csAPI",
        "did you mean csApi",
        "pulumi config rm --path 'homeservers[0].csAPI'",
    ),
    "plural typo": (
        {"homeservers": [HOMESERVER], "s3": {"provider": "aws"}, "datastores": {"s3": {"forKind": ["thumbnails"]}}},
        "datastores.s3.forKind",
        "did you mean forKinds",
        "'datastores.s3.forKinds[0]'",
    ),
    "dotted key without --path": (
        {"homeservers": [HOMESERVER], "s3.provider": "aws"},
        '["s3.provider"]',
        "without --path",
        "pulumi config set --path 's3.provider' -- \"$(pulumi config get 's3.provider')\" && "
        "pulumi config rm 's3.provider'",
    ),
    "kubernetes keys on a docker stack": (
        {"homeservers": [HOMESERVER], "kubernetes": {"replicas": 3}},
        "kubernetes",
        "platform is docker, and only a Kubernetes stack reads it (to move the stack onto Kubernetes instead: "
        "pulumi config set platform kubernetes)",
        "pulumi config rm kubernetes",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_with_a_fix(case: str) -> None:
    config, key, problem, fix = CASES[case]
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(config)
    message = str(caught.value)
    assert "\n" not in message and PASSWORD_PART not in message
    assert f"matrix-media-repo:{key} " in message
    assert problem in message
    assert f"Fix: {fix}" in message or fix in message.split("Fix: ", 1)[1]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_printed_fix_fixes_as_typed(case: str) -> None:
    config, key, _, _ = CASES[case]
    ((_reported_key, fix),) = [(k, f) for k, f in reported(config) if k == key]
    check_fix(config, key, fix)


def test_the_dsn_fix_keeps_the_password() -> None:
    password = "p#ss/w?rd[1] %zz é@x"
    stack = apply_fix(
        external_dsn(dsn_with_password(password)), f"pulumi config set --secret --path 'database.dsn' {DSN_FIX}"
    )
    fixed = stack.program_view()[0]["database"]["dsn"]
    assert parse_dsn(fixed).password == password
    assert parse_dsn(fixed).host == "db.example.org" and parse_dsn(fixed).params == {"sslmode": "require"}
    # Set with --secret, it stays encrypted.
    assert "database" in stack.program_view()[1]
    assert encode_userinfo(fixed) == fixed


@pytest.mark.parametrize(
    "dsn",
    [
        "postgres://mmr:p@ss@db.example.org:5432/mediarepo?sslmode=require",  # Go splits at the last '@'
        "postgresql://mmr:pw@[2001:db8::5]:5432/mediarepo?sslmode=verify-full",
        "postgres://mmr:pw@db.example.org/mediarepo?sslmode=disable&application_name=a@b",
        "postgres://m%40r:p%23w@db.example.org:5432/media%2Drepo?sslmode=require",
    ],
)
def test_what_lib_pq_reads_is_accepted(dsn: str) -> None:
    assert load_stack_config(external_dsn(dsn)).database.dsn == dsn


def test_dsn_problem_never_holds_the_password() -> None:
    with pytest.raises(DsnError) as caught:
        parse_dsn(dsn_with_password(f"{PASSWORD_PART}#"))
    assert PASSWORD_PART not in str(caught.value)


def test_a_bad_dsn_stops_the_program_before_any_resource_without_the_password() -> None:
    config = external_dsn(dsn_with_password(f"{PASSWORD_PART}#1234"))
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, secret_keys=("s3", "database"))
    assert type(caught.value) is pulumi.RunError
    assert "matrix-media-repo:database.dsn " in str(caught.value) and PASSWORD_PART not in str(caught.value)
