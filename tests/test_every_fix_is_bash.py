"""Every fix the code can print is a command line bash reads: no prose, no placeholder, no stray quote.

"Every" is made good twice. Each place in config_schema/ that raises a ``ConfigError`` (each may carry a
fix of its own) is found in the source and must be reached by a config below; and each warning that ends
in a fix is found in the source and counted against the warnings the configs below bring out. The fixes
are then read by ``bash -n``, and the warnings' fixes run against the stand-in `pulumi` in tests/test_fixes_converge.py.
"""

from __future__ import annotations

import ast
import copy
import itertools
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings

from config_schema import errors, load_stack_config
from config_schema.rds import ADMIN_USER
from config_schema.sdks import missing_sdks_message
from tests.fix_property import warnings_of
from tests.fix_runner import is_bash, reported
from tests.pulumi_harness import run_program
from tests.test_bad_input import CASES
from tests.test_config_fuzz import stack_config
from tests.test_printed_fixes import BASE, KEYS, MEANT, UNKNOWABLE, _set
from tests.test_validation import INVALID
from tests.variants import HOMESERVER, MINIMAL_DIGITALOCEAN_HOST, VARIANTS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "config_schema"
WRONG = ["yes-maybe", "[]", "", -1, 0, 70000, True, {"x": 1}, ["a"], "https://x.example/y", "A B."]
K8S = {"homeservers": [HOMESERVER], "platform": "kubernetes"}
SHARED_VOLUME = {"accessMode": "ReadWriteMany", "storageClass": "nfs"}


def k8s(**kubernetes: Any) -> dict[str, Any]:
    """A Kubernetes stack of one process unless ``kubernetes`` says otherwise."""
    return {**K8S, "kubernetes": {"replicas": 1, **kubernetes}}


def k8s_shared(**kubernetes: Any) -> dict[str, Any]:
    """A Kubernetes stack of several processes on a shared media volume."""
    return {**K8S, "kubernetes": {"replicas": 2, "mediaVolume": SHARED_VOLUME, **kubernetes}}


RDS = {"provider": "aws", "aws": {}}


