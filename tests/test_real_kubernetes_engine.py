"""Kubernetes stacks applied by the real Pulumi CLI and the real pulumi-kubernetes provider to a real kube-apiserver.

What is real: the Pulumi CLI and Python language host (tests/real_tools), the pulumi-kubernetes provider plugin
built from its Go module (v4.25.0: the only release the proxy serves, installed as the version the SDK asks for,
tests/real_tools/versions.env), its diffs, server-side applies, replacements and deletes, the engine's protection,
and kube-apiserver v1.37 on etcd with Pod Security ``restricted`` enforced on the stack's namespace
(tests/kube_control_plane.py), with its controller manager and scheduler and kwok's fake nodes (tests/kube_nodes.py):
pods are made, admitted, scheduled and reported ready, Jobs complete, claims bind, so the provider's readiness
awaits run as on a cluster. What is not: no container runs (so the smoke Job proves nothing of MMR here; the
real-engine tier on Docker runs the real MMR), no CNI enforces the NetworkPolicies, and no ingress controller
runs: the Ingress alone skips the provider's await (``pulumi.com/skipAwait``, added by a stack transform of this
tier's, ``SKIP_AWAITS``; the program itself is unchanged).

The tests run in order on one stack, as an operator would type: first up, no change and a refresh, a changed
setting, a change the API server refuses in place, the documented destroy. ``bash tests/run -m real_kubernetes``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kube_control_plane import ControlPlane, running_control_plane
from tests.kube_nodes import offer_volumes, running_nodes
from tests.real_engine.kubernetes_tier import (
    NAMESPACE,
    OTHER_STACKS,
    SECRETS,
    STACK,
    STACK_CONFIG,
    STORAGE_CLASSES,
    init_stack,
    kubernetes_project,
)
from tests.real_engine.pulumi_project import PulumiProject

pytestmark = pytest.mark.real_kubernetes

# What `pulumi destroy` refuses, as docs/operations.md "Safe destroy" names it for Kubernetes (the PVCs) and for
# every platform (Postgres's password, the signing key); the namespace, protected too, is not reached while the
# claims in it stay. And what the API server keeps after the documented steps.
PROTECTED = {
    f"mmr-{STACK}-postgres-data",
    f"mmr-{STACK}-backups",
    f"mmr-{STACK}-password",
    f"mmr-{STACK}-signing-key-example.org",
}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "kubernetes.md"
RETAINED_CLAIMS = {f"mmr-{STACK}-postgres-data", f"mmr-{STACK}-backups"}


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path_factory.mktemp("control-plane")) as plane, running_nodes(plane):
        for name, expandable in STORAGE_CLASSES.items():
            storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name}}
            # Volumes made beforehand, as a cluster's static ones (no provisioner runs here).
            storage_class |= {"provisioner": "kubernetes.io/no-provisioner", "allowVolumeExpansion": expandable}
            plane.request("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class)
            offer_volumes(plane, name, 3)
        yield plane


@pytest.fixture(scope="module")
def project(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> PulumiProject:
    project = kubernetes_project(control_plane, tmp_path_factory.mktemp("real-kubernetes-engine"))
    init_stack(project, STACK, STACK_CONFIG, SECRETS)
    return project


def _objects(plane: ControlPlane, api_version: str, kind: str) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in plane.list(api_version, kind, NAMESPACE)}


def _import_job(jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The import Job: named by the provider, after its resource (mmr-<stack>-import-<suffix>)."""
    (job,) = [job for name, job in jobs.items() if name.startswith(f"mmr-{STACK}-import-")]
    return job


def _workloads(plane: ControlPlane) -> dict[str, dict[str, Any]]:
    return {**_objects(plane, "apps/v1", "StatefulSet"), **_objects(plane, "apps/v1", "Deployment")}


