"""From the raw values ``pulumi.Config`` hands over to a validated ``StackConfig``."""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from config_schema.database import connection_warning
from config_schema.docker_host import MEDIA_REPO_BASE_MIB, media_repo_mib
from config_schema.dsn import dsn_has_sslmode, parse_dsn
from config_schema.errors import PROJECT, SECRET_KEYS, StackConfigError, set_command, set_value
from config_schema.federation import federation_warnings
from config_schema.host import droplet_memory_mib
from config_schema.kubernetes import UPLOAD_CONCURRENCY, quantity_bytes
from config_schema.messages import format_validation_error
from config_schema.network_policy import egress_warnings
from config_schema.operations import MMR_DEFAULT_MAX_UPLOAD_BYTES
from config_schema.stack import StackConfig

# Config paths whose values are credentials, split for walking: ("homeservers", "[]", "signingKey").
SECRET_PATHS: tuple[tuple[str, ...], ...] = tuple(
    tuple(part for part in key.replace("[]", ".[]").split(".")) for key in sorted(SECRET_KEYS)
)

TOP_LEVEL_KEYS: tuple[str, ...] = tuple(field.alias or name for name, field in StackConfig.model_fields.items())


def load_stack_config(raw: Mapping[str, Any], secret_top_level_keys: Iterable[str] = ()) -> StackConfig:
    """Validates the stack's config; raises ``StackConfigError`` with one line on any problem.

    ``secret_top_level_keys``: the keys Pulumi reports as secret; no value below them is shown.
    """
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise StackConfigError(format_validation_error(exc, StackConfig, tuple(secret_top_level_keys))) from None


def plaintext_secret_warnings(raw: Mapping[str, Any], secret_top_level_keys: Iterable[str]) -> list[str]:
    """Credentials that sit in the stack file unencrypted.

    Pulumi marks a whole top-level key secret when any path below it was set
    with ``--secret``, so that is the finest grain the program can see.
    """
    secret = set(secret_top_level_keys)
    warnings = []
    for path in SECRET_PATHS:
        if path[0] in secret:
            continue
        for key, value in _values_at(raw, path, ""):
            if value:
                warnings.append(
                    f"{PROJECT}:{key} is stored in plain text in the stack file; encrypt it in place. "
                    f"Fix: {set_command(key, _current_value(key), secret=True)}"
                )
    return warnings


def _current_value(key: str) -> str:
    """The shell words that read the key's present value back, so the fix re-sets it encrypted."""
    return '"$(pulumi config get --path ' + shlex.quote(key) + ')"'


def _values_at(value: Any, path: tuple[str, ...], prefix: str) -> list[tuple[str, Any]]:
    if not path:
        return [(prefix, value)]
    head, rest = path[0], path[1:]
    if head == "[]":
        items = value if isinstance(value, list) else []
        return [pair for i, item in enumerate(items) for pair in _values_at(item, rest, f"{prefix}[{i}]")]
    if not isinstance(value, Mapping):
        return []
    return _values_at(value.get(head), rest, f"{prefix}.{head}" if prefix else head)


