"""The pod template of MMR's processes: which machine each one is, what it mounts, how it is probed.

A process learns its machine id from ``MACHINE_ID``, which MMR reads as 0 when it
is unset or not a number (util/ids/snowflake.go, common/runtime/init.go at
v1.3.7). A worker whose pod-index label were missing would silently become a
second machine 0, so a wrapper refuses to start it instead, then ``exec``s
``media_repo``: MMR runs as PID 1 and gets SIGTERM itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.kubernetes.objects import (
    DATABASE_CLIENT_LABEL,
    MMR_PROCESS_LABEL,
    container_security,
    labels,
    pod_security,
    selector,
)
from config_schema.config_directory import SECRETS_FILE, SETTINGS_FILE
from config_schema.health import LIVENESS_SECONDS, readiness_script, readiness_seconds
from config_schema.kubernetes import MACHINE_ID_LABEL, MAX_MACHINE_ID, Kubernetes, go_memory_limit
from config_schema.media_repo import CONFIG_DIR, MEDIA_PATH, signing_key_path
from config_schema.stack import StackConfig

MEDIA_REPO_UID = 10001
# REPO_CONFIG names this directory: MMR loads every file in it, sorted (common/config/access.go
# lines 69-85 at v1.3.7), and skips directories, so the signing keys sit beside it, not in it.
CONFIG_SUBDIR = "media-repo.d"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_SUBDIR}"
ROLE_LABEL = "matrix-media-repo.org/role"
HTTP_PORT = 8000
DATA_PATH = "/data"
# After the drain (kubernetes.drainSeconds), MMR's own shutdown: 5 s for open requests
# (api/webserver.go lines 73-80 at 84bcb70), then exit; the rest is margin before SIGKILL.
STOP_SECONDS_AFTER_DRAIN = 15
# Startup: probed every 10 s, given 90 tries, so 900 s for migrations after an upgrade (about
# 8 minutes in upstream issue #475); liveness takes over only after that.
STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURE_THRESHOLD = 90

_WRAPPER = (
    'case "$MACHINE_ID" in ""|*[!0-9]*) '
    'echo "MACHINE_ID=\\"$MACHINE_ID\\" is not a machine id; refusing to start as machine 0" >&2; exit 64;; esac; '
    f'if [ "$MACHINE_ID" -gt {MAX_MACHINE_ID} ]; then '
    f'echo "MACHINE_ID=$MACHINE_ID is above {MAX_MACHINE_ID}" >&2; exit 64; fi; '
    "exec media_repo"
)
WRAPPER_COMMAND = ["/bin/sh", "-c", _WRAPPER]


def media_repo_labels(name: str, role: str) -> dict[str, str]:
    return {**labels(name, "media-repo"), ROLE_LABEL: role, DATABASE_CLIENT_LABEL: "true", MMR_PROCESS_LABEL: "true"}


def machine_id_env(role: str) -> dict[str, Any]:
    if role == "primary":
        return {"name": "MACHINE_ID", "value": "0"}
    # The StatefulSet controller sets the ordinal as this label (Kubernetes 1.28 and later).
    return {"name": "MACHINE_ID", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{MACHINE_ID_LABEL}']"}}}


def config_volume(stack: StackConfig, settings_map: pulumi.Input[str], secrets: pulumi.Input[str]) -> dict[str, Any]:
    """The ConfigMap and the Secret as one directory. Never mounted with subPath: such mounts never update."""
    keys = [
        {"key": f"signing-key-{index}.pem", "path": signing_key_path(index).removeprefix(f"{CONFIG_DIR}/")}
        for index, homeserver in enumerate(stack.homeservers)
        if homeserver.uploads_signing_key
    ]
    return {
        "name": "config",
        "projected": {
            # Read by MMR's group, which fsGroup makes the files' group.
            "defaultMode": 0o440,
            "sources": [
                {
                    "configMap": {
                        "name": settings_map,
                        "items": [{"key": SETTINGS_FILE, "path": f"{CONFIG_SUBDIR}/{SETTINGS_FILE}"}],
                    }
                },
                {
                    "secret": {
                        "name": secrets,
                        "items": [{"key": SECRETS_FILE, "path": f"{CONFIG_SUBDIR}/{SECRETS_FILE}"}, *keys],
                    }
                },
            ],
        },
    }


def media_volume(claim_name: str | None) -> dict[str, Any]:
    if claim_name is None:
        # The file datastore takes no kind: nothing is written there, but MMR's config still lists it.
        return {"name": "media", "emptyDir": {"sizeLimit": "64Mi"}}
    return {"name": "media", "persistentVolumeClaim": {"claimName": claim_name}}


def media_repo_container(
    stack: StackConfig,
    env: list[dict[str, Any]],
    command: list[str],
    *,
    probes: bool = True,
    redis: Sequence[str] = (),
) -> dict[str, Any]:
    settings: Kubernetes = stack.kubernetes
    ports = [{"name": "http", "containerPort": HTTP_PORT}]
    if stack.metrics.enabled:
        ports.append({"name": "metrics", "containerPort": stack.metrics.port})
    container: dict[str, Any] = {
        "name": "media-repo",
        "image": stack.image,
        "command": command,
        "workingDir": DATA_PATH,
        "env": [
            *env,
            {"name": "REPO_CONFIG", "value": CONFIG_PATH},
            # Go's collector works harder as the heap nears this, before the kernel's OOM killer would act.
            {"name": "GOMEMLIMIT", "value": go_memory_limit(settings.resources.memory_limit)},
        ],
        "ports": ports,
        "resources": {
            "requests": {"cpu": settings.resources.cpu_request, "memory": settings.resources.memory_request},
            "limits": {"memory": settings.resources.memory_limit},
        },
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "media", "mountPath": MEDIA_PATH},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "data", "mountPath": DATA_PATH},
        ],
    }
    if probes:
        # Liveness and start: /healthz, the one path MMR answers whatever the Host header, and whatever the state
        # of its database: a restart cannot bring Postgres back, and reruns every migration.
        health = {"httpGet": {"path": "/healthz", "port": "http"}, "timeoutSeconds": 5}
        # Readiness: MMR can serve media (config_schema/health.py); a pod that cannot leaves the Service.
        ready_script = readiness_script(HTTP_PORT, stack.homeservers[0].name, redis)
        container.update(
            startupProbe={
                **health,
                "periodSeconds": STARTUP_PERIOD_SECONDS,
                "failureThreshold": STARTUP_FAILURE_THRESHOLD,
            },
            readinessProbe={
                "exec": {"command": ["/bin/sh", "-c", ready_script]},
                "timeoutSeconds": LIVENESS_SECONDS + readiness_seconds(redis) + 2,
                "periodSeconds": 10,
                "failureThreshold": 2,
            },
            livenessProbe={**health, "periodSeconds": 30, "failureThreshold": 3},
        )
        if settings.drain_seconds:
            # The pod leaves the Service's endpoints as it starts terminating, while kube-proxy and the
            # Ingress controller catch up; MMR keeps serving what it has until the pause ends and SIGTERM comes.
            container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(settings.drain_seconds)]}}}
    return container


def pod_volumes(stack: StackConfig, config: dict[str, Any], media_claim: str | None) -> list[dict[str, Any]]:
    return [
        config,
        media_volume(media_claim),
        # Uploads in flight, archives, unpacked migrations: a pod that writes past this is evicted.
        {"name": "tmp", "emptyDir": {"sizeLimit": stack.kubernetes.temp_size}},
        # The image's working directory; MMR writes nothing there with logDirectory "-".
        {"name": "data", "emptyDir": {"sizeLimit": "16Mi"}},
    ]


def spread(name: str) -> list[dict[str, Any]]:
    """Every MMR process on another node, and zone, where the scheduler can; never a reason not to schedule."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(name, "media-repo")},
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def pod_spec(
    stack: StackConfig, containers: list[dict[str, Any]], volumes: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(MEDIA_REPO_UID),
        "terminationGracePeriodSeconds": stack.kubernetes.drain_seconds + STOP_SECONDS_AFTER_DRAIN,
        "containers": containers,
        "volumes": volumes,
        **extra,
    }
