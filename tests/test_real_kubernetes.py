"""Every object of every Kubernetes variant, sent to a real kube-apiserver (v1.37, on etcd) as server-side applies.

What is real: the API server's validation, defaulting, server-side apply and its field managers, and its
admission plugins, Pod Security among them, enforcing ``restricted`` on the program's namespace by that
namespace's own labels (tests/kube_control_plane.py). What is not: the objects come from the program run under
Pulumi's mocks (tests/kubernetes_stacks.py), every variant of them, sent as the provider would send them; the
real Pulumi CLI and pulumi-kubernetes provider apply one stack, with pods on fake nodes, in
tests/test_real_kubernetes_engine.py. No controller, scheduler or kubelet runs here, so no pod is started.
``bash tests/run -m real_kubernetes`` runs both.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
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
