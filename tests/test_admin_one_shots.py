"""The smoke test and the file-to-S3 transfer as declared (under mocks): their keys, refusals, Jobs and fences."""

from __future__ import annotations

import re
from typing import Any

import pytest

from config_schema import StackConfigError, load_stack_config
from tests.kubernetes_stacks import ALL_KINDS, BASE, kubernetes_objects, of_kind, one, run_variant, variant
from tests.pulumi_harness import is_secret_marker, run_program
from tests.variants import VARIANTS

JOB = "kubernetes:batch/v1:Job"
CONTAINER = "docker:index/container:Container"


def test_the_smoke_test_is_on_by_default_and_turns_on_the_shared_secret() -> None:
    stack = load_stack_config(VARIANTS["dev"]())
    assert stack.smoke_test.enabled and stack.uses_shared_secret and not stack.shared_secret_auth.enabled
    off = load_stack_config({**VARIANTS["dev"](), "smokeTest": {"enabled": False}})
    assert not off.uses_shared_secret
    run = run_program({**VARIANTS["dev"](), "smokeTest": {"enabled": False}})
    assert "mmr-dev-smoke" not in [c.name for c in run.of_type(CONTAINER)]
    assert "smokeTest" not in run.outputs and "sharedSecretToken" not in run.outputs


def test_the_docker_smoke_container_reruns_with_mmrs_container() -> None:
    run = run_program(VARIANTS["dev"]())
    smoke = run.one(CONTAINER, "mmr-dev-smoke")
    assert smoke.inputs["command"] == [
        "/run/mmr-admin/mmr-admin.sh",
        "smoke",
        "/run/mmr-admin-token/token",
        "mmr-dev",
        "8000",
        VARIANTS["dev"]()["homeservers"][0]["name"],
    ]
    assert smoke.inputs["entrypoints"] == ["/bin/sh"]
    assert {n["name"] for n in smoke.inputs["networksAdvanced"]} == {"mmr-dev-private"}
    assert "ports" not in smoke.inputs and smoke.inputs["attach"] and not smoke.inputs["mustRun"]
    labels = {item["label"]: item["value"] for item in smoke.inputs["labels"]}
    # MMR's container id and the config's version: a new MMR container, or a config MMR took live (a key
    # included), is a new smoke test, run once MMR serves it.
    assert list(labels) == ["org.matrix-media-repo.tested-container", "org.matrix-media-repo.tested-config"]
    assert run.one(CONTAINER, "mmr-dev-config-applied").urn in smoke.dependencies
    assert smoke.delete_before_replace
    assert run.one(CONTAINER, "mmr-dev").urn in smoke.dependencies
    (token,) = [u for u in smoke.raw_inputs["uploads"] if u["file"] == "/run/mmr-admin-token/token"]
    assert is_secret_marker(token["content"])


def test_the_docker_transfer_runs_once_after_the_smoke_test() -> None:
    run = run_program(VARIANTS["file-to-s3"]())
    transfer = run.one(CONTAINER, "mmr-dev-transfer")
    assert transfer.inputs["command"][1:] == [
        "transfer",
        "/run/mmr-admin-token/token",
        "mmr-dev",
        "8000",
        "example.org",
        "file",
        "s3",
    ]
    assert run.one(CONTAINER, "mmr-dev-smoke").urn in transfer.dependencies
    # Past the provider's 20 minutes for a create, which bounds its wait for the exit.
    assert transfer.custom_timeouts["create"] == f"{24 * 3600}s"
    assert sorted(transfer.ignore_changes) == sorted(
        ["image", "labels", "uploads", "networksAdvanced", "memory", "memorySwap", "logOpts"]
    )
    config = run.outputs["mediaRepoConfig"]
    assert "forKinds: []" in config
    assert run.outputs["mediaTransfer"]["rerunCommand"].startswith("pulumi up --replace 'urn:pulumi:dev::")


@pytest.mark.parametrize(
    ("datastores", "s3", "key", "problem"),
    [
        (
            {"file": {"transferTo": "s3", "forKinds": ["local_media"]}, "s3": {"forKinds": ALL_KINDS}},
            {"provider": "aws"},
            "datastores.file.forKinds",
            "which datastores.file.transferTo is emptying",
        ),
        (
            {"file": {"transferTo": "s3"}, "s3": {"forKinds": []}},
            {"provider": "aws"},
            "datastores.s3.forKinds",
            r"takes no kinds \(it is read-only\)",
        ),
        (
            {"file": {"transferTo": "s3"}, "s3": {"forKinds": ["local_media"]}},
            {"provider": "aws"},
            "datastores.s3.forKinds",
            "does not take thumbnails, remote_media, archives",
        ),
        ({"file": {"transferTo": "s3"}, "s3": {"forKinds": ALL_KINDS}}, {}, "s3.provider", "is not set"),
        ({"file": {"transferTo": "bucket"}}, {"provider": "aws"}, "datastores.file.transferTo", "'s3'"),
    ],
)
def test_a_transfer_that_cannot_work_is_refused(
    datastores: dict[str, Any], s3: dict[str, Any], key: str, problem: str
) -> None:
    config = {"homeservers": [{"name": "example.org", "csApi": "https://matrix.example.org"}], "datastores": datastores}
    if s3:
        config["s3"] = {**s3, "bucketName": "example-media"}
    with pytest.raises(StackConfigError, match=rf"matrix-media-repo:{key}.*{problem}") as refusal:
        load_stack_config(config)
    assert "\n" not in str(refusal.value)


