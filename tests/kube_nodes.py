"""What runs pods on the tests' control plane: its controllers, its scheduler, and kwok's fake nodes.

``running_nodes(plane, count)`` starts kube-controller-manager and kube-scheduler (built with kube-apiserver,
tests/real_tools/build.sh kube) and kwok (sigs.k8s.io/kwok, the fake kubelet, with the stages its module ships:
a node is ready at once, a pod is running and ready once scheduled, a Job's pod completes, a deleted pod goes),
registers ``count`` nodes kwok manages, and offers persistent volumes for claims to bind. So Deployments,
StatefulSets and Jobs make pods, pods are judged by admission (Pod Security) and scheduled, Services get
endpoints, claims are bound, and garbage collection finishes deletions, as in a cluster. What is not real: no
container runs (kwok only writes the pods' status), no volume is mounted, no network policy is enforced.
Every process is stopped by its pid.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.kube_control_plane import ApiError, ControlPlane, free_port, stop_processes
from tests.real_tools.tools import kube_bin_dir

# Nodes kwok takes care of carry this annotation; real nodes would not.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# Volumes for the claims a stack makes (no provisioner runs): bound by the controller manager's binder to claims
# without a StorageClass, as a cluster's static volumes are.
VOLUME_COUNT = 8
VOLUME_SIZE = "200Gi"
_READY_SECONDS = 120


@contextmanager
def running_nodes(plane: ControlPlane, count: int = 4) -> Iterator[list[str]]:
    bin_dir = kube_bin_dir()
    directory = plane.directory
    kubeconfig = plane.write_kubeconfig(directory / "components.kubeconfig")
    common = [f"--kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1"]
    commands = {
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"),
            *common,
            f"--secure-port={free_port()}",
            # Each controller with the manager's own credentials (the admin's here): no token per controller.
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={directory / 'service-account.key'}",
            f"--root-ca-file={plane.certificate_file}",
            "--cluster-cidr=10.244.0.0/16",
        ],
        "kube-scheduler": [str(bin_dir / "kube-scheduler"), *common, f"--secure-port={free_port()}"],
        "kwok": [
            str(bin_dir / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={bin_dir.parent / 'share' / 'kwok-stages.yaml'}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            "--cidr=10.244.0.0/16",
            "--node-ip=127.0.0.1",
        ],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            with (directory / f"{name}.log").open("wb") as log:
                processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        names = [f"kwok-node-{index}" for index in range(count)]
        for name in names:
            plane.request("POST", "/api/v1/nodes", _node(name))
        offer_volumes(plane, "", VOLUME_COUNT)
        _wait_until_nodes_ready(plane, names, processes, directory)
        yield names
    finally:
        stop_processes(processes)


def _node(name: str) -> dict[str, object]:
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
        },
        "status": {"allocatable": resources, "capacity": resources},
    }


def offer_volumes(plane: ControlPlane, storage_class: str, count: int) -> None:
    """``count`` volumes of ``storage_class`` ("" for claims that name none), for claims to bind."""
    for index in range(count):
        name = f"volume-{storage_class or 'unclassed'}-{index}"
        spec = {
            "capacity": {"storage": VOLUME_SIZE},
            "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": storage_class,
            "hostPath": {"path": f"/nonexistent/{name}"},
        }
        volume = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}
        plane.request("POST", "/api/v1/persistentvolumes", volume)


def _wait_until_nodes_ready(
    plane: ControlPlane, names: list[str], processes: list[subprocess.Popen[bytes]], directory: Path
) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    while True:
        try:
            ready = {
                node["metadata"]["name"]
                for node in plane.request("GET", "/api/v1/nodes")["items"]
                if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
            }
            if set(names) <= ready:
                return
        except (ApiError, OSError):
            pass
        stopped = [process.args[0] for process in processes if process.poll() is not None]
        if stopped or time.monotonic() > deadline:
            logs = {
                name: (directory / f"{name}.log").read_text(errors="replace")[-3000:]
                for name in ("kube-controller-manager", "kube-scheduler", "kwok")
            }
            raise AssertionError(f"the nodes did not become ready (stopped: {stopped}): {logs}")
        time.sleep(1)
