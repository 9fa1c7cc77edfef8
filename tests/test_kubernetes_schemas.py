"""Every object a Kubernetes stack registers validates against Kubernetes' own OpenAPI schemas, strictly.

No cluster runs here. kubernetes-validate bundles the official schemas, converted to
JSON Schema, for v1.25 to v1.37; strict mode rejects any field the schema lacks, so a
misspelt or misplaced key fails here instead of being dropped by the API server.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from config_schema.kubernetes import MINIMUM_KUBERNETES_VERSION
from tests.kubernetes_stacks import VARIANTS, kubernetes_objects, manifest, of_kind, run_variant

NEWEST = "1.37"
VERSIONS = (MINIMUM_KUBERNETES_VERSION, NEWEST)
# prometheus-operator's PodMonitor CRD (monitoring.coreos.com_podmonitors.yaml): the fields this
# program sets, with the types the CRD gives them; `selector` is the one the CRD requires.
POD_MONITOR_FIELDS = {"selector": dict, "podMetricsEndpoints": list}


def _custom(document: dict[str, Any]) -> bool:
    return document["apiVersion"].startswith("monitoring.coreos.com/")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_object_validates_strictly(variant: str, version: str) -> None:
    run = run_variant(variant)
    documents = [manifest(r) for r in kubernetes_objects(run)]
    assert documents
    failures = []
    for document in documents:
        if _custom(document):
            continue
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{document['kind']} {document['metadata'].get('name')}: {error}")
    assert not failures, "\n".join(failures)


def test_pod_monitor_has_what_its_crd_requires() -> None:
    run = run_variant("autoscaled-import")
    (monitor,) = [manifest(r) for r in kubernetes_objects(run) if manifest(r)["kind"] == "PodMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= set(POD_MONITOR_FIELDS)
    for field, field_type in POD_MONITOR_FIELDS.items():
        assert isinstance(monitor["spec"][field], field_type)
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    # Scraped by the port's name, which every MMR container declares.
    assert endpoint == {"port": "metrics", "path": "/metrics"}
    for statefulset in of_kind(run, "StatefulSet"):
        if statefulset["metadata"]["name"].endswith(("-primary", "-workers")):
            (container,) = statefulset["spec"]["template"]["spec"]["containers"]
            assert "metrics" in {port["name"] for port in container["ports"]}


def test_ordinals_are_unknown_before_the_minimum_version() -> None:
    """Why the minimum is what it is: 1.25's schema has no spec.ordinals (1.26 added it, beta in 1.27)."""
    workers = next(d for d in of_kind(run_variant("done-when"), "StatefulSet") if "ordinals" in d["spec"])
    with pytest.raises(kubernetes_validate.ValidationError, match="ordinals"):
        kubernetes_validate.validate(workers, "1.25", strict=True)
    kubernetes_validate.validate(workers, MINIMUM_KUBERNETES_VERSION, strict=True)
