"""Kubernetes stacks under mocks, and the registered objects as the manifests the provider would apply."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import yaml

from components.kubernetes.objects import ADMIN_CLIENT_LABEL
from config_schema.config_directory import SETTINGS_FILE
from tests.pulumi_harness import ProgramRun, Registration, run_program

EXTERNAL_DSN = "postgres://mmr:ext%3Asecret@db.example.org:5432/mmr?sslmode=require"
ALL_KINDS = ["thumbnails", "remote_media", "local_media", "archives"]

# The "done when" stack: three processes, S3, an external database, an Ingress.
BASE: dict[str, Any] = {
    "platform": "kubernetes",
    "homeservers": [
        {"name": "example.org", "csApi": "https://matrix.example.org", "publicHost": "matrix.example.org"},
        {"name": "example.com", "csApi": "https://matrix.example.com"},
    ],
    "s3": {"provider": "aws", "bucketName": "mmr-media"},
    "datastores": {"s3": {"forKinds": ALL_KINDS}},
    "database": {"provider": "external", "dsn": EXTERNAL_DSN},
    "kubernetes": {"replicas": 3, "ingress": {"className": "nginx", "clusterIssuer": "letsencrypt"}},
}
AWS = {"aws:region": "eu-central-1"}
DIGITALOCEAN = {
    "digitalocean:token": "do-token",
    "digitalocean:spacesAccessId": "do-spaces-id",
    "digitalocean:spacesSecretKey": "do-spaces-secret",
}


def variant(**changes: Any) -> dict[str, Any]:
    """BASE with top-level keys replaced (None removes one) and ``kubernetes`` merged."""
    config = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        elif key == "kubernetes":
            config["kubernetes"] = {**config["kubernetes"], **value}
        else:
            config[key] = value
    return config


VARIANTS: dict[str, dict[str, Any]] = {
    "done-when": BASE,
    "one-process": variant(kubernetes={"replicas": 1, "ingress": {}}),
    "in-cluster-postgres": variant(database={"provider": "container"}, backup={"s3": True}),
    "aws-rds": variant(
        database={"provider": "aws", "trustedSources": [{"type": "security_group", "value": "sg-0a1b2c3d4e5f60718"}]},
        kubernetes={"networkPolicy": {"egressCidrs": ["172.31.0.0/16"]}},
    ),
    "digitalocean": variant(
        database={
            "provider": "digitalocean",
            "region": "ams3",
            "trustedSources": [{"type": "k8s", "value": "doks-cluster-uuid"}],
        },
        s3={"provider": "digitalocean", "region": "ams3"},
    ),
    "autoscaled-import": variant(
        kubernetes={"autoscaling": {"enabled": True, "maxReplicas": 12}, "podMonitor": True},
        metrics={"enabled": True},
        sharedSecretAuth={"enabled": True},
        **{
            "import": {
                "from": "synapse",
                "dbHost": "synapse-db.example.org",
                "dbName": "synapse",
                "dbUsername": "synapse",
                "dbPassword": "synapse:pass@word",
                "serverName": "example.org",
                "baseUrl": "https://matrix.example.org",
            }
        },
    ),
    "file-datastore-rwx": variant(
        s3=None,
        datastores=None,
        kubernetes={"mediaVolume": {"accessMode": "ReadWriteMany", "storageClass": "nfs-client"}},
    ),
    "external-redis": variant(redis={"enabled": True, "shards": [{"name": "a", "addr": "redis.cache:6379"}]}),
    # The file datastore's media moving to S3: read-only, still mounted by every process.
    "file-to-s3": variant(
        datastores={"file": {"transferTo": "s3"}, "s3": {"forKinds": ALL_KINDS}},
        kubernetes={"mediaVolume": {"accessMode": "ReadWriteMany", "storageClass": "nfs-client"}},
    ),
    "fenced": variant(
        kubernetes={
            "drainSeconds": 45,
            "networkPolicy": {
                "ingressNamespaces": ["traefik", "ingress-nginx"],
                "ingressCidrs": ["192.168.10.0/24"],
                "egressNamespaces": ["matrix"],
                "egressCidrs": ["10.20.0.0/16", "fd12:3456::/48"],
            },
        },
    ),
}
EXTRA_CONFIG = {name: (DIGITALOCEAN if name == "digitalocean" else AWS) for name in VARIANTS}
SECRET_KEYS = ("database", "import")


@cache
def run_variant(name: str) -> ProgramRun:
    return run_program(VARIANTS[name], extra_config=EXTRA_CONFIG[name], secret_keys=SECRET_KEYS, stack="prod")


def run_config(config: Mapping[str, Any], extra: Mapping[str, str] = AWS) -> ProgramRun:
    return run_program(config, extra_config=extra, secret_keys=SECRET_KEYS, stack="prod")


def kubernetes_objects(run: ProgramRun) -> list[Registration]:
    return [r for r in run.registrations if r.type.startswith("kubernetes:")]


def manifest(registration: Registration) -> dict[str, Any]:
    """The object as the provider sends it to the API server: apiVersion, kind and the fields set."""
    inputs = registration.inputs
    group_version, kind = registration.type.removeprefix("kubernetes:").rsplit(":", 1)
    api_version = group_version.removeprefix("core/")
    document = {"apiVersion": inputs.get("apiVersion", api_version), "kind": inputs.get("kind", kind)}
    document.update({key: value for key, value in inputs.items() if key not in ("apiVersion", "kind")})
    metadata = document.setdefault("metadata", {})
    # Auto-named: the provider names it after the resource, with a random suffix (tests/pulumi_harness.py).
    metadata.setdefault("name", registration.name)
    return document


def of_kind(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    return [manifest(r) for r in kubernetes_objects(run) if manifest(r)["kind"] == kind]


def one(run: ProgramRun, kind: str, name: str) -> dict[str, Any]:
    matches = [m for m in of_kind(run, kind) if m["metadata"].get("name") == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def pod_templates(run: ProgramRun) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) for every StatefulSet, Deployment and Job."""
    for kind in ("StatefulSet", "Deployment", "Job"):
        for workload in of_kind(run, kind):
            yield workload, workload["spec"]["template"]


def media_repo_pods(run: ProgramRun, image: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Workloads whose pods run MMR's binaries: every process that takes a machine id.

    Not the smoke test's and the transfer's Jobs: they run only a shell script from MMR's image.
    """
    for workload, template in pod_templates(run):
        if ADMIN_CLIENT_LABEL in template["metadata"].get("labels", {}):
            continue
        if any(container["image"] == image for container in template["spec"]["containers"]):
            yield workload, template


def env_of(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((item for item in container.get("env", []) if item["name"] == name), None)


def settings_yaml(run: ProgramRun) -> dict[str, Any]:
    (config_map,) = [m for m in of_kind(run, "ConfigMap") if SETTINGS_FILE in m["data"]]
    return yaml.safe_load(config_map["data"][SETTINGS_FILE])
