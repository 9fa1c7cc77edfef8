"""matrix-media-repo: read the stack config, validate it, pick the platform, build, export."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import sys
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.shared.media_bucket import missing_spaces_keys
from config_schema import StackConfig, StackConfigError, load_stack_config, plaintext_secret_warnings
from config_schema.loading import TOP_LEVEL_KEYS, advisory_warnings
from config_schema.sdks import missing_sdks_message


def read_stack_config() -> StackConfig:
    config = pulumi.Config()
    raw: dict[str, Any] = {}
    for key in stack_config_keys(config.name):
        value = config.get(key)
        if value is None:
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raw[key] = value  # a plain string such as the image reference
    secret_keys = [key for key in raw if pulumi.runtime.is_config_secret(config.full_key(key))]
    for warning in plaintext_secret_warnings(raw, secret_keys):
        pulumi.log.warn(warning)
    try:
        stack = load_stack_config(raw, secret_keys)
    except StackConfigError as error:
        raise pulumi.RunError(str(error)) from None
    if problem := missing_sdks_message(stack, is_installed, sys.executable, os.getcwd()):
        raise pulumi.RunError(problem)
    for warning in advisory_warnings(stack):
        pulumi.log.warn(warning)
    if stack.uses_s3 and stack.s3.provider == "digitalocean" and missing_spaces_keys():
        raise pulumi.RunError(
            "matrix-media-repo:s3.provider is digitalocean, but the digitalocean provider has no Spaces keys to "
            "manage buckets with (a Spaces access key, made in DigitalOcean's control panel; the CLI asks for "
            "its id and secret). Fix: pulumi config set digitalocean:spacesAccessId && "
            "pulumi config set --secret digitalocean:spacesSecretKey"
        )
    return stack


def is_installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def stack_config_keys(project: str) -> set[str]:
    """Every key set under this project, so that a misspelt one is reported rather than ignored."""
    prefix = f"{project}:"
    every_key = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {key.removeprefix(prefix) for key in every_key if key.startswith(prefix)} | set(TOP_LEVEL_KEYS)


stack = read_stack_config()
name = f"mmr-{pulumi.get_stack()}"

# Imported here, not above: a stack loads only its own platform's provider SDK.
if stack.platform == "kubernetes":
    from components.kubernetes.deploy import deploy_on_kubernetes as deploy
else:
    from components.docker.deploy import deploy_on_docker as deploy
# Everything loaded so far (the SDKs' thousands of classes, the config) lives until exit: the cyclic
# collector need not walk it again at each collection while resources register, nor at exit.
gc.freeze()

for key, value in deploy(name, stack).items():
    pulumi.export(key, value)
