"""README.md and docs/ hold what an operator needs: every config key and output, the set-up commands, the version.

The key and output tables live in docs/configuration.md; the README stays short enough to read.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from config_schema.stack import StackConfig
from tests.kubernetes_stacks import VARIANTS as KUBERNETES_VARIANTS
from tests.kubernetes_stacks import run_variant as run_kubernetes_variant
from tests.pulumi_harness import run_program
from tests.variants import MINIMAL_DIGITALOCEAN_HOST, PROVIDER_CONFIG, VARIANTS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
README_MAX_LINES = 400


def _models_in(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """(the model inside an annotation, whether it sits in a list)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model, in_list = _models_in(arg)
            if model:
                return model, in_list
        return None, False
    if origin is list:
        model, _ = _models_in(typing.get_args(annotation)[0])
        return model, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        nested, in_list = _models_in(field.annotation)
        if nested is None:
            keys.append(key)
        else:
            keys.extend(config_keys(nested, f"{key}[]." if in_list else f"{key}."))
    return keys


def table_keys(heading: str) -> set[str]:
    section = CONFIGURATION.split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def test_every_config_key_is_documented() -> None:
    documented = table_keys("## Every key and its default")
    missing = []
    for key in config_keys(StackConfig):
        # A list of records (trustedSources, shards, quota users) is documented as one row.
        parent = key.split("[]")[0] if "[]" in key and not key.startswith("homeservers[]") else None
        if key not in documented and parent not in documented:
            missing.append(key)
    assert missing == []


def test_no_key_is_documented_that_does_not_exist() -> None:
    keys = set(config_keys(StackConfig))
    parents = {key.split("[]")[0] for key in keys} | {key.split(".")[0] for key in keys}
    assert table_keys("## Every key and its default") - keys - parents == set()


def test_every_output_is_documented() -> None:
    exported: set[str] = set()
    for name, variant in VARIANTS.items():
        exported |= set(run_program(variant(), extra_config=PROVIDER_CONFIG.get(name)).outputs)
    for name in KUBERNETES_VARIANTS:
        exported |= set(run_kubernetes_variant(name).outputs)
    exported |= set(run_program(MINIMAL_DIGITALOCEAN_HOST).outputs)
    assert exported == table_keys("## Stack outputs")


def test_every_key_row_gives_a_default_for_each_platform() -> None:
    section = CONFIGURATION.split("## Every key and its default", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|(.*)$", section, re.M)
    assert rows
    for key, rest in rows:
        cells = [cell.strip() for cell in rest.rstrip("|").split(" | ")]
        assert len(cells) == 3 and all(cells), key
        docker, kubernetes, _ = cells
        if key.startswith("kubernetes."):
            assert docker == "—", key
        if key.startswith(("docker.", "http.", "proxy.")):
            assert kubernetes == "—", key


def test_the_readme_fits_a_few_screens() -> None:
    assert len(README.splitlines()) <= README_MAX_LINES


def sh_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S)]


def set_up_section() -> str:
    return README.split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]


def test_the_two_set_up_commands_come_right_after_the_prerequisites() -> None:
    """A reader finds how to deploy and how to test before anything else (issue #27)."""
    titles = re.findall(r"^## (.+)$", README, re.M)
    assert titles[:3] == ["Prerequisites", "Set up", "Quickstart (the embedded default)"]
    main_job, test_command = sh_blocks(set_up_section())
    assert main_job.splitlines() == ["pulumi stack init dev", "pulumi up"]
    assert test_command == "bash tests/run"
    # One way to create a stack, everywhere.
    assert "stack select --create" not in README
    assert "pulumi login" in README.split("\n## Set up\n", 1)[0]


def test_ci_runs_the_readmes_test_command() -> None:
    test_command = sh_blocks(set_up_section())[-1]
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == [f"exec {test_command}"]


def test_the_version_and_licence_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert re.fullmatch(r"0\.\d+\.\d+", project["version"])
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases and releases[0] == project["version"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert f"Version {project['version']}" in README and "MIT licence" in README


def test_every_docs_page_is_linked_from_the_readme() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in README, page.name


def test_relative_links_lead_somewhere() -> None:
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).exists(), f"{document.name}: {target}"