def raise_sites() -> set[tuple[str, int]]:
    """(module, line) of every ``ConfigError(`` in config_schema/."""
    sites = set()
    for path in sorted(SCHEMA.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ConfigError":
                sites.add((path.name, node.lineno))
    return sites


def warning_fix_sites() -> set[tuple[str, int]]:
    """(module, line) of every warning text with a "Fix:" in config_schema/."""
    sites = set()
    for path in sorted(SCHEMA.glob("*.py")):
        if path.name in ("messages.py", "sdks.py"):  # the error line's; the missing SDKs' (tested below)
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "Fix:" in node.value:
                sites.add((path.name, node.lineno))
    return sites


# Configs that reach the raises the other tests' configs do not.
MORE: list[dict[str, Any]] = [
    {"homeservers": [HOMESERVER], "docker": {"networks": ["synapse_default", "synapse_default"]}},
    {"homeservers": [HOMESERVER], "docker": {"logs": {"maxSize": "10M"}}},
    {"homeservers": [{**HOMESERVER, "signingKeyPath": "key.pem"}]},
    {"homeservers": [{**HOMESERVER, "signingKeyRotation": 1, "signingKeyPath": "/k"}]},
    {"homeservers": [{**HOMESERVER, "signingKey": f"ed25519 a_AbCd {'A' * 43}"}]},
    {"homeservers": [HOMESERVER], "redis": {"enabled": True, "shards": [{"name": "r", "addr": "redis://r:6379"}]}},
    {"homeservers": [HOMESERVER], "redis": {"shards": [{"name": "r", "addr": "r:6379"}]}},
    {"homeservers": [HOMESERVER], "redis": {"image": "redis:latest"}},
    {"homeservers": [HOMESERVER], "import": {**VARIANTS["operations"]()["import"], "dbHost": "db:5432"}},
    {"homeservers": [HOMESERVER], "import": {**VARIANTS["operations"]()["import"], "dbName": "a b"}},
    {"homeservers": [HOMESERVER], "import": {**VARIANTS["operations"]()["import"], "serverName": "https://x/"}},
    {"homeservers": [HOMESERVER], "import": {**VARIANTS["operations"]()["import"], "serverName": "example.net"}},
    {"homeservers": [HOMESERVER], "import": {**VARIANTS["operations"]()["import"], "baseUrl": "synapse"}},
    {"homeservers": [HOMESERVER, {**HOMESERVER, "name": "example.net", "publicHost": "example.org"}]},
    {"homeservers": [HOMESERVER], "metrics": {"enabled": True, "port": 8000}},
    {"homeservers": [HOMESERVER], "s3": {"provider": "aws", "tempPath": ""}},
    {"homeservers": [HOMESERVER], "s3": {"provider": "aws", "tempPath": "/var/s3"}},
    {"homeservers": [HOMESERVER], "s3": {"provider": "aws", "region": "Not A Region"}},
    {"homeservers": [HOMESERVER], "s3": {"provider": "aws", "endpoint": "s3.example.org"}},
    {"homeservers": [HOMESERVER], "s3": {"provider": "external"}},
    {"homeservers": [HOMESERVER], "datastores": {"file": {"id": "s3"}, "s3": {"id": "s3"}}},
    {"homeservers": [HOMESERVER], "s3": {"provider": "aws"}, "datastores": {"file": {"transferTo": "s3"}}},
    {
        "homeservers": [HOMESERVER],
        "s3": {"provider": "aws"},
        "datastores": {"file": {"transferTo": "s3", "forKinds": ["thumbnails"]}},
    },
    {"homeservers": [HOMESERVER], "backup": {"schedule": "whenever"}},
    {"homeservers": [HOMESERVER], "backup": {"enabled": True}, "database": RDS},
    {"homeservers": [HOMESERVER], "database": {"aws": {"multiAz": True}}},
    {"homeservers": [HOMESERVER], "federation": {"ignoredHosts": ["https://spam.example/"]}},
    {"homeservers": [HOMESERVER], "database": {"provider": "digitalocean"}},
    {"homeservers": [HOMESERVER], "backup": {"s3": True}},
    {"homeservers": [HOMESERVER], "backup": {"image": "x:latest"}},
    {**k8s(), "backup": {"schedule": "@every 6h"}},
    {**k8s(), "http": {"port": 8001}},
    {**k8s(), "metrics": {"bindAddress": "0.0.0.0"}},
    k8s(namespace="Media"),
    k8s(resources={"memoryLimit": "2 GB"}),
    k8s(redisMaxMemory="lots"),
    k8s(autoscaling={"enabled": True}),
    k8s_shared(replicas=4, autoscaling={"enabled": True, "maxReplicas": 3}),
    k8s(mediaVolume={"accessMode": "ReadWriteMany"}),
    k8s(replicas=2),
    {**k8s_shared(), "redis": {"enabled": False}},
    k8s(podMonitor=True),
    {**k8s_shared(replicas=1024), "import": VARIANTS["operations"]()["import"]},
    {**k8s_shared(replicas=3), "import": {**VARIANTS["operations"]()["import"], "machineId": 1}},
    k8s(networkPolicy={"egressCidrs": ["169.254.0.0/16"]}),
    k8s(networkPolicy={"egressCidrs": ["10.0.0.1/8"]}),
    k8s(networkPolicy={"egressCidrs": ["ten"]}),
    k8s(networkPolicy={"egressNamespaces": ["Matrix"]}),
    {**k8s(), "database": RDS},
    {"homeservers": [HOMESERVER], "database": {"provider": "container", "image": "postgres:latest"}},
    {"homeservers": [HOMESERVER], "database": {"name": "Media"}},
    {"homeservers": [HOMESERVER], "database": {"maxConnections": 3, "maxIdleConnections": 4}},
    {"homeservers": [HOMESERVER], "database": {"provider": "digitalocean", "postgresVersion": "17.2"}},
    {
        "homeservers": [HOMESERVER],
        "database": {"provider": "digitalocean", "trustedSources": [{"type": "security_group", "value": "sg-1"}]},
    },
    {"homeservers": [HOMESERVER], "database": {"provider": "external", "dsn": "postgres://u:p#@db/m?sslmode=require"}},
    {"homeservers": [HOMESERVER], "database": {**RDS, "postgresVersion": "11"}},
    {"homeservers": [HOMESERVER], "database": {**RDS, "user": ADMIN_USER}},
    {
        "homeservers": [HOMESERVER],
        "database": {"provider": "aws", "aws": {"allocatedStorageGb": 50, "maxAllocatedStorageGb": 20}},
    },
    {"homeservers": [HOMESERVER], "database": {"provider": "aws", "aws": {"publiclyAccessible": True}}},
    {"homeservers": [HOMESERVER], "database": {**RDS, "trustedSources": [{"type": "droplet", "value": "1"}]}},
    {"homeservers": [HOMESERVER], "database": {**RDS, "trustedSources": [{"type": "security_group", "value": "x"}]}},
    {"homeservers": [HOMESERVER], "database": {**RDS, "trustedSources": [{"type": "ip_addr", "value": "x"}]}},
    {"homeservers": [HOMESERVER], "database": {**RDS, "trustedSources": [{"type": "ip_addr", "value": "0.0.0.0/0"}]}},
    {"homeservers": [HOMESERVER], "database": {"provider": "aws", "aws": {"instanceClass": "big"}}},
    {"homeservers": [HOMESERVER], "database": {"provider": "aws", "aws": {"backupWindow": "night"}}},
    {"homeservers": [HOMESERVER], "database": {"provider": "aws", "aws": {"maintenanceWindow": "sunday"}}},
    {"homeservers": [HOMESERVER], "database": {"provider": "aws", "aws": {"subnetIds": ["subnet-x"]}}},
    {"homeservers": [HOMESERVER], "database": {"provider": "aws", "aws": {"subnetIds": ["subnet-0a1b2c3d"]}}},
    {"homeservers": [HOMESERVER], "federation": {"allowedNetworks": "[]"}},
    {"homeservers": [HOMESERVER], "federation": {"disallowedNetworks": ["10.0.0.1"]}},
]


def corpus() -> Iterator[dict[str, Any]]:
    """Every config the tests know to be refused, and those above."""
    yield from (case[0] for case in INVALID.values())
    yield from (case[0] for case in CASES.values())
    yield from (case[0] for case in MEANT.values())
    yield from (case[0] for case in UNKNOWABLE.values())
    yield from MORE
    for parts, value in itertools.product(KEYS, WRONG):
        config = copy.deepcopy(BASE)
        _set(config, list(parts), value)
        yield config


@pytest.fixture(scope="module")
def printed() -> tuple[list[tuple[str, str]], set[tuple[str, int]]]:
    """(key, fix) of every problem the corpus brings out, and the raises it reached."""
    reached: set[tuple[str, int]] = set()
    original = errors.ConfigError.__init__

    def recording(self: errors.ConfigError, *args: Any, **kwargs: Any) -> None:
        caller = sys._getframe(1)
        reached.add((Path(caller.f_code.co_filename).name, caller.f_lineno))
        original(self, *args, **kwargs)

    errors.ConfigError.__init__ = recording  # type: ignore[method-assign]
    try:
        fixes = [pair for config in corpus() for pair in reported(config)]
    finally:
        errors.ConfigError.__init__ = original  # type: ignore[method-assign]
    return fixes, reached


def test_every_raise_is_reached(printed: tuple[list[tuple[str, str]], set[tuple[str, int]]]) -> None:
    missed = sorted(raise_sites() - printed[1])
    assert not missed, f"no config reaches these raises; add one to MORE: {missed}"


def test_every_printed_fix_is_a_bash_command_line(printed: tuple[list[tuple[str, str]], set[tuple[str, int]]]) -> None:
    fixes = sorted(set(printed[0]))
    assert len(fixes) > 200
    unread = [(key, fix) for key, fix in fixes if not is_bash(fix) or re.search(r"<[^>]*>", fix)]
    assert not unread


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_config)
def test_every_generated_fix_is_a_bash_command_line(config: dict[str, Any]) -> None:
    for key, fix in reported(config):
        assert is_bash(fix), f"{key}: {fix}"