def test_the_refusal_for_missing_kinds_gives_commands_that_fix_it() -> None:
    config = {**VARIANTS["file-to-s3"](), "datastores": {"file": {"transferTo": "s3"}, "s3": {"forKinds": []}}}
    with pytest.raises(StackConfigError) as refusal:
        load_stack_config(config)
    fix = str(refusal.value).split("Fix: ")[1]
    assert fix.startswith("pulumi config set --path 'datastores.s3.forKinds[0]' thumbnails && ")
    assert fix.endswith("pulumi config set --path 'datastores.s3.forKinds[3]' archives")


def test_the_kubernetes_smoke_job_follows_the_config_and_reports_mmrs_answer() -> None:
    run = run_variant("done-when")
    job = one(run, "Job", "mmr-prod-smoke")
    template = job["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert container["command"] == [
        "/bin/sh",
        "/run/mmr-admin/mmr-admin.sh",
        "smoke",
        "/run/mmr-admin-token/token",
        "mmr-prod",
        "8000",
        "example.org",
        "example.com",
    ]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert "env" not in container and job["spec"]["backoffLimit"] == 0
    # The config's ConfigMap and Secret by name: a new config replaces them, and so this Job.
    (annotation,) = template["metadata"]["annotations"].values()
    # Auto-named: the mocks give each a suffix, as the provider does.
    assert re.fullmatch(r"mmr-prod-settings-[0-9a-f]+/mmr-prod-secrets-[0-9a-f]+", annotation)
    registration = next(r for r in kubernetes_objects(run) if r.type == JOB and r.name == "mmr-prod-smoke")
    assert registration.delete_before_replace
    # MMR's StatefulSets (Redis's shards are one too: MMR waits for them, and the Job for MMR).
    statefulsets = {
        r.urn
        for r in kubernetes_objects(run)
        if r.type == "kubernetes:apps/v1:StatefulSet" and r.name != "mmr-prod-redis"
    }
    assert statefulsets <= set(registration.dependencies)
    secret_volume = next(v for v in template["spec"]["volumes"] if v["name"] == "token")
    token_secret = next(r for r in kubernetes_objects(run) if r.name == "mmr-prod-admin-token")
    string_data = token_secret.raw_inputs["stringData"]
    assert is_secret_marker(string_data) or is_secret_marker(string_data["token"])
    assert secret_volume["secret"]["defaultMode"] == 0o440


def test_mmrs_policy_admits_the_admin_jobs_and_theirs_holds_them() -> None:
    run = run_variant("fenced")
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(run, "NetworkPolicy")}
    admin = {"app.kubernetes.io/instance": "mmr-prod", "matrix-media-repo.org/admin-client": "true"}
    assert {"podSelector": {"matchLabels": admin}} in policies["mmr-prod-media-repo-ingress"]["ingress"][0]["from"]
    egress = policies["mmr-prod-admin-egress"]
    assert egress["podSelector"] == {"matchLabels": admin}
    destinations = [rule.get("to") for rule in egress["egress"]]
    # DNS anywhere, then MMR's pods on 8000 and nothing else.
    assert destinations[0] is None and len(destinations) == 2
    assert egress["egress"][1]["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_the_kubernetes_transfer_keeps_the_volume_and_runs_once() -> None:
    run = run_variant("file-to-s3")
    job = one(run, "Job", "mmr-prod-transfer")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][2:] == [
        "transfer",
        "/run/mmr-admin-token/token",
        "mmr-prod",
        "8000",
        "example.org",
        "file",
        "s3",
    ]
    registration = next(r for r in kubernetes_objects(run) if r.type == JOB and r.name == "mmr-prod-transfer")
    assert registration.ignore_changes == ["spec"]
    assert registration.custom_timeouts["create"] == f"{24 * 3600 + 60}s"
    smoke = next(r for r in kubernetes_objects(run) if r.type == JOB and r.name == "mmr-prod-smoke")
    assert smoke.urn in registration.dependencies
    # Every process still reads the volume: it stays mounted.
    claims = [c["metadata"]["name"] for c in of_kind(run, "PersistentVolumeClaim")]
    assert claims and all(
        {"name": "media", "persistentVolumeClaim": {"claimName": claims[0]}}
        in sts["spec"]["template"]["spec"]["volumes"]
        for sts in of_kind(run, "StatefulSet")
        if sts["metadata"]["name"].startswith("mmr-prod-") and sts["metadata"]["name"] != "mmr-prod-redis"
    )


def test_a_transfer_on_a_read_write_once_volume_with_several_processes_is_refused() -> None:
    config = variant(datastores={"file": {"transferTo": "s3"}, "s3": {"forKinds": ALL_KINDS}})
    with pytest.raises(
        StackConfigError, match=r"read the file datastore while datastores\.file\.transferTo empties it"
    ):
        load_stack_config(config)
    assert BASE["kubernetes"]["replicas"] == 3
