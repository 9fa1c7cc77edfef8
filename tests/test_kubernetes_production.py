"""Several MMR processes in production: revocation, uploads on disk, fences, rollouts, node loss, Postgres majors.

Under mocks, on the manifests the provider would apply (tests/kubernetes_stacks.py). The
NetworkPolicies are evaluated here as the API's semantics read them (podSelector matchLabels,
ipBlock cidr/except, rules OR'ed); no CNI has enforced them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pytest
import yaml

from config_schema import load_stack_config
from config_schema.kubernetes import go_memory_limit
from config_schema.loading import advisory_warnings
from config_schema.network_policy import METADATA_CIDRS
from config_schema.postgres_data import POSTGRES_MAJOR_ANNOTATION
from config_schema.storage import S3_TEMP_PATH
from tests.kubernetes_stacks import (
    VARIANTS,
    env_of,
    media_repo_pods,
    of_kind,
    one,
    pod_templates,
    run_config,
    run_variant,
    settings_yaml,
    variant,
)
from tests.pulumi_harness import run_program
from tests.variants import VARIANTS as DOCKER_VARIANTS

IMAGE = "ghcr.io/t2bot/matrix-media-repo:v1.3.8"


def _rendered(run: Any) -> dict[str, Any]:
    return yaml.safe_load(run.outputs["mediaRepoConfig"])


@pytest.mark.parametrize("name", ["done-when", "autoscaled-import", "fenced"])
def test_several_processes_render_no_token_cache(name: str) -> None:
    assert _rendered(run_variant(name))["accessTokens"] == {"maxCacheTimeSeconds": 0}


def test_one_process_keeps_the_cache_and_an_explicit_one_with_several_warns() -> None:
    assert _rendered(run_variant("one-process"))["accessTokens"] == {"maxCacheTimeSeconds": 43200}
    docker = run_program(DOCKER_VARIANTS["dev"]())
    assert yaml.safe_load(docker.outputs["mediaRepoConfig"])["accessTokens"] == {"maxCacheTimeSeconds": 43200}
    run = run_config(variant(accessTokens={"maxCacheTimeSeconds": 600}))
    assert _rendered(run)["accessTokens"] == {"maxCacheTimeSeconds": 600}
    assert any("keeps working at the processes that cached it for up to 600 s" in w for w in run.warnings)
    # Without the cache, MMR needs no logout routed to it.
    paths = {
        p["path"] for i in of_kind(run_variant("done-when"), "Ingress") for p in i["spec"]["rules"][0]["http"]["paths"]
    }
    assert not any("logout" in path for path in paths)


@pytest.mark.parametrize(
    "run_of",
    [
        lambda: run_variant("done-when"),
        lambda: run_program(DOCKER_VARIANTS["aws"](), extra_config={"aws:region": "eu-central-1"}),
    ],
)
def test_every_s3_render_buffers_uploads_on_disk(run_of: Any) -> None:
    run = run_of()
    (s3,) = [d for d in _rendered(run)["datastores"] if d["type"] == "s3"]
    assert s3["opts"]["tempPath"] == S3_TEMP_PATH and S3_TEMP_PATH.startswith("/tmp/")


def test_the_scratch_space_under_tmp_is_a_disk_on_both_platforms() -> None:
    for _, template in media_repo_pods(run_variant("done-when"), IMAGE):
        (container,) = template["spec"]["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volume = next(v for v in template["spec"]["volumes"] if v["name"] == mounts["/tmp"])
        # An emptyDir without medium Memory is node disk; its size limit takes 16 uploads of 100 MiB.
        assert "medium" not in volume["emptyDir"] and volume["emptyDir"]["sizeLimit"] == "4Gi"
    run = run_program(DOCKER_VARIANTS["aws"](), extra_config={"aws:region": "eu-central-1"})
    (container,) = [
        r for r in run.registrations if r.type == "docker:index/container:Container" and r.name == "mmr-dev"
    ]
    assert any(m.get("target") == "/tmp" and m.get("type") == "volume" for m in container.inputs["mounts"])


def test_an_empty_temp_path_is_refused_and_a_small_scratch_warns() -> None:
    with pytest.raises(Exception, match=r"s3.tempPath is empty, which makes MMR hold every upload whole in RAM"):
        load_stack_config(variant(s3={"provider": "aws", "tempPath": ""}))
    stack = load_stack_config(variant(kubernetes={"tempSize": "1Gi"}))
    assert any("kubernetes.tempSize is 1Gi" in warning and "2Gi" in warning for warning in advisory_warnings(stack))


def test_go_memory_limit_follows_the_container_limit() -> None:
    for _, template in media_repo_pods(run_variant("done-when"), IMAGE):
        for container in template["spec"]["containers"]:
            limit = container["resources"]["limits"]["memory"]
            assert env_of(container, "GOMEMLIMIT") == {"name": "GOMEMLIMIT", "value": go_memory_limit(limit)}
    assert go_memory_limit("2Gi") == str(2 * 2**30 * 9 // 10)


def _selects(selector: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    return all(pod_labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _policies(run: Any, policy_type: str) -> list[dict[str, Any]]:
    return [p for p in of_kind(run, "NetworkPolicy") if policy_type in p["spec"]["policyTypes"]]


def _admitted(run: Any, to_labels: dict[str, str], from_labels: dict[str, str]) -> bool:
    """Whether some ingress policy for the target pods admits a pod of the same namespace with ``from_labels``."""
    for policy in _policies(run, "Ingress"):
        if _selects(policy["spec"]["podSelector"], to_labels):
            for rule in policy["spec"]["ingress"]:
                if any("podSelector" in peer and _selects(peer["podSelector"], from_labels) for peer in rule["from"]):
                    return True
    return False


def test_the_import_job_reaches_redis_and_postgres() -> None:
    run = run_config(variant(database={"provider": "container"}, **{"import": VARIANTS["autoscaled-import"]["import"]}))
    (job,) = [w for w, _ in pod_templates(run) if w["metadata"]["name"] == "mmr-prod-import"]
    importer = job["spec"]["template"]["metadata"]["labels"]
    redis = one(run, "StatefulSet", "mmr-prod-redis")["spec"]["template"]["metadata"]["labels"]
    postgres = one(run, "StatefulSet", "mmr-prod-postgres")["spec"]["template"]["metadata"]["labels"]
    assert _admitted(run, redis, importer) and _admitted(run, postgres, importer)
    for _, template in media_repo_pods(run, IMAGE):
        assert _admitted(run, redis, template["metadata"]["labels"])


def _egress_allows(run: Any, pod_labels: dict[str, str], address: str, port: int) -> bool:
    ip = ipaddress.ip_address(address)
    for policy in _policies(run, "Egress"):
        if not _selects(policy["spec"]["podSelector"], pod_labels):
            continue
        for rule in policy["spec"]["egress"]:
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get("to")
            if peers is None:
                return True
            for peer in peers:
                block = peer.get("ipBlock")
                if block and ip.version == ipaddress.ip_network(block["cidr"]).version:
                    inside = ip in ipaddress.ip_network(block["cidr"])
                    excepted = any(
                        ip in ipaddress.ip_network(c)
                        for c in block.get("except", [])
                        if ipaddress.ip_network(c).version == ip.version
                    )
                    if inside and not excepted:
                        return True
    return False


@pytest.mark.parametrize("name", ["done-when", "fenced", "autoscaled-import"])
def test_egress_never_reaches_the_metadata_service_nor_closed_private_ranges(name: str) -> None:
    run = run_variant(name)
    workloads = list(media_repo_pods(run, IMAGE))
    assert workloads
    for _, template in workloads:
        pod = template["metadata"]["labels"]
        for metadata in METADATA_CIDRS:
            address = str(ipaddress.ip_network(metadata).network_address)
            assert not any(_egress_allows(run, pod, address, port) for port in (80, 443, 8080))
        assert _egress_allows(run, pod, "203.0.113.7", 443)  # the internet: remote media, URL previews
        assert _egress_allows(run, pod, "2001:db8::7", 443)
        assert _egress_allows(run, pod, "10.96.0.10", 53)  # the cluster's resolver
        assert not _egress_allows(run, pod, "10.96.0.1", 443)  # the API server, other Services
        assert _egress_allows(run, pod, "10.20.1.5", 5432) is (name == "fenced")


def test_the_metadata_service_stays_closed_when_no_range_is_private() -> None:
    run = run_config(variant(kubernetes={"networkPolicy": {"privateCidrs": []}}))
    for _, template in media_repo_pods(run, IMAGE):
        pod = template["metadata"]["labels"]
        assert _egress_allows(run, pod, "10.96.0.1", 443)  # opened on purpose
        for metadata in METADATA_CIDRS:
            assert not _egress_allows(run, pod, str(ipaddress.ip_network(metadata).network_address), 80)


def test_egress_and_ingress_follow_the_configured_sources() -> None:
    run = run_variant("fenced")
    (ingress,) = [p for p in _policies(run, "Ingress") if p["metadata"]["name"] == "mmr-prod-media-repo-ingress"]
    peers = ingress["spec"]["ingress"][0]["from"]
    assert {"ipBlock": {"cidr": "192.168.10.0/24"}} in peers
    names = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers if "namespaceSelector" in p
    ]
    assert names == ["traefik", "ingress-nginx"]
    (egress,) = [p for p in _policies(run, "Egress") if p["metadata"]["name"] == "mmr-prod-media-repo-egress"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "matrix"}}} in [
        peer for rule in egress["spec"]["egress"] for peer in rule.get("to", [])
    ]


def test_an_egress_range_over_the_metadata_service_is_refused() -> None:
    with pytest.raises(Exception, match=r"egressCidrs\[0\] '169.254.0.0/16' takes in the cloud metadata service"):
        load_stack_config(variant(kubernetes={"networkPolicy": {"egressCidrs": ["169.254.0.0/16"]}}))


def test_destinations_the_egress_policy_closes_are_warned_about() -> None:
    stack = load_stack_config(
        variant(
            homeservers=[{"name": "example.org", "csApi": "http://synapse.matrix.svc:8008"}],
            database={"provider": "external", "dsn": "postgres://u:p@10.0.0.5:5432/m?sslmode=require"},
        )
    )
    warnings = advisory_warnings(stack)
    assert any("homeservers[0].csApi" in w and "egressNamespaces[0]" in w for w in warnings)
    assert any("database.dsn is at 10.0.0.5" in w and "egressCidrs[0]' 10.0.0.5/32" in w for w in warnings)


def test_the_example_routes_the_client_server_host_without_a_second_certificate() -> None:
    from pathlib import Path

    example = yaml.safe_load((Path(__file__).resolve().parent.parent / "examples/Pulumi.kubernetes.yaml").read_text())
    (homeserver,) = example["config"]["matrix-media-repo:homeservers"]
    assert homeserver["publicHost"] == homeserver["csApi"].split("//")[1].split("/")[0]
    assert "clusterIssuer" not in example["config"]["matrix-media-repo:kubernetes"]["ingress"]
    run = run_config(variant(kubernetes={"ingress": {"className": "nginx"}}))
    for ingress in of_kind(run, "Ingress"):
        assert "tls" not in ingress["spec"]
        assert "cert-manager.io/cluster-issuer" not in ingress["metadata"]["annotations"]
    # With cert-manager asked, one Secret per host. Sorted: the Ingresses register concurrently, in no set order.
    secrets = sorted(i["spec"]["tls"][0]["secretName"] for i in of_kind(run_variant("done-when"), "Ingress"))
    assert secrets == ["mmr-prod-example-com-tls", "mmr-prod-matrix-example-org-tls"]


def test_redis_is_sized_and_protected() -> None:
    run = run_variant("done-when")
    shards = one(run, "StatefulSet", "mmr-prod-redis")
    (container,) = shards["spec"]["template"]["spec"]["containers"]
    assert container["args"][container["args"].index("--maxmemory") + 1] == "1gb"
    assert container["resources"]["limits"]["memory"] == "1536Mi"
    assert container["readinessProbe"]["timeoutSeconds"] >= 3 and container["livenessProbe"]["timeoutSeconds"] >= 3
    (budget,) = [b for b in of_kind(run, "PodDisruptionBudget") if b["metadata"]["name"] == "mmr-prod-redis"]
    assert budget["spec"] == {"selector": budget["spec"]["selector"], "maxUnavailable": 1}
    assert _selects(budget["spec"]["selector"], shards["spec"]["template"]["metadata"]["labels"])


def test_three_redis_shards_by_default_each_in_mmrs_config_and_its_readiness() -> None:
    """One Redis lost fails every download (upstream #350); MMR's upload locks need a majority of shards."""
    run = run_variant("done-when")
    shards = one(run, "StatefulSet", "mmr-prod-redis")
    assert shards["spec"]["replicas"] == 3 and shards["spec"]["podManagementPolicy"] == "Parallel"
    (spread,) = shards["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["whenUnsatisfiable"] == "ScheduleAnyway"
    service = one(run, "Service", "mmr-prod-redis-shards")
    assert service["spec"]["clusterIP"] == "None" and shards["spec"]["serviceName"] == "mmr-prod-redis-shards"
    addresses = [f"mmr-prod-redis-{i}.mmr-prod-redis-shards:6379" for i in range(3)]
    settings = settings_yaml(run)
    assert settings["redis"]["shards"] == [{"name": f"redis-{i}", "addr": a} for i, a in enumerate(addresses)]
    for _, template in media_repo_pods(run, IMAGE):
        (container,) = template["spec"]["containers"]
        if "readinessProbe" in container:
            script = container["readinessProbe"]["exec"]["command"][-1]
            assert all(address in script for address in addresses) and "-lt 2 ]" in script


def test_one_redis_shard_when_asked_keeps_its_name_and_a_budget_that_never_drains_it() -> None:
    run = run_config(variant(kubernetes={"redisShards": 1}))
    assert one(run, "StatefulSet", "mmr-prod-redis")["spec"]["replicas"] == 1
    (budget,) = [b for b in of_kind(run, "PodDisruptionBudget") if b["metadata"]["name"] == "mmr-prod-redis"]
    assert budget["spec"]["minAvailable"] == 1
    settings = settings_yaml(run)
    assert settings["redis"]["shards"] == [{"name": "redis", "addr": "mmr-prod-redis-0.mmr-prod-redis-shards:6379"}]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_mmr_pod_drains_before_it_stops_and_spreads(name: str) -> None:
    run = run_variant(name)
    drain = VARIANTS[name]["kubernetes"].get("drainSeconds", 30)
    for workload, template in media_repo_pods(run, IMAGE):
        if workload["kind"] == "Job":
            continue
        spec = template["spec"]
        (container,) = spec["containers"]
        assert container["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", str(drain)]}}
        # The pause, then MMR's own 5 s shutdown (api/webserver.go), inside the grace period.
        assert spec["terminationGracePeriodSeconds"] >= drain + 5 + 5
        keys = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
        assert set(keys) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in keys.values():
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
            assert _selects(constraint["labelSelector"], template["metadata"]["labels"])


