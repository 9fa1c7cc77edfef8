"""A stack loads the provider SDKs it uses and no other (issue #6).

Each stack runs under mocks in a fresh interpreter: in the test process every
SDK is already imported by some earlier test, so ``sys.modules`` there proves
nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes_stacks import EXTRA_CONFIG as KUBERNETES_EXTRA_CONFIG
from tests.kubernetes_stacks import SECRET_KEYS as KUBERNETES_SECRET_KEYS
from tests.kubernetes_stacks import VARIANTS as KUBERNETES_VARIANTS
from tests.test_examples import with_readme_secrets
from tests.variants import PROVIDER_CONFIG, VARIANTS, example_stack_files

ROOT = Path(__file__).resolve().parent.parent
# Every stack uses its platform's SDK and never the other's; these only some.
PLATFORM_SDKS = {"docker": "pulumi_docker", "kubernetes": "pulumi_kubernetes"}
OPTIONAL_SDKS = frozenset({"pulumi_aws", "pulumi_command", "pulumi_digitalocean", "pulumi_random", "pulumi_tls"})

# Runs in the child: the stack under mocks, then the SDK packages it left loaded.
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.pulumi_harness import mock_engine_api, run_program
mock_engine_api()
case = json.loads(sys.argv[2])
run_program(case["config"], extra_config=case["extra_config"], secret_keys=tuple(case["secret_keys"]),
            stack=case["stack"])
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules if name.startswith("pulumi_")})))
"""

# Written out rather than derived from the config, so that a mistake in the
# derivation cannot hide a stray import.
USED_BY_VARIANT: dict[str, frozenset[str]] = {
    "dev": frozenset({"pulumi_random"}),
    "aws": frozenset({"pulumi_aws", "pulumi_random"}),
    "digitalocean": frozenset({"pulumi_digitalocean", "pulumi_random"}),
    "external": frozenset({"pulumi_random"}),
}


@dataclass(frozen=True)
class Case:
    stack: str
    config: Mapping[str, Any]
    extra_config: Mapping[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()

    def command(self) -> list[str]:
        case = {
            "config": self.config,
            "extra_config": dict(self.extra_config),
            "secret_keys": list(self.secret_keys),
            "stack": self.stack,
        }
        return [sys.executable, "-c", CHILD, str(ROOT), json.dumps(case)]


def optional_sdks_used(config: Mapping[str, Any]) -> frozenset[str]:
    """The SDKs a stack config needs beside Docker's: a bucket or a cluster on a cloud, a generated secret."""
    s3_provider = (config.get("s3") or {}).get("provider")
    database_provider = (config.get("database") or {}).get("provider", "container")
    used = set()
    # The Postgres password, when it runs beside MMR or on RDS; MMR's shared-secret token; a signing key
    # for a homeserver that brings none.
    generates_key = any(
        not (homeserver.get("signingKey") or homeserver.get("signingKeyPath"))
        for homeserver in config.get("homeservers", [])
    )
    if (
        database_provider in ("container", "aws")
        or (config.get("sharedSecretAuth") or {}).get("enabled")
        or generates_key
    ):
        used.add("pulumi_random")
    if "aws" in (s3_provider, database_provider):
        used.add("pulumi_aws")
    if "digitalocean" in (s3_provider, database_provider):
        used.add("pulumi_digitalocean")
    if (config.get("host") or {}).get("provider") == "digitalocean":
        used |= {"pulumi_digitalocean", "pulumi_tls", "pulumi_command"}
    return frozenset(used)


def example_case(path: Path) -> Case:
    ours, others, secret_keys = with_readme_secrets(path)
    return Case(path.stem.split(".")[1], ours, others, secret_keys)


CASES: dict[str, tuple[Case, frozenset[str]]] = {
    **{
        f"variant-{name}": (
            Case(name, make(), PROVIDER_CONFIG.get(name, {})),
            USED_BY_VARIANT[name] if name in USED_BY_VARIANT else optional_sdks_used(make()),
        )
        for name, make in VARIANTS.items()
    },
    **{
        f"example-{path.name}": (example_case(path), optional_sdks_used(example_case(path).config))
        for path in example_stack_files()
    },
    **{
        f"kubernetes-{name}": (
            Case("prod", config, KUBERNETES_EXTRA_CONFIG[name], KUBERNETES_SECRET_KEYS),
            optional_sdks_used(config),
        )
        for name, config in KUBERNETES_VARIANTS.items()
    },
}


@pytest.fixture(scope="module")
def imported() -> dict[str, set[str]]:
    """SDK packages each case's child left loaded.

    The children start together: each is a second or two of imports, which
    run side by side on a machine with more than one core.
    """
    children = {
        case_id: subprocess.Popen(case.command(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for case_id, (case, _) in CASES.items()
    }
    result: dict[str, set[str]] = {}
    for case_id, child in children.items():
        stdout, stderr = child.communicate(timeout=180)
        assert child.returncode == 0, f"{case_id}: the program failed in the child:\n{stderr}"
        result[case_id] = set(json.loads(stdout.strip().splitlines()[-1]))
    return result


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_stack_imports_only_the_provider_sdks_it_uses(case_id: str, imported: dict[str, set[str]]) -> None:
    case, used = CASES[case_id]
    platform = case.config.get("platform", "docker")
    other = next(sdk for name, sdk in PLATFORM_SDKS.items() if name != platform)
    # The platform's SDK is always loaded: were it missing, the child's list would be no evidence of anything.
    assert PLATFORM_SDKS[platform] in imported[case_id]
    assert other not in imported[case_id]
    assert imported[case_id] & OPTIONAL_SDKS == used


def test_the_variants_table_agrees_with_the_rule_for_examples() -> None:
    for name, used in USED_BY_VARIANT.items():
        assert optional_sdks_used(VARIANTS[name]()) == used, name
