"""Changes MMR takes live leave its container alone; what it reads only at start replaces it
(config_schema/live_config.py), under mocks. tests/test_real_faults.py and bench/real_engine.py run it on the
real binary."""

from __future__ import annotations

import copy
import re
import subprocess
from typing import Any

import pytest
import yaml

from config_schema.live_config import CONFIG_VERSION_DOMAIN, applied_script, config_version, version_host
from tests.pulumi_harness import ProgramRun, is_secret_marker, run_program
from tests.variants import VARIANTS

CONTAINER = "docker:index/container:Container"


def _run(change: dict[str, Any] | None = None) -> ProgramRun:
    config = VARIANTS["dev"]()
    config["redis"] = {"enabled": True}
    for key, value in (change or {}).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return run_program(config)


def _inputs(run: ProgramRun, name: str) -> dict[str, Any]:
    return run.one(CONTAINER, name).inputs


def _version(run: ProgramRun) -> str:
    config = yaml.safe_load(_inputs(run, "mmr-dev-setup")["uploads"][0]["content"])
    (name,) = [h["name"] for h in config["homeservers"] if h["name"].endswith(CONFIG_VERSION_DOMAIN)]
    return name.split(".", 1)[0]


LIVE = {
    "uploads.maxBytes": {"uploads": {"maxBytes": 52428800}},
    "a homeserver added": {
        "homeservers": [
            {"name": "localhost", "csApi": "http://host.docker.internal:8008", "adminApiKind": "synapse"},
            {"name": "example.com", "csApi": "https://matrix.example.com"},
        ]
    },
    "pool size": {"database": {"maxConnections": 40}},
}
RESTART = {"redis.databaseNumber": {"redis": {"enabled": True, "databaseNumber": 3}}}


@pytest.mark.parametrize("change", sorted(LIVE))
def test_a_change_mmr_takes_live_keeps_its_container_and_installs_a_new_version(change: str) -> None:
    before, after = _run(), _run(LIVE[change])
    assert _inputs(before, "mmr-dev") == _inputs(after, "mmr-dev")
    # The setup installs the new file, and the wait for MMR to serve it runs again.
    assert _version(before) != _version(after)
    assert version_host(_version(after)) in _inputs(after, "mmr-dev-config-applied")["command"][0]
    assert _inputs(before, "mmr-dev-setup")["uploads"] != _inputs(after, "mmr-dev-setup")["uploads"]


@pytest.mark.parametrize("change", sorted(RESTART))
def test_what_mmr_reads_only_at_start_replaces_it(change: str) -> None:
    before, after = _run(), _run(RESTART[change])
    labels = [
        {label["label"]: label["value"] for label in _inputs(run, "mmr-dev")["labels"]} for run in (before, after)
    ]
    assert labels[0]["org.matrix-media-repo.restart"] != labels[1]["org.matrix-media-repo.restart"]
    # From the stack config alone: plain, so a preview shows it, and no credential in it.
    raw = before.one(CONTAINER, "mmr-dev").raw_inputs["labels"]
    assert not any(is_secret_marker(label) or is_secret_marker(label["value"]) for label in raw)


def test_the_same_config_has_the_same_version_and_the_key_keeps_it_from_being_guessed() -> None:
    assert _version(_run()) == _version(_run())
    assert config_version("key-a", "repo: {}") != config_version("key-b", "repo: {}")
    assert re.fullmatch(r"[0-9a-f]{16}", _version(_run()))


def test_the_wait_for_the_new_config_is_a_shell_script_that_runs_after_mmr_and_its_setup() -> None:
    run = _run()
    applied = run.one(CONTAINER, "mmr-dev-config-applied")
    depends = {run.by_urn(urn).name for urn in applied.dependencies}
    assert {"mmr-dev"} <= depends
    script = applied.inputs["command"][0]
    assert subprocess.run(["bash", "-n", "-c", script]).returncode == 0
    assert applied.inputs["attach"] is True and applied.inputs["mustRun"] is False
    smoke = run.one(CONTAINER, "mmr-dev-smoke")
    assert applied.urn in smoke.dependencies


def test_the_config_lives_in_a_directory_mmr_watches() -> None:
    script = applied_script("mmr-dev", 8000, "0123456789abcdef")
    assert "Host: 0123456789abcdef.config-version.invalid" in script
    run = _run()
    setup = _inputs(run, "mmr-dev-setup")["command"][0]
    # Written next to the directory, then renamed into it: MMR reads every file in it.
    assert re.search(r"cp /staging/repo__media-repo.yaml /config/\.repo__media-repo\.yaml\.new\n", setup)
    assert "mv -f /config/.repo__media-repo.yaml.new /config/repo/media-repo.yaml" in setup
    # A live change never empties the scratch space MMR writes in-flight uploads to.
    assert "rm -rf /scratch/*" not in setup and "-mmin +1440" in setup
    assert copy.deepcopy(_inputs(run, "mmr-dev")["envs"])[0] == "REPO_CONFIG=/config/repo"
