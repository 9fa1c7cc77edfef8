"""``requirements.txt`` alone runs the dev stack; a stack needing another SDK stops with the command installing it.

The virtualenv under test holds exactly what ``pip install -r requirements.txt`` installs: the
files' pins and what they require, resolved from this interpreter's metadata and linked in
(tests/install_closure.py), since a test does not reach PyPI. The program runs there under
Pulumi's mocks in a fresh interpreter, as ``pulumi up`` would start it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.install_closure import (
    ROOT,
    build_virtualenv,
    closure,
    pinned,
    plugins_pulumi_fetches,
    size_bytes,
)
from tests.kubernetes_stacks import EXTRA_CONFIG as KUBERNETES_EXTRA_CONFIG
from tests.kubernetes_stacks import SECRET_KEYS as KUBERNETES_SECRET_KEYS
from tests.kubernetes_stacks import VARIANTS as KUBERNETES_VARIANTS
from tests.variants import MINIMAL_DIGITALOCEAN_HOST, PROVIDER_CONFIG, VARIANTS

# The target for a virtualenv from requirements.txt; the packages alone must stay within it.
CORE_BUDGET_BYTES = 80_000_000
CORE_SDKS = {"pulumi_docker", "pulumi_random"}
OTHER_SDKS = {"pulumi_aws", "pulumi_command", "pulumi_digitalocean", "pulumi_kubernetes", "pulumi_tls"}

# Runs in the minimal virtualenv: the stack under mocks; its outputs, or the RunError and what registered first.
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pulumi
from tests import pulumi_harness
pulumi_harness.mock_engine_api()
case = json.loads(sys.argv[2])
registered = []
original = pulumi_harness.RecordingMonitor.RegisterResource
def recording(self, request):
    if request.type != "pulumi:pulumi:Stack":  # the root, which the SDK registers before the program runs
        registered.append(request.type)
    return original(self, request)
pulumi_harness.RecordingMonitor.RegisterResource = recording
try:
    run = pulumi_harness.run_program(case["config"], extra_config=case["extra_config"],
                                     secret_keys=tuple(case["secret_keys"]), stack=case["stack"])
    result = {"outputs": sorted(run.outputs)}
except pulumi.RunError as error:
    result = {"error": str(error), "registered": registered}
result["sdks"] = sorted({name.partition(".")[0] for name in sys.modules if name.startswith("pulumi_")})
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def core() -> dict[str, Any]:
    return closure(pinned(ROOT / "requirements.txt"))


@pytest.fixture(scope="module")
def core_python(core: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_virtualenv(tmp_path_factory.mktemp("core") / "venv", core)


def run_in(python: Path, config: dict[str, Any], extra_config: dict[str, str], secret_keys=(), stack="dev") -> dict:
    case = {"config": config, "extra_config": extra_config, "secret_keys": list(secret_keys), "stack": stack}
    child = subprocess.run(
        [str(python), "-c", CHILD, str(ROOT), json.dumps(case)], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_requirements_txt_holds_the_docker_platform_and_no_cloud(core: dict[str, Any]) -> None:
    names = set(core)
    assert {"pulumi", "pulumi-docker", "pulumi-random", "pydantic", "pyyaml"} <= names
    assert names.isdisjoint({"pulumi-aws", "pulumi-command", "pulumi-digitalocean", "pulumi-kubernetes", "pulumi-tls"})


def test_pulumi_fetches_only_the_docker_and_random_plugins_for_it(core: dict[str, Any]) -> None:
    assert plugins_pulumi_fetches(core) == ["docker", "random"]


def test_the_dev_requirements_bring_every_plugin() -> None:
    every = closure(pinned(ROOT / "requirements-dev.txt"))
    assert plugins_pulumi_fetches(every) == ["aws", "command", "digitalocean", "docker", "kubernetes", "random", "tls"]


def test_its_packages_fit_the_budget(core: dict[str, Any]) -> None:
    assert size_bytes(core) <= CORE_BUDGET_BYTES, f"{size_bytes(core) / 1e6:.1f} MB"


def test_the_minimal_virtualenv_has_no_other_sdk(core_python: Path) -> None:
    modules = sorted(OTHER_SDKS | CORE_SDKS)
    probe = f"import importlib.util as u, json; print(json.dumps([m for m in {modules!r} if u.find_spec(m)]))"
    found = subprocess.run([str(core_python), "-c", probe], capture_output=True, text=True, check=True).stdout
    assert set(json.loads(found)) == CORE_SDKS


def test_the_dev_stack_runs_from_requirements_txt_alone(core_python: Path) -> None:
    result = run_in(core_python, VARIANTS["dev"](), {})
    assert "error" not in result, result.get("error")
    assert result["outputs"]
    assert set(result["sdks"]) <= CORE_SDKS


STACKS_NEEDING_MORE = {
    "aws": (VARIANTS["aws"], PROVIDER_CONFIG.get("aws", {}), "matrix-media-repo:s3.provider is aws", "aws"),
    "digitalocean": (
        VARIANTS["digitalocean"],
        PROVIDER_CONFIG.get("digitalocean", {}),
        "matrix-media-repo:s3.provider is digitalocean",
        "digitalocean",
    ),
}


@pytest.mark.parametrize("name", sorted(STACKS_NEEDING_MORE))
def test_a_cloud_stack_stops_with_the_install_command(core_python: Path, name: str) -> None:
    make, extra, needed_by, requirements = STACKS_NEEDING_MORE[name]
    result = run_in(core_python, make(), dict(extra))
    assert result.get("registered") == [], result
    assert needed_by in result["error"]
    assert_install_fix(result["error"], core_python, [f"requirements-{requirements}.txt"])


def test_a_kubernetes_stack_stops_with_the_install_command(core_python: Path) -> None:
    # Its bucket is on AWS: both SDKs are missing, and one command installs both.
    name = "done-when"
    assert KUBERNETES_VARIANTS[name]["s3"]["provider"] == "aws"
    config = KUBERNETES_VARIANTS[name]
    result = run_in(core_python, config, dict(KUBERNETES_EXTRA_CONFIG[name]), KUBERNETES_SECRET_KEYS, "prod")
    assert result.get("registered") == [], result
    assert "matrix-media-repo:platform is kubernetes, which needs the pulumi_kubernetes SDK" in result["error"]
    assert "matrix-media-repo:s3.provider is aws, which needs the pulumi_aws SDK" in result["error"]
    assert_install_fix(result["error"], core_python, ["requirements-kubernetes.txt", "requirements-aws.txt"])


def test_a_stack_that_makes_its_host_stops_with_the_install_command(core_python: Path) -> None:
    result = run_in(core_python, MINIMAL_DIGITALOCEAN_HOST, {})
    assert result.get("registered") == [], result
    for module in ("pulumi_digitalocean", "pulumi_tls", "pulumi_command"):
        assert f"matrix-media-repo:host.provider is digitalocean, which needs the {module} SDK" in result["error"]
    # One file, named once, holds the three.
    assert_install_fix(result["error"], core_python, ["requirements-host-digitalocean.txt"])


def assert_install_fix(error: str, python: Path, files: list[str]) -> None:
    """The fix installs into the interpreter that ran the program, from files that pin the missing SDK."""
    assert error.count("Fix: ") == 1 and "\n" not in error
    command = error.split("Fix: ", 1)[1].split()
    assert Path(ROOT / command[0]).resolve() == python.resolve() or Path(command[0]).resolve() == python.resolve()
    assert command[1:4] == ["-m", "pip", "install"]
    assert command[4:] == [part for file in files for part in ("-r", file)]
    for file in files:
        sdk = file.removeprefix("requirements-").removesuffix(".txt")
        sdks = ["digitalocean", "tls", "command"] if sdk == "host-digitalocean" else [sdk]
        assert {f"pulumi-{name}" for name in sdks} <= {r.name for r in pinned(ROOT / file)}