def advisory_warnings(stack: StackConfig) -> list[str]:
    """Settings that work but probably not as the operator meant."""
    warnings = []
    # Every MMR process and the importer hold a pool of their own.
    processes = stack.processes + (1 if stack.media_import else 0)
    connections = connection_warning(stack.database, processes)
    if connections:
        warnings.append(connections)
    if stack.access_tokens.max_cache_time_seconds and stack.processes > 1:
        # Each process caches tokens itself; a logout reaches one, a password reset or deactivation none.
        warnings.append(
            f"{PROJECT}:accessTokens.maxCacheTimeSeconds is {stack.access_tokens.max_cache_time_seconds} with up "
            f"to {stack.processes} MMR processes: a token revoked by a logout, a password reset or a deactivation "
            f"keeps working at the processes that cached it for up to {stack.access_tokens.max_cache_time_seconds} s; "
            "unset, it is 0 with several processes. Fix: pulumi config rm --path 'accessTokens.maxCacheTimeSeconds'"
        )
    if stack.platform == "kubernetes" and stack.uses_s3:
        upload = stack.uploads.max_bytes or MMR_DEFAULT_MAX_UPLOAD_BYTES
        needed = upload * UPLOAD_CONCURRENCY
        if quantity_bytes(stack.kubernetes.temp_size) < needed:
            fitting = f"{-(-needed // 2**30)}Gi"
            warnings.append(
                f"{PROJECT}:kubernetes.tempSize is {stack.kubernetes.temp_size}, less than {UPLOAD_CONCURRENCY} "
                f"uploads of uploads.maxBytes wait in before they reach S3 (s3.tempPath); past it the pod is "
                f"evicted with every request it holds. Fix: {set_value('kubernetes.tempSize', fitting)}"
            )
    warnings += federation_warnings(stack.federation, stack.homeservers)
    if stack.platform == "kubernetes":
        warnings += egress_warnings(stack.kubernetes.network_policy, stack.kubernetes.namespace, _destinations(stack))
    limit_mib = (
        media_repo_mib(stack.docker, stack.thumbnails)
        if stack.platform == "docker"
        else quantity_bytes(stack.kubernetes.resources.memory_limit) // 2**20
    )
    if stack.thumbnails.peak_mib + 256 > limit_mib:
        key = "docker.memory.mediaRepo" if stack.platform == "docker" else "kubernetes.resources.memoryLimit"
        fitting = -(-(stack.thumbnails.peak_mib + MEDIA_REPO_BASE_MIB) // 256) * 256
        value: str | int = fitting if stack.platform == "docker" else f"{fitting}Mi"
        warnings.append(
            f"{PROJECT}:{key} leaves MMR {limit_mib} MiB, but its thumbnailer alone may hold "
            f"{stack.thumbnails.peak_mib} MiB (thumbnails.maxSourceBytes x 1.5 x thumbnails.numWorkers); the kernel "
            f"kills MMR with every request it serves. Fix: {set_value(key, value)}"
        )
    warnings += _host_warnings(stack)
    dsn = stack.database.dsn
    if stack.database.provider == "external" and dsn and not dsn_has_sslmode(dsn):
        warnings.append(
            f"{PROJECT}:database.dsn has no sslmode: MMR's driver (lib/pq) then requires TLS and fails against a "
            "server without it; add ?sslmode=require (or disable on a private network)"
        )
    return warnings


def _host_warnings(stack: StackConfig) -> list[str]:
    """A host the program makes runs MMR's stack alone: what would leave MMR unreachable or unchecked there."""
    if stack.host.provider is None:
        return []
    warnings = []
    if "bind_address" in stack.http.model_fields_set and ipaddress.ip_address(stack.http.bind_address).is_loopback:
        warnings.append(
            f"{PROJECT}:http.bindAddress is {stack.http.bind_address} on a host the program makes, where nothing "
            "else runs: no reverse proxy can reach MMR there (the firewall admits host.mediaRepoSources to "
            f"http.port; unset, MMR listens on 0.0.0.0). Fix: pulumi config rm --path 'http.bindAddress'"
        )
    if droplet_memory_mib(stack.host.size) is None:
        warnings.append(
            f"{PROJECT}:host.size {stack.host.size!r} does not say its memory, so the program cannot check that it "
            "holds the containers' memory limits (docker.memory.*) and 512 MiB for the system"
        )
    return warnings


def _destinations(stack: StackConfig) -> list[tuple[str, str]]:
    """(key, host) of every server MMR's processes connect to that the stack names."""
    hosts = [(f"homeservers[{i}].csApi", urlsplit(h.cs_api).hostname or "") for i, h in enumerate(stack.homeservers)]
    if stack.database.provider == "external" and stack.database.dsn:
        hosts.append(("database.dsn", parse_dsn(stack.database.dsn).host))
    if stack.s3.endpoint:
        hosts.append(("s3.endpoint", urlsplit(f"//{stack.s3.endpoint}").hostname or ""))
    hosts += [(f"redis.shards[{i}].addr", shard.addr.rsplit(":", 1)[0]) for i, shard in enumerate(stack.redis.shards)]
    if stack.media_import:
        hosts.append(("import.dbHost", stack.media_import.db_host))
    return hosts