# Stacks that work but that `pulumi up` warns about, one for each warning that ends in a fix.
WARNED: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "plain-text credential": ({**VARIANTS["external"]()}, ()),
    "token cache with several processes": ({**k8s_shared(), "accessTokens": {"maxCacheTimeSeconds": 60}}, ()),
    "scratch space too small": ({**k8s(tempSize="1Gi"), "s3": {"provider": "aws"}}, ()),
    "thumbnailer beyond memory": ({"homeservers": [HOMESERVER], "docker": {"memory": {"mediaRepo": 256}}}, ()),
    "pool beyond the database": ({"homeservers": [HOMESERVER], "database": {"maxConnections": 98}}, ()),
    "in-cluster Service": ({**k8s(), "homeservers": [{**HOMESERVER, "csApi": "http://synapse.matrix.svc:8008"}]}, ()),
    "private address": ({**k8s(), "homeservers": [{**HOMESERVER, "csApi": "http://10.0.0.5:8008"}]}, ()),
    "loopback on a made host": (
        {**MINIMAL_DIGITALOCEAN_HOST, "http": {"bindAddress": "127.0.0.1"}},
        (),
    ),
    "allowed range refused": (
        {"homeservers": [HOMESERVER], "federation": {"allowedNetworks": ["0.0.0.0/0", "10.0.5.0/24"]}},
        (),
    ),
}


def test_each_warning_with_a_fix_has_a_stack_that_brings_it_out() -> None:
    fixes = [w for config, secret in WARNED.values() for w in warnings_of(config, secret) if "Fix: " in w]
    assert len(warning_fix_sites()) <= len(WARNED) <= len(fixes), "a new warning with a fix needs a stack here"


def test_the_fixes_outside_the_config_check_are_bash_command_lines() -> None:
    stack = load_stack_config({**k8s(), "s3": {"provider": "digitalocean", "region": "ams3"}})
    message = missing_sdks_message(stack, lambda module: False, str(ROOT / "venv/bin/python"), str(ROOT))
    assert message and is_bash(message.split("Fix: ", 1)[1])
    with pytest.raises(pulumi.RunError) as spaces:
        run_program(VARIANTS["digitalocean"]())
    fix = str(spaces.value).split("Fix: ", 1)[1]
    assert is_bash(fix) and "<" not in fix, fix
