"""Every object of every Kubernetes variant, sent to a real kube-apiserver (v1.37, on etcd) as server-side applies.

What is real: the API server's validation, defaulting, server-side apply and its field managers, and its
admission plugins, Pod Security among them, enforcing ``restricted`` on the program's namespace by that
namespace's own labels (tests/kube_control_plane.py). What is not: the objects come from the program run under
Pulumi's mocks (tests/kubernetes_stacks.py), not from the real pulumi-kubernetes provider, whose module the
proxy serves only at a pseudo-version, not at requirements-kubernetes.txt's; no controller, scheduler or kubelet
runs, so no pod is started and nothing awaits readiness. ``bash tests/run -m real_kubernetes`` runs this alone.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kube_control_plane import ApiError, ControlPlane, running_control_plane
from tests.kubernetes_stacks import EXTRA_CONFIG, VARIANTS, kubernetes_objects, manifest, run_config

pytestmark = pytest.mark.real_kubernetes

# Custom resources whose definitions come with an operator the cluster runs (the Prometheus Operator's
# PodMonitor): this API server has none, so it cannot judge them.
CUSTOM_GROUPS = ("monitoring.coreos.com/",)
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


def documents_of(variant: str, **kubernetes: Any) -> list[dict[str, Any]]:
    """The variant's objects, namespaces first (as the provider orders them by their dependencies).

    Each variant in a namespace of its own (named after it), as each would be a stack of its own: in one namespace
    the variants' objects of the same name would meet as changes, which the test of changes makes on purpose.
    """
    config = copy.deepcopy(VARIANTS[variant])
    config["kubernetes"] = {**config["kubernetes"], "namespace": variant, **kubernetes}
    run = run_config(config, EXTRA_CONFIG[variant])
    documents = [_as_go_encodes(manifest(registration)) for registration in kubernetes_objects(run)]
    documents = [document for document in documents if not document["apiVersion"].startswith(CUSTOM_GROUPS)]
    return sorted(documents, key=lambda document: document["kind"] != "Namespace")


def _as_go_encodes(value: Any) -> Any:
    """``value`` with whole floats as integers: the engine's protocol carries every number as a double, and the
    provider's Go encoding/json writes float64 292 as ``292``, where Python writes ``292.0``, which the API server
    refuses for an int32 field."""
    if isinstance(value, dict):
        return {key: _as_go_encodes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_go_encodes(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def pod_templates(documents: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each pod template: its owner, the owner's namespace, the template."""
    for document in documents:
        spec = document.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if template:
            owner = f"{document['kind']} {document['metadata']['name']}"
            yield owner, document["metadata"]["namespace"], template


def apply_all(control_plane: ControlPlane, documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each document applied; what the API server stored, by kind and name. Fails with every refusal and warning."""
    stored, problems = {}, []
    for document in documents:
        name = f"{document['kind']} {document['metadata']['name']}"
        try:
            stored[name], warnings = control_plane.apply(document)
        except ApiError as error:
            problems.append(f"{name}: {error}")
            continue
        problems += [f"{name}: warning {warning}" for warning in warnings]
    assert not problems, "\n".join(problems)
    return stored


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_api_server_takes_every_object_and_applying_again_changes_nothing(
    control_plane: ControlPlane, variant: str
) -> None:
    documents = documents_of(variant)
    namespaces = [document for document in documents if document["kind"] == "Namespace"]
    assert namespaces, "the program declares its namespace"
    for namespace in namespaces:
        assert namespace["metadata"]["labels"][POD_SECURITY_LABEL] == "restricted"
        control_plane.apply(namespace)
        # No controller manager makes a namespace's default service account here; pods that name none use it.
        service_account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        service_account["metadata"]["namespace"] = namespace["metadata"]["name"]
        control_plane.apply(service_account)
    first = apply_all(control_plane, documents)
    second = apply_all(control_plane, documents)
    third = apply_all(control_plane, documents)
    # What `pulumi preview --expect-no-changes` needs of the server: the same objects applied again store the same
    # objects. (kube-apiserver v1.37.2 writes a PersistentVolumeClaim once more on the second apply, identical but
    # for its resourceVersion; from the third apply on nothing is written.)
    differences = {name: _differences(first[name], second[name]) for name in first}
    assert not any(differences.values()), f"applied again, the API server stored other objects: {differences}"
    version = "resourceVersion"
    rewritten = [name for name in second if second[name]["metadata"][version] != third[name]["metadata"][version]]
    assert not rewritten, f"applied a third time, the API server still writes: {rewritten}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_pod_the_program_would_run_is_admitted_under_the_restricted_pod_security_standard(
    control_plane: ControlPlane, variant: str
) -> None:
    documents = documents_of(variant)
    templates = list(pod_templates(documents))
    assert templates
    refused = []
    for owner, namespace, template in templates:
        try:
            _dry_run_pod(control_plane, namespace, owner, template)
        except ApiError as error:
            refused.append(f"{owner}: {error}")
    assert not refused, "\n".join(refused)
    # The control: the same pod with privilege escalation allowed is refused, so admission is enforcing here.
    owner, namespace, template = templates[0]
    loosened = copy.deepcopy(template)
    loosened["spec"]["containers"][0].setdefault("securityContext", {})["allowPrivilegeEscalation"] = True
    with pytest.raises(ApiError, match="violates PodSecurity"):
        _dry_run_pod(control_plane, namespace, owner, loosened)


def _dry_run_pod(control_plane: ControlPlane, namespace: str, owner: str, template: dict[str, Any]) -> None:
    """A pod made from ``template``, as its controller would make it, created with dryRun: admission judges it."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template.get("metadata", {}), "generateName": "probe-", "namespace": namespace},
        "spec": template["spec"],
    }
    pod["metadata"].pop("name", None)
    control_plane.request("POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", pod)


