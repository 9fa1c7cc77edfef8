"""The real Kubernetes tier's stacks, and a clone of the project set up to apply them to a control plane.

``STACK_CONFIG`` is the tier's main stack; ``OTHER_STACKS`` are smaller ones that run the first up, no change,
refresh and destroy cycle. ``kubernetes_project`` makes the clone: the real Pulumi CLI, the real
pulumi-kubernetes plugin, a kubeconfig for the control plane, and ``SKIP_AWAITS`` as the program's entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.kube_control_plane import ControlPlane
from tests.real_engine.pulumi_project import PulumiProject, install_kubernetes_plugin, install_plugins
from tests.real_tools.tools import kube_provider_bin_dir, pulumi_bin_dir

ALL_KINDS = ["thumbnails", "remote_media", "local_media", "archives"]
EXTERNAL_S3 = {
    "provider": "external",
    "endpoint": "s3.example.org",
    "bucketName": "matrix-media",
    "region": "us-east-1",
    "accessKeyId": "matrix-media-repo",
}
HOMESERVERS = [{"name": "example.org", "csApi": "https://matrix.example.org", "publicHost": "matrix.example.org"}]
STACK = "cluster"
NAMESPACE = "media"
# Several processes with Redis, an existing S3 bucket, Postgres in the cluster with its dumps, a Synapse import,
# network policies and an Ingress: every kind of object the program makes but the PodMonitor (a custom resource
# whose definition comes with the Prometheus Operator, which this API server lacks) and the cloud providers'.
STACK_CONFIG: dict[str, Any] = {
    "platform": "kubernetes",
    "homeservers": HOMESERVERS,
    "datastores": {"s3": {"forKinds": ALL_KINDS}},
    "s3": EXTERNAL_S3,
    # 20: four processes at most (three and the import) stay within the in-cluster Postgres's connections.
    "database": {"provider": "container", "maxConnections": 20},
    "metrics": {"enabled": True},
    "kubernetes": {
        "namespace": NAMESPACE,
        "replicas": 2,
        "autoscaling": {"enabled": True, "maxReplicas": 3},
        "ingress": {"className": "nginx", "clusterIssuer": "letsencrypt"},
        "networkPolicy": {"egressCidrs": ["10.20.0.0/16"]},
        # Classes of the tier's (STORAGE_CLASSES): one that allows a claim to grow, one that does not.
        "postgresVolume": {"storageClass": "expandable"},
        "backupVolume": {"storageClass": "fixed"},
    },
    "import": {
        "from": "synapse",
        "dbHost": "synapse-db.example.org",
        "dbName": "synapse",
        "dbUsername": "synapse",
        "serverName": "example.org",
        "baseUrl": "https://matrix.example.org",
    },
}
STORAGE_CLASSES = {"expandable": True, "fixed": False}
SECRETS = {"s3.accessSecret": "s3-secret-of-the-tier", "import.dbPassword": "synapse:pass@word"}
# The program's entry point in this tier: the Ingress skips the provider's await of its load balancer (no
# ingress controller runs here), then __main__.py runs as `pulumi up` runs it.
SKIP_AWAITS = """
import os
import runpy
import sys

import pulumi

# As when Pulumi runs the project's directory: its packages importable.
sys.path.insert(0, os.getcwd())


def skip_awaits(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    if args.type_ != "kubernetes:networking.k8s.io/v1:Ingress":
        return None
    metadata = dict(args.props.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), "pulumi.com/skipAwait": "true"}
    return pulumi.ResourceTransformResult({**args.props, "metadata": metadata}, args.opts)


pulumi.runtime.register_resource_transform(skip_awaits)
runpy.run_path("__main__.py", run_name="__main__")
"""
EXTERNAL_DSN = "postgres://mmr:ext%3Asecret@db.example.org:5432/mmr?sslmode=require"
# name: (config, secrets). One process on the file datastore and an existing Postgres, the defaults otherwise;
# and the file datastore's media moving to S3 (the transfer Job), the volume shared by two processes.
OTHER_STACKS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "single": (
        {
            "platform": "kubernetes",
            "homeservers": HOMESERVERS,
            "database": {"provider": "external"},
            "kubernetes": {"namespace": "single", "replicas": 1},
        },
        {"database.dsn": EXTERNAL_DSN},
    ),
    "transfer": (
        {
            "platform": "kubernetes",
            "homeservers": HOMESERVERS,
            "datastores": {"file": {"transferTo": "s3"}, "s3": {"forKinds": ALL_KINDS}},
            "s3": EXTERNAL_S3,
            "database": {"provider": "external"},
            "kubernetes": {
                "namespace": "transfer",
                "mediaVolume": {"accessMode": "ReadWriteMany", "storageClass": "expandable"},
            },
        },
        {"database.dsn": EXTERNAL_DSN, "s3.accessSecret": "s3-secret-of-the-tier"},
    ),
}


def kubernetes_project(plane: ControlPlane, workdir: Path) -> PulumiProject:
    """A clone of the project whose `pulumi` applies to ``plane`` with the real provider; no stack yet."""
    tools = pulumi_bin_dir()
    install_plugins(workdir / "pulumi-home", tools)
    install_kubernetes_plugin(workdir / "pulumi-home", tools, kube_provider_bin_dir())
    project = PulumiProject(workdir, tools, workdir / "pulumi-home", None, None)
    project.env["KUBECONFIG"] = str(plane.write_kubeconfig(workdir / "kubeconfig"))
    (project.directory / "skip_awaits.py").write_text(SKIP_AWAITS)
    settings = yaml.safe_load((project.directory / "Pulumi.yaml").read_text())
    (project.directory / "Pulumi.yaml").write_text(yaml.safe_dump({**settings, "main": "skip_awaits.py"}))
    return project


def init_stack(project: PulumiProject, stack: str, config: dict[str, Any], secrets: dict[str, str]) -> None:
    """A new stack of ``config``, its ``secrets`` set as an operator sets them (--secret), and selected."""
    settings = {f"matrix-media-repo:{key}": value for key, value in config.items()}
    (project.directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": settings}))
    project.pulumi("stack", "init", stack)
    for key, value in secrets.items():
        project.pulumi("config", "set", "--secret", "--path", key, value)
