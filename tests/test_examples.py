"""The example stacks under examples/ validate, build and render as the README walks through them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config_schema import load_stack_config
from tests.pulumi_harness import MOCK_SECRETS, plain_text_leaks, run_program
from tests.upstream_keys import upstream_violations
from tests.variants import example_stack_files, stack_file_config

# What README.md tells the operator to set with --secret for each example.
SECRETS_SET_BY_README = {
    "Pulumi.digitalocean.yaml": {"digitalocean:spacesSecretKey": "stand-in-spaces-secret"},
    "Pulumi.digitalocean-host.yaml": {"digitalocean:spacesSecretKey": "stand-in-spaces-secret"},
    "Pulumi.external.yaml": {
        "s3.accessSecret": "stand-in-minio-secret",
        "database.dsn": "postgres://mmr:stand-in@db.example.org:5432/mediarepo?sslmode=require",
    },
    "Pulumi.kubernetes.yaml": {
        "database.dsn": "postgres://mmr:stand-in@pg.example.org:5432/mediarepo?sslmode=verify-full",
    },
}


def with_readme_secrets(path: Path) -> tuple[dict, dict, tuple[str, ...]]:
    ours, others = stack_file_config(path)
    secret_keys = []
    for key, value in SECRETS_SET_BY_README.get(path.name, {}).items():
        if ":" in key:
            others[key] = value
            continue
        top, field = key.split(".")
        ours.setdefault(top, {})[field] = value
        secret_keys.append(top)
    return ours, others, tuple(secret_keys)


def test_there_is_an_example_per_backend() -> None:
    assert [p.name for p in example_stack_files()] == [
        "Pulumi.aws-rds.yaml",
        "Pulumi.aws.yaml",
        "Pulumi.digitalocean-host.yaml",
        "Pulumi.digitalocean.yaml",
        "Pulumi.external.yaml",
        "Pulumi.kubernetes.yaml",
    ]


@pytest.mark.parametrize("path", example_stack_files(), ids=lambda p: p.name)
def test_example_validates_builds_and_renders(path: Path) -> None:
    ours, others, secret_keys = with_readme_secrets(path)
    stack = load_stack_config(ours)
    assert stack.uses_s3
    run = run_program(ours, extra_config=others, secret_keys=secret_keys, stack=path.stem.split(".")[1])
    assert upstream_violations(yaml.safe_load(run.outputs["mediaRepoConfig"])) == []
    assert {"s3SecretAccessKey", "databaseDsn", "mediaRepoConfig"} <= run.secret_outputs
    assert run.warnings == []
    readme_secrets = [value for value in SECRETS_SET_BY_README.get(path.name, {}).values()]
    assert plain_text_leaks(run, [*MOCK_SECRETS, *readme_secrets]) == []


def test_examples_hold_no_secret_in_plain_text() -> None:
    for path in example_stack_files():
        text = path.read_text()
        for word in ("accessSecret", "spacesSecretKey", "dsn:", "password"):
            assert word not in text, f"{path.name} holds {word}"
