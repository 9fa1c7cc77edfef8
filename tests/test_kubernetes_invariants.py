"""What a Kubernetes stack must never get wrong, each checked on the objects the program registers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config_schema import DEFAULT_IMAGE, StackConfigError, load_stack_config
from config_schema.kubernetes import MACHINE_ID_LABEL, MAX_MACHINE_ID
from tests.host_tools import find_tool, in_ci
from tests.kubernetes_stacks import (
    BASE,
    EXTERNAL_DSN,
    VARIANTS,
    env_of,
    kubernetes_objects,
    manifest,
    media_repo_pods,
    of_kind,
    one,
    run_config,
    run_variant,
    settings_yaml,
    variant,
)
from tests.pulumi_harness import MOCK_SECRETS, plain_text_leaks

MIGRATION_SECONDS = 600
ALL_VARIANTS = sorted(VARIANTS)


def _go_duration_seconds(value: str) -> int:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(number) * units[unit] for number, unit in re.findall(r"(\d+)([hms])", value))


def machine_id_plan(run: Any) -> list[tuple[str, list[int]]]:
    """(workload, the machine ids its processes can take at its largest), read from the registered objects."""
    autoscalers = {hpa["spec"]["scaleTargetRef"]["name"]: hpa for hpa in of_kind(run, "HorizontalPodAutoscaler")}
    plan = []
    for workload, template in media_repo_pods(run, DEFAULT_IMAGE):
        name = workload["metadata"]["name"]
        (container,) = template["spec"]["containers"]
        machine_id = env_of(container, "MACHINE_ID")
        assert machine_id is not None, f"{name} runs MMR without MACHINE_ID, which MMR then reads as 0"
        if "value" in machine_id:
            # Numbers come through the engine's protobuf Struct as floats.
            count = int(workload["spec"].get("replicas", 1)) if workload["kind"] == "StatefulSet" else 1
            ids = [int(machine_id["value"])] * count
        else:
            assert machine_id["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{MACHINE_ID_LABEL}']"
            start = int(workload["spec"].get("ordinals", {}).get("start", 0))
            hpa = autoscalers.get(name)
            largest = int(hpa["spec"]["maxReplicas"] if hpa else workload["spec"]["replicas"])
            ids = list(range(start, start + largest))
        plan.append((name, ids))
    return plan


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_exactly_one_process_is_machine_zero(variant_name: str) -> None:
    plan = machine_id_plan(run_variant(variant_name))
    zeros = [name for name, ids in plan for machine_id in ids if machine_id == 0]
    assert zeros == ["mmr-prod-primary"]


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_machine_ids_are_in_range_and_unique_at_maximum_scale(variant_name: str) -> None:
    run = run_variant(variant_name)
    every_id = [machine_id for _, ids in machine_id_plan(run) for machine_id in ids]
    assert all(0 <= machine_id <= MAX_MACHINE_ID for machine_id in every_id)
    assert len(every_id) == len(set(every_id)), every_id
    assert run.outputs["machineIds"]["primary"] == 0


def test_the_importer_takes_an_id_above_the_autoscaled_workers() -> None:
    plan = dict(machine_id_plan(run_variant("autoscaled-import")))
    (importer,) = [ids for name, ids in plan.items() if name not in ("mmr-prod-primary", "mmr-prod-workers")]
    assert importer == [MAX_MACHINE_ID]
    assert plan["mmr-prod-workers"] == list(range(1, 12))


def _shells() -> list[list[str]]:
    """Debian's sh, and busybox's ash, the shell of MMR's alpine image (busybox-static, which tests/run installs)."""
    busybox = find_tool("busybox")
    if busybox is None and in_ci():
        pytest.fail("busybox is missing: tests/run installs busybox-static")
    return [["sh"], *([[str(busybox), "sh"]] if busybox else [])]


