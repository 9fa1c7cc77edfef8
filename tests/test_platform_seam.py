"""One stack config, two platforms: MMR reads the same media-repo.yaml on both, apart from addresses."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from config_schema.live_config import CONFIG_VERSION_DOMAIN
from tests.kubernetes_stacks import AWS, BASE, SECRET_KEYS, of_kind, one, run_config
from tests.pulumi_harness import run_program


def _merged_config_directory(run: Any) -> dict[str, Any]:
    """What MMR loads from REPO_CONFIG: the directory's files in name order, merged key by key at the top level."""
    files: dict[str, str] = {}
    for config_map in of_kind(run, "ConfigMap"):
        files.update({key: value for key, value in config_map["data"].items() if key.endswith(".yaml")})
    for secret in of_kind(run, "Secret"):
        files.update({key: value for key, value in secret.get("stringData", {}).items() if key.endswith(".yaml")})
    merged: dict[str, Any] = {}
    for name in sorted(files):
        merged.update(yaml.safe_load(files[name]))
    return merged


def _without_addresses(config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    # The config's version, on Docker (config_schema/live_config.py).
    config["homeservers"] = [h for h in config["homeservers"] if not h["name"].endswith(CONFIG_VERSION_DOMAIN)]
    # Where the program starts Redis: one on Docker, kubernetes.redisShards (3) on Kubernetes.
    if config.get("redis", {}).get("shards"):
        config["redis"]["shards"] = "<the program's own>"
    # Turned off behind an Ingress, which sets Host but leaves X-Forwarded-Host the public host.
    config["repo"].pop("useForwardedHost", None)
    # Follows the number of processes: a logout reaches one process only (StackConfig.token_cache_seconds).
    config.pop("accessTokens")
    return config


def test_the_same_stack_renders_the_same_config_on_docker_and_kubernetes() -> None:
    shared = {key: value for key, value in copy.deepcopy(BASE).items() if key not in ("platform", "kubernetes")}
    shared["redis"] = {"enabled": True}
    kubernetes_run = run_config({**shared, "platform": "kubernetes", "kubernetes": BASE["kubernetes"]})
    docker_run = run_program(shared, extra_config=AWS, secret_keys=SECRET_KEYS, stack="prod")

    on_kubernetes = _merged_config_directory(kubernetes_run)
    on_docker = yaml.safe_load(docker_run.outputs["mediaRepoConfig"])
    assert _without_addresses(on_kubernetes) == _without_addresses(on_docker)
    assert on_kubernetes["repo"]["useForwardedHost"] is False
    assert (on_docker["accessTokens"], on_kubernetes["accessTokens"]) == (
        {"maxCacheTimeSeconds": 43200},
        {"maxCacheTimeSeconds": 0},
    )
    # The exported config is the one the pods read.
    assert yaml.safe_load(kubernetes_run.outputs["mediaRepoConfig"]) == on_kubernetes
    # Each section lives wholly in one file: MMR's merge is not deep.
    # Picked by name: the admin script's ConfigMap registers too, in no fixed order.
    settings = yaml.safe_load(one(kubernetes_run, "ConfigMap", "mmr-prod-settings")["data"]["00-settings.yaml"])
    assert "database" not in settings and "datastores" not in settings
