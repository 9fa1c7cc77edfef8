"""``pulumi new`` on this repository gives a stack that runs: Pulumi.yaml's ``template:`` section.

The section's shape is Pulumi's project-file schema (pulumi/pulumi 1b59498,
sdk/go/common/workspace/project.json, ``ProjectTemplate``: displayName, description, quickstart,
important, metadata, config; each config entry description, default, secret; nothing else).
``pulumi new`` prompts for each config key with its default and stores the answer as a plain
string under ``<project>:<key>`` (pkg/cmd/pulumi/project/newcmd/config.go, ``resolveTemplateConfig``
parses the key with path=false and ``encryptTemplateConfig`` saves ``config.NewValue(answer)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from config_schema import load_stack_config
from tests.pulumi_harness import run_program

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
TEMPLATE: dict[str, Any] = PROJECT["template"]
TEMPLATE_KEYS = {"displayName", "description", "quickstart", "important", "metadata", "config"}
CONFIG_ENTRY_KEYS = {"description", "default", "secret"}


def test_the_template_has_only_what_the_project_schema_allows() -> None:
    assert set(TEMPLATE) <= TEMPLATE_KEYS
    for key in ("displayName", "description", "quickstart"):
        assert isinstance(TEMPLATE[key], str) and TEMPLATE[key].strip()
    for entry in TEMPLATE["config"].values():
        assert set(entry) <= CONFIG_ENTRY_KEYS
        assert isinstance(entry.get("description", ""), str)


def test_every_prompt_is_a_key_the_program_reads() -> None:
    # A key without ':' is the project's own (ParseConfigKeyForProject).
    for key in TEMPLATE["config"]:
        assert ":" not in key and "." not in key and "[" not in key, key


def answers(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """What `pulumi new` stores when every prompt is answered with its default, or with ``overrides``."""
    return {key: (overrides or {}).get(key, entry["default"]) for key, entry in TEMPLATE["config"].items()}


def test_the_defaults_make_a_stack_that_validates_and_runs() -> None:
    stored = answers()
    config = load_stack_config({key: json.loads(value) for key, value in stored.items()})
    assert config.homeservers[0].name == "localhost"
    # The program reads the stored strings as they are: under mocks, as `pulumi up` would.
    run = run_program(stored)
    assert "healthUrl" in run.outputs


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [
        ('[{"name": "example.org", "csApi": "https://matrix.example.org"}]', True),
        ('[{"name": "example.org:8448", "csApi": "https://matrix.example.org"}]', False),
    ],
)
def test_an_answer_is_validated_like_any_other_setting(answer: str, accepted: bool) -> None:
    import pulumi

    if accepted:
        assert run_program(answers({"homeservers": answer})).outputs
    else:
        with pytest.raises(pulumi.RunError, match=r"matrix-media-repo:homeservers\[0\]\.name"):
            run_program(answers({"homeservers": answer}))


def test_the_quickstart_points_at_what_exists() -> None:
    quickstart = TEMPLATE["quickstart"]
    assert "pulumi up" in quickstart
    assert "healthUrl" in quickstart
    assert "docs/configuration.md" in quickstart and (ROOT / "docs" / "configuration.md").exists()
    assert "The homeserver's side" in (ROOT / "README.md").read_text()