def _differences(before: dict[str, Any], after: dict[str, Any], path: str = "") -> list[str]:
    """Where two stored objects differ, their resourceVersion and the times in managedFields aside."""
    found = []
    for key in sorted(set(before) | set(after)):
        if key == "resourceVersion":
            continue
        old, new = before.get(key), after.get(key)
        if key == "managedFields":
            old, new = ([{**entry, "time": None} for entry in side or []] for side in (old, new))
        if isinstance(old, dict) and isinstance(new, dict):
            found += _differences(old, new, f"{path}.{key}")
        elif old != new:
            found.append(f"{path}.{key}: {old!r} -> {new!r}")
    return found


# What pulumi-kubernetes replaces instead of patching, for the kinds the program makes that the API server holds
# immutable in part (provider/pkg/provider/diff.go, forceNewProperties; every kind also on .metadata.name and
# .metadata.namespace). Our reading of the provider, which does not run here: a field the API server refuses to
# change and the provider would patch is what an operator would meet as a failed `pulumi up`.
PROVIDER_REPLACES_ON = {
    "Job": ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    "StatefulSet": (
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "Deployment": ("spec.selector",),
    "PersistentVolumeClaim": ("spec",),
    "ConfigMap": ("data", "binaryData"),
    "Secret": ("type", "stringData", "data"),
    "Service": ("spec.clusterIP",),
}
# The change: a new MMR image and a new upload limit (MMR's config and every pod template), another database
# server (the grant and import Jobs' commands) and a larger media volume.
CHANGED_NAMESPACE = "changes"
BEFORE = {"kubernetes": {"namespace": CHANGED_NAMESPACE}}


def _changed(config: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    changed["image"] = "ghcr.io/t2bot/matrix-media-repo:v1.3.9"
    changed["uploads"] = {"maxBytes": 209715200}
    changed["database"] = {**changed["database"], "dsn": changed["database"]["dsn"].replace("@", "@new-", 1)}
    return changed


def test_a_change_the_api_server_refuses_in_place_is_one_the_provider_replaces(control_plane: ControlPlane) -> None:
    """Every object the API server would refuse to patch is one the provider replaces, deleting first when named."""
    variant = "autoscaled-import"
    config = copy.deepcopy(VARIANTS[variant])
    config["kubernetes"] = {**config["kubernetes"], "namespace": CHANGED_NAMESPACE}
    before_run = run_config(config, EXTRA_CONFIG[variant])
    after_run = run_config(_changed(config), EXTRA_CONFIG[variant])
    before = {_key(document): document for document in _documents(before_run)}
    after = {_key(document): (document, registration) for document, registration in _documents_with(after_run)}
    namespace = before[("Namespace", CHANGED_NAMESPACE)]
    control_plane.apply(namespace)
    default_account = {"name": "default", "namespace": CHANGED_NAMESPACE}
    control_plane.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": default_account})
    stored = apply_all(control_plane, list(before.values()))

    refused, rolled = {}, []
    for key, (document, registration) in after.items():
        if key not in before:
            continue  # a new object (an auto-named ConfigMap, say): created, not changed
        try:
            result, _ = control_plane.apply(document)
        except ApiError as error:
            refused[key] = (str(error), registration, before[key], document)
            continue
        was = stored[f"{key[0]} {key[1]}"]["metadata"]
        if key[0] in ("StatefulSet", "Deployment") and result["metadata"]["generation"] > was["generation"]:
            rolled.append(key[1])

    # The config change reaches every MMR workload's pod template: their controllers would roll the pods.
    workloads = ("StatefulSet", "Deployment")
    media_repo_workloads = [key[1] for key in before if key[0] in workloads and "redis" not in key[1]]
    assert media_repo_workloads and set(media_repo_workloads) <= set(rolled), (media_repo_workloads, rolled)
    # The API server refuses some of the change in place (the Jobs' templates): what the operator would see.
    assert refused, "the API server took every change in place"
    unreplaced = []
    for (kind, name), (message, registration, old, new) in refused.items():
        assert "field is immutable" in message or "Forbidden" in message, message
        changed_paths = _differences(old, new)
        replaced = [path for path in changed_paths if path.lstrip(".").startswith(PROVIDER_REPLACES_ON.get(kind, ()))]
        # A named object is replaced by deleting it first (a new one of the same name cannot come before).
        named = "name" in registration.inputs.get("metadata", {})
        if not replaced or (named and not registration.delete_before_replace):
            unreplaced.append(f"{kind} {name}: {message}\n  changes {changed_paths}")
    assert not unreplaced, "the provider would patch these, and the API server refuses:\n" + "\n".join(unreplaced)


def _key(document: dict[str, Any]) -> tuple[str, str]:
    return document["kind"], document["metadata"]["name"]


def _documents_with(run: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    for registration in kubernetes_objects(run):
        document = _as_go_encodes(manifest(registration))
        if not document["apiVersion"].startswith(CUSTOM_GROUPS):
            yield document, registration


def _documents(run: Any) -> list[dict[str, Any]]:
    documents = [document for document, _ in _documents_with(run)]
    return sorted(documents, key=lambda document: document["kind"] != "Namespace")


DOCS = Path(__file__).parent.parent / "docs" / "kubernetes.md"
GROW_COMMAND = re.compile(r"^\s*kubectl --namespace (\S+) patch pvc (\S+) --patch '(.+)'$", re.MULTILINE)


def test_docs_grow_a_claim_in_place_and_the_program_leaves_its_size_alone(control_plane: ControlPlane) -> None:
    """docs/kubernetes.md's kubectl patch grows the program's claim where the class allows it; the program ignores
    the size after creation (the provider would replace the claim); shrinking and a fixed class are refused."""
    command = GROW_COMMAND.search(DOCS.read_text())
    assert command, f"{DOCS.name} shows no kubectl patch of a claim"
    namespace_name, claim_name, patch = command.groups()
    for class_name, expandable in (("expandable", True), ("fixed", False)):
        control_plane.apply(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": class_name},
                "provisioner": "example.org/none",
                "allowVolumeExpansion": expandable,
            }
        )
    results = {}
    for class_name in ("expandable", "fixed"):
        run = run_config(_file_datastore(namespace_name if class_name == "expandable" else "grow-fixed", class_name))
        claim = next(r for r in kubernetes_objects(run) if r.type == "kubernetes:core/v1:PersistentVolumeClaim")
        assert "spec.resources" in claim.ignore_changes, "a new size would replace the claim, and its data"
        documents = {_key(document): document for document in _documents(run)}
        namespace = next(document for key, document in documents.items() if key[0] == "Namespace")
        control_plane.apply(namespace)
        document = documents[("PersistentVolumeClaim", claim_name)]
        control_plane.apply(document)
        # No volume controller here: the claim is bound by hand, as the controller would once a volume is provisioned.
        path = f"/api/v1/namespaces/{namespace['metadata']['name']}/persistentvolumeclaims/{claim_name}"
        size = document["spec"]["resources"]["requests"]["storage"]
        modes = document["spec"]["accessModes"]
        bound = {"status": {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}}}
        control_plane.request("PATCH", path + "/status", bound, "application/merge-patch+json")
        try:
            stored = control_plane.request("PATCH", path, json.loads(patch), "application/strategic-merge-patch+json")
            results[class_name] = stored["spec"]["resources"]["requests"]["storage"]
        except ApiError as error:
            results[class_name] = str(error)
    assert results["expandable"] == json.loads(patch)["spec"]["resources"]["requests"]["storage"], results
    assert "must support resize" in results["fixed"], results
    shrink = {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    with pytest.raises(ApiError, match=r"can not be less than status\.capacity"):
        path = f"/api/v1/namespaces/{namespace_name}/persistentvolumeclaims/{claim_name}"
        control_plane.request("PATCH", path, shrink, "application/strategic-merge-patch+json")


def _file_datastore(namespace: str, storage_class: str) -> dict[str, Any]:
    config = copy.deepcopy(VARIANTS["file-datastore-rwx"])
    volume = {"accessMode": "ReadWriteMany", "storageClass": storage_class}
    config["kubernetes"] = {**config["kubernetes"], "namespace": namespace, "mediaVolume": volume}
    return config
