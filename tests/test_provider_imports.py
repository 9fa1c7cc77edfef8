"""A stack loads the cloud SDKs it uses and no other (issue #6).

Each stack runs under mocks in a fresh interpreter: in the test process every
SDK is already imported by some earlier test, so ``sys.modules`` there proves
nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.test_examples import with_readme_secrets
from tests.variants import PROVIDER_CONFIG, VARIANTS, example_stack_files

ROOT = Path(__file__).resolve().parent.parent
CLOUD_SDKS = ("pulumi_aws", "pulumi_digitalocean")

# Runs in the child: the stack under mocks, then the SDK packages it left loaded.
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.pulumi_harness import run_program
case = json.loads(sys.argv[2])
run_program(case["config"], extra_config=case["extra_config"], secret_keys=tuple(case["secret_keys"]),
            stack=case["stack"])
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules if name.startswith("pulumi_")})))
"""

# Written out rather than derived from the config, so that a mistake in the
# derivation cannot hide a stray import.
USED_BY_VARIANT: dict[str, set[str]] = {
    "dev": set(),
    "aws": {"pulumi_aws"},
    "digitalocean": {"pulumi_digitalocean"},
    "external": set(),
}


def sdks_imported(
    config: Mapping[str, Any],
    *,
    stack: str,
    extra_config: Mapping[str, str] | None = None,
    secret_keys: tuple[str, ...] = (),
) -> set[str]:
    case = {
        "config": config,
        "extra_config": dict(extra_config or {}),
        "secret_keys": list(secret_keys),
        "stack": stack,
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), json.dumps(case)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"the program failed in the child:\n{result.stderr}"
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def cloud_sdks_used(config: Mapping[str, Any]) -> set[str]:
    """The cloud SDKs a stack config needs: a bucket or a cluster on that cloud."""
    s3_provider = (config.get("s3") or {}).get("provider")
    database_provider = (config.get("database") or {}).get("provider")
    used = set()
    if s3_provider == "aws":
        used.add("pulumi_aws")
    if "digitalocean" in (s3_provider, database_provider):
        used.add("pulumi_digitalocean")
    return used


@pytest.mark.parametrize("name", sorted(USED_BY_VARIANT))
def test_variant_imports_only_the_cloud_sdks_it_uses(name: str) -> None:
    imported = sdks_imported(VARIANTS[name](), stack=name, extra_config=PROVIDER_CONFIG.get(name))
    used = USED_BY_VARIANT[name]
    # The Docker SDK is always there: without it in the list the check below would read nothing.
    assert "pulumi_docker" in imported
    assert imported & set(CLOUD_SDKS) == used


@pytest.mark.parametrize("path", example_stack_files(), ids=lambda p: p.name)
def test_example_stack_imports_only_the_cloud_sdks_it_uses(path: Path) -> None:
    ours, others, secret_keys = with_readme_secrets(path)
    imported = sdks_imported(ours, stack=path.stem.split(".")[1], extra_config=others, secret_keys=secret_keys)
    assert "pulumi_docker" in imported
    assert imported & set(CLOUD_SDKS) == cloud_sdks_used(ours)


def test_the_variants_table_matches_the_configs() -> None:
    # Keeps the hand-written table and the rule the examples are checked with in step.
    for name, used in USED_BY_VARIANT.items():
        assert cloud_sdks_used(VARIANTS[name]()) == used, name