def test_first_up_creates_every_object_and_leaves_nothing_to_change(
    project: PulumiProject, control_plane: ControlPlane
) -> None:
    up = project.pulumi("up", "--yes", "--skip-preview")
    warnings = [line.strip() for line in up.stdout.splitlines() if line.strip().startswith("warning:")]
    # The one warning: the provider plugin is v4.25.0, not the SDK's 4.34.2 (tests/real_tools/versions.env).
    assert all("resource plugin kubernetes is expected to have version" in line for line in warnings), warnings
    namespace = control_plane.request("GET", f"/api/v1/namespaces/{NAMESPACE}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    workloads = _workloads(control_plane)
    assert {f"mmr-{STACK}-primary", f"mmr-{STACK}-workers", f"mmr-{STACK}-postgres"} <= set(workloads), sorted(
        workloads
    )
    jobs = _objects(control_plane, "batch/v1", "Job")
    assert f"mmr-{STACK}-smoke" in jobs and _import_job(jobs), sorted(jobs)
    assert _objects(control_plane, "networking.k8s.io/v1", "NetworkPolicy")
    # The provider awaited every workload: each has as many ready pods as it asks for, each Job's pod completed.
    for name, workload in workloads.items():
        assert workload["status"].get("readyReplicas") == workload["spec"]["replicas"], (name, workload["status"])
    assert jobs[f"mmr-{STACK}-smoke"]["status"].get("succeeded") == 1, jobs[f"mmr-{STACK}-smoke"]["status"]
    claims = _objects(control_plane, "v1", "PersistentVolumeClaim")
    assert claims and all(claim["status"]["phase"] == "Bound" for claim in claims.values()), claims
    # Written by the real provider's server-side apply, under its own field manager.
    managers = {entry["manager"] for item in workloads.values() for entry in item["metadata"]["managedFields"]}
    assert any(manager.startswith("pulumi-kubernetes-") for manager in managers), managers
    project.pulumi("preview", "--expect-no-changes")
    # A refresh reads every object back from the API server, defaults and all: still nothing to change.
    project.pulumi("refresh", "--yes", "--skip-preview")
    project.pulumi("preview", "--expect-no-changes")


def test_outputs_and_state_keep_every_secret(project: PulumiProject, control_plane: ControlPlane) -> None:
    outputs = project.outputs()
    for name in ("databaseDsn", "mediaRepoConfig", "homeserverSigningKeys"):
        assert outputs[name] == "[secret]", (name, outputs[name])
    state = project.state()
    for secret in SECRETS.values():
        assert secret not in state
    # Nor in any object but the Secrets the API server holds (as base64).
    for kind in ("ConfigMap", "StatefulSet", "Deployment", "Job", "CronJob"):
        api_version = {"ConfigMap": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
        dumped = json.dumps(list(_objects(control_plane, api_version, kind).values()))
        assert not [secret for secret in SECRETS.values() if secret in dumped], kind


def test_a_changed_setting_reaches_every_process(project: PulumiProject, control_plane: ControlPlane) -> None:
    before = {name: item["metadata"]["generation"] for name, item in _workloads(control_plane).items()}
    project.pulumi("config", "set", "--path", "uploads.maxBytes", "209715200")
    up = project.pulumi("up", "--yes", "--skip-preview")
    after = {name: item["metadata"]["generation"] for name, item in _workloads(control_plane).items()}
    # The config is in a Secret the pods mount; its hash in each MMR pod template makes the controllers roll them.
    rolled = {name for name in before if after[name] > before[name]}
    media_repo = {name for name in before if re.fullmatch(rf"mmr-{STACK}-(primary|workers)", name)}
    assert media_repo and media_repo <= rolled, (sorted(media_repo), sorted(rolled), up.stdout[-3000:])
    assert f"mmr-{STACK}-postgres" not in rolled
    # The smoke test runs again: its Job, named and immutable, is deleted (and awaited gone) before it is made anew.
    deleted = up.stdout.find(f"kubernetes:batch/v1:Job mmr-{STACK}-smoke deleted original")
    created = up.stdout.find(f"kubernetes:batch/v1:Job mmr-{STACK}-smoke created replacement")
    assert 0 <= deleted < created, up.stdout[-4000:]
    project.pulumi("preview", "--expect-no-changes")


def test_a_change_the_api_server_refuses_in_place_is_a_replacement(
    project: PulumiProject, control_plane: ControlPlane
) -> None:
    before = _import_job(_objects(control_plane, "batch/v1", "Job"))
    project.pulumi("config", "set", "--path", "import.workers", "4")
    up = project.pulumi("up", "--yes", "--skip-preview")
    # A Job's template is immutable: the provider replaces the Job (a new name first, then the old one deleted).
    assert re.search(rf"\+-\s+kubernetes:batch/v1:Job\s+mmr-{STACK}-import replaced", up.stdout), up.stdout[-4000:]
    after = _import_job(_objects(control_plane, "batch/v1", "Job"))
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert "-workers=4" in json.dumps(after["spec"]["template"]), after["spec"]["template"]
    project.pulumi("preview", "--expect-no-changes")


def _grow_block() -> str:
    """docs/kubernetes.md's commands that grow a claim, as printed."""
    section = DOCS.read_text().split("- **Growing a volume.**", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "docs/kubernetes.md shows no commands that grow a claim"
    return block.group(1)


def _claim_size(plane: ControlPlane, name: str) -> str:
    return _objects(plane, "v1", "PersistentVolumeClaim")[name]["spec"]["resources"]["requests"]["storage"]


def test_docs_grow_a_claim_in_place_where_its_class_allows(project: PulumiProject, control_plane: ControlPlane) -> None:
    data, backups = f"mmr-{STACK}-postgres-data", f"mmr-{STACK}-backups"
    uid = _objects(control_plane, "v1", "PersistentVolumeClaim")[data]["metadata"]["uid"]
    project.sh(_grow_block())
    claim = _objects(control_plane, "v1", "PersistentVolumeClaim")[data]
    # The same claim, patched: its volume and data stay.
    assert (claim["metadata"]["uid"], _claim_size(control_plane, data)) == (uid, "40Gi")
    # A class that does not allow it, and a smaller size: `pulumi up` stops at the claim with Kubernetes's answer.
    for key, size, answer in (
        ("backupVolume", "40Gi", "the storageclass that provisions the pvc must support resize"),
        ("postgresVolume", "10Gi", "field can not be less than status.capacity"),
    ):
        got = project.pulumi("config", "get", "--path", f"kubernetes.{key}.size", check=False)
        before = got.stdout.strip() if got.returncode == 0 else ""
        project.pulumi("config", "set", "--path", f"kubernetes.{key}.size", size)
        refused = project.pulumi("up", "--yes", "--skip-preview", check=False)
        assert refused.returncode != 0 and answer in refused.stdout, refused.stdout[-3000:]
        # As the docs say: the key set back to the claim's size, `pulumi up` goes on, and then nothing is left.
        if before:
            project.pulumi("config", "set", "--path", f"kubernetes.{key}.size", before)
        else:
            project.pulumi("config", "rm", "--path", f"kubernetes.{key}.size")
        project.pulumi("up", "--yes", "--skip-preview")
        project.pulumi("preview", "--expect-no-changes")
    assert (_claim_size(control_plane, data), _claim_size(control_plane, backups)) == ("40Gi", "20Gi")


def test_destroy_refuses_what_the_docs_say_and_leaves_the_claims(
    project: PulumiProject, control_plane: ControlPlane
) -> None:
    refused = project.pulumi("destroy", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0
    protected = set(re.findall(rf'resource "urn:pulumi:{STACK}::[^"]*::([^"]+)" cannot be deleted', refused.stdout))
    assert protected == PROTECTED, (sorted(protected), refused.stdout[-4000:])
    project.pulumi("state", "unprotect", "--all", "--yes")
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert not _workloads(control_plane)
    assert not _objects(control_plane, "batch/v1", "Job")
    claims = set(_objects(control_plane, "v1", "PersistentVolumeClaim"))
    assert claims == RETAINED_CLAIMS, sorted(claims)
    assert control_plane.request("GET", f"/api/v1/namespaces/{NAMESPACE}")["metadata"]["name"] == NAMESPACE


@pytest.mark.parametrize("stack", sorted(OTHER_STACKS))
def test_other_stacks_come_up_change_nothing_and_go(
    stack: str, project: PulumiProject, control_plane: ControlPlane
) -> None:
    config, secrets = OTHER_STACKS[stack]
    init_stack(project, stack, config, secrets)
    project.pulumi("up", "--yes", "--skip-preview")
    namespace = config["kubernetes"]["namespace"]
    workloads = {
        item["metadata"]["name"]: item
        for kind in ("StatefulSet", "Deployment")
        for item in control_plane.list("apps/v1", kind, namespace)
    }
    assert workloads
    for name, workload in workloads.items():
        assert workload["status"].get("readyReplicas") == workload["spec"]["replicas"], (name, workload["status"])
    jobs = {job["metadata"]["name"]: job for job in control_plane.list("batch/v1", "Job", namespace)}
    assert all(job["status"].get("succeeded") == 1 for job in jobs.values()), jobs
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("refresh", "--yes", "--skip-preview")
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("state", "unprotect", "--all", "--yes")
    project.pulumi("destroy", "--yes", "--skip-preview")
    claims = {claim["metadata"]["name"] for claim in control_plane.list("v1", "PersistentVolumeClaim", namespace)}
    assert claims == {f"mmr-{stack}-media"}, claims