def test_a_changed_postgres_major_stops_the_preview_with_the_kubernetes_steps() -> None:
    config = variant(database={"provider": "container", "postgresVersion": "17"})
    recorded_16 = {"mmr-prod-postgres-data": {"metadata": {"annotations": {POSTGRES_MAJOR_ANNOTATION: "16"}}}}
    with pytest.raises(pulumi.RunError) as caught:
        run_program(
            config, extra_config={"aws:region": "eu-central-1"}, stack="prod", overrides=recorded_16, preview=True
        )
    message = str(caught.value)
    assert "asks for Postgres 17, but PVC mmr-prod-postgres-data holds data written by Postgres 16" in message
    assert "kubectl --namespace matrix-media-repo exec mmr-prod-postgres-0 -- pg_dump" in message
    assert "--single-transaction" in message and "database.postgresVersion 16" in message
    # The same major, and a PVC from before the annotation, go ahead.
    same = {"mmr-prod-postgres-data": {"metadata": {"annotations": {POSTGRES_MAJOR_ANNOTATION: "17"}}}}
    run = run_program(config, extra_config={"aws:region": "eu-central-1"}, stack="prod", overrides=same, preview=True)
    claim = next(r for r in run.registrations if r.name == "mmr-prod-postgres-data")
    assert claim.inputs["metadata"]["annotations"][POSTGRES_MAJOR_ANNOTATION] == "17"
    assert f'metadata.annotations["{POSTGRES_MAJOR_ANNOTATION}"]' in claim.ignore_changes


def test_a_statefulset_is_never_registered_against_another_majors_data() -> None:
    config = variant(database={"provider": "container", "postgresVersion": "17"})
    recorded_16 = {"mmr-prod-postgres-data": {"metadata": {"annotations": {POSTGRES_MAJOR_ANNOTATION: "16"}}}}
    from tests import pulumi_harness

    seen: list[str] = []

    class Recording(pulumi_harness.RecordingMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
            seen.append(f"{request.type}::{request.name}")
            return super().RegisterResource(request)

    with pytest.raises(pulumi.RunError):
        run_program(
            config,
            extra_config={"aws:region": "eu-central-1"},
            stack="prod",
            overrides=recorded_16,
            monitor_factory=Recording,
        )
    assert "kubernetes:core/v1:PersistentVolumeClaim::mmr-prod-postgres-data" in seen
    assert "kubernetes:apps/v1:StatefulSet::mmr-prod-postgres" not in seen