@pytest.mark.parametrize("shell", _shells(), ids=lambda shell: Path(shell[0]).name)
def test_a_worker_without_a_numeric_machine_id_refuses_to_start(shell: list[str]) -> None:
    """The wrapper, run by a real shell: a missing label must never become a second machine 0."""
    workers = one(run_variant("done-when"), "StatefulSet", "mmr-prod-workers")
    (container,) = workers["spec"]["template"]["spec"]["containers"]
    program, flag, script = container["command"]
    assert (program, flag) == ("/bin/sh", "-c") and script.endswith("exec media_repo")
    probe = script.replace("exec media_repo", "echo started")
    for machine_id, started in [
        ("", False),
        ("abc", False),
        ("1a", False),
        ("-1", False),
        ("1024", False),
        ("7", True),
    ]:
        result = subprocess.run([*shell, "-c", probe], env={"MACHINE_ID": machine_id}, capture_output=True, text=True)
        assert (result.stdout.strip() == "started") is started, (machine_id, result)
        assert (result.returncode == 0) is started
    unset = subprocess.run([*shell, "-c", probe], env={}, capture_output=True, text=True)
    assert unset.returncode == 64 and "refusing to start as machine 0" in unset.stderr


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_redis_is_configured_whenever_more_than_one_process_runs(variant_name: str) -> None:
    run = run_variant(variant_name)
    processes = sum(len(ids) for name, ids in machine_id_plan(run) if name.endswith(("-primary", "-workers")))
    redis = settings_yaml(run).get("redis")
    if processes == 1:
        return
    assert redis and redis["enabled"] is True and redis["shards"]
    services = {service["metadata"].get("name") for service in of_kind(run, "Service")}
    for shard in redis["shards"]:
        host, port = shard["addr"].rsplit(":", 1)
        assert host in services or "." in host, f"{shard['addr']} is no Service of this stack"
        assert port.isdigit()


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_no_file_datastore_sits_on_a_read_write_once_volume_with_more_than_one_process(variant_name: str) -> None:
    run = run_variant(variant_name)
    processes = sum(len(ids) for name, ids in machine_id_plan(run) if name.endswith(("-primary", "-workers")))
    config_secret = next(m for m in of_kind(run, "Secret") if "10-secrets.yaml" in m["stringData"])
    secrets = yaml.safe_load(config_secret["stringData"]["10-secrets.yaml"])
    file_kinds = [kind for store in secrets["datastores"] if store["type"] == "file" for kind in store["forKinds"]]
    claims = {claim["metadata"]["name"]: claim for claim in of_kind(run, "PersistentVolumeClaim")}
    for _, template in media_repo_pods(run, DEFAULT_IMAGE):
        (media,) = [v for v in template["spec"]["volumes"] if v["name"] == "media"]
        if not file_kinds:
            continue
        claim = claims[media["persistentVolumeClaim"]["claimName"]]
        if processes > 1:
            assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_a_file_datastore_on_read_write_once_with_several_processes_is_refused() -> None:
    with pytest.raises(StackConfigError, match=r"kubernetes\.mediaVolume\.accessMode is ReadWriteOnce"):
        load_stack_config(variant(s3=None, datastores=None))


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_no_config_mount_uses_sub_path(variant_name: str) -> None:
    for workload, template in media_repo_pods(run_variant(variant_name), DEFAULT_IMAGE):
        for container in template["spec"]["containers"]:
            assert all("subPath" not in mount for mount in container["volumeMounts"]), workload["metadata"]
            (config,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/config"]
            (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == config["name"]]
            kinds = [next(iter(source)) for source in volume["projected"]["sources"]]
            assert kinds == ["configMap", "secret"]
            assert env_of(container, "REPO_CONFIG") == {"name": "REPO_CONFIG", "value": "/config/media-repo.d"}


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_the_startup_probe_allows_migrations_and_pulumi_waits_longer(variant_name: str) -> None:
    run = run_variant(variant_name)
    registrations = {(manifest(r)["kind"], manifest(r)["metadata"]["name"]): r for r in kubernetes_objects(run)}
    for workload, template in media_repo_pods(run, DEFAULT_IMAGE):
        if workload["kind"] != "StatefulSet":
            continue
        (container,) = template["spec"]["containers"]
        startup = container["startupProbe"]
        allowed = startup.get("initialDelaySeconds", 0) + startup["periodSeconds"] * startup["failureThreshold"]
        assert allowed >= MIGRATION_SECONDS
        assert startup["httpGet"]["path"] == "/healthz"
        timeouts = registrations["StatefulSet", workload["metadata"]["name"]].custom_timeouts
        assert _go_duration_seconds(timeouts["create"]) > allowed
        assert _go_duration_seconds(timeouts["update"]) > allowed


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_no_secret_in_a_config_map_env_value_annotation_or_plain_output(variant_name: str) -> None:
    run = run_variant(variant_name)
    secrets = [*MOCK_SECRETS, EXTERNAL_DSN, "ext%3Asecret", "synapse:pass@word", "do-spaces-secret"]
    assert plain_text_leaks(run, secrets) == []
    for registration in kubernetes_objects(run):
        document = manifest(registration)
        texts = []
        if document["kind"] == "ConfigMap":
            texts += list(document["data"].values())
        texts += list((document["metadata"].get("annotations") or {}).values())
        for _, template in [(None, document["spec"]["template"])] if "template" in document.get("spec", {}) else []:
            texts += list((template.get("metadata", {}).get("annotations") or {}).values())
            for container in template["spec"]["containers"]:
                texts += [item.get("value", "") for item in container.get("env", [])]
                texts += container.get("command", []) + container.get("args", [])
        for text in texts:
            assert "postgres://" not in text, (registration.name, text)
            for secret in secrets:
                assert secret not in text, (registration.name, secret)
    for key in ("databaseDsn", "mediaRepoConfig", "s3SecretAccessKey", "sharedSecretToken"):
        if key in run.outputs:
            assert key in run.secret_outputs


@pytest.mark.parametrize("variant_name", ALL_VARIANTS)
def test_stateful_objects_are_protected_and_retained(variant_name: str) -> None:
    run = run_variant(variant_name)
    stateful = [
        r
        for r in run.registrations
        if r.type in ("kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:core/v1:Namespace")
        or (r.type == "random:index/randomPassword:RandomPassword" and r.name.endswith("-password"))
    ]
    for registration in stateful:
        assert registration.protect and registration.retain_on_delete, registration.name
    if VARIANTS[variant_name].get("database", {}).get("provider") == "container":
        assert any(r.type.endswith("PersistentVolumeClaim") and "postgres" in r.name for r in stateful)


def test_a_config_only_change_replaces_no_stateful_resource() -> None:
    def stateful(run: Any) -> dict[str, dict[str, Any]]:
        kinds = ("PersistentVolumeClaim", "Namespace", "RandomPassword", "DatabaseCluster", "Bucket", "SpacesBucket")
        return {r.urn: r.inputs for r in run.registrations if r.type.rsplit(":", 1)[-1] in kinds}

    base = variant(database={"provider": "container"}, s3=None, datastores=None, kubernetes={"replicas": 1})
    changed = variant(
        database={"provider": "container", "maxConnections": 40},
        s3=None,
        datastores=None,
        kubernetes={"replicas": 1, "resources": {"memoryLimit": "3Gi"}, "tempSize": "8Gi"},
        uploads={"maxBytes": 209715200},
        redis={"enabled": True},
        admins=["@ops:example.org"],
    )
    before, after = stateful(run_config(base)), stateful(run_config(changed))
    assert len(before) >= 4
    assert before == after


def test_the_workers_depend_on_the_primary() -> None:
    run = run_variant("done-when")
    by_name = {r.name: r for r in run.registrations}
    assert by_name["mmr-prod-primary"].urn in by_name["mmr-prod-workers"].dependencies
    primary = one(run, "StatefulSet", "mmr-prod-primary")
    assert primary["spec"]["replicas"] == 1
    assert env_of(primary["spec"]["template"]["spec"]["containers"][0], "MACHINE_ID") == {
        "name": "MACHINE_ID",
        "value": "0",
    }


def test_the_done_when_stack_registers_what_the_issue_lists() -> None:
    run = run_variant("done-when")
    kinds = sorted({manifest(r)["kind"] for r in kubernetes_objects(run)})
    assert kinds == [
        "ConfigMap",
        "Ingress",
        # The smoke test's.
        "Job",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "StatefulSet",
    ]
    workers = one(run, "StatefulSet", "mmr-prod-workers")
    assert workers["spec"]["replicas"] == 2 and workers["spec"]["ordinals"] == {"start": 1}
    assert run.outputs["ingressHosts"] == ["matrix.example.org", "example.com"]
    assert run.outputs["namespace"] == "matrix-media-repo"
    assert run.outputs["service"] == "mmr-prod"
    assert BASE["kubernetes"]["replicas"] == 3


def test_a_warning_when_every_process_with_a_full_pool_exceeds_the_database() -> None:
    in_cluster = variant(database={"provider": "container"}, kubernetes={"replicas": 5})
    (warning,) = [w for w in run_config(in_cluster).warnings if "maxConnections" in w]
    assert "5 MMR processes may open 125 connections, but the database allows 97" in warning
    assert warning.endswith("Fix: pulumi config set --path 'database.maxConnections' 19")
    fitting = variant(database={"provider": "container", "maxConnections": 19}, kubernetes={"replicas": 5})
    assert not [w for w in run_config(fitting).warnings if "maxConnections" in w]
    # The autoscaler's maximum counts, and the importer holds a pool of its own.
    autoscaled = run_variant("autoscaled-import")
    assert not [w for w in autoscaled.warnings if "maxConnections" in w]  # an external server: limit unknown
