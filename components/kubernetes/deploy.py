"""Everything a Kubernetes stack runs, built from a validated stack config; returns the stack's outputs."""

from __future__ import annotations

from typing import Any

import pulumi

from components.kubernetes.admin_job import AdminFiles
from components.kubernetes.ingress import MediaIngress
from components.kubernetes.media_import import KubernetesMediaImport, kubernetes_import_command
from components.kubernetes.media_repo import KubernetesMediaRepo
from components.kubernetes.media_storage import KubernetesMediaStorage
from components.kubernetes.media_transfer import KubernetesMediaTransfer
from components.kubernetes.namespace import KubernetesNamespace
from components.kubernetes.network_policies import mmr_processes
from components.kubernetes.postgres import KubernetesDatabasePlatform
from components.kubernetes.postgres_backup import KubernetesPostgresBackup
from components.kubernetes.redis_cache import KubernetesRedis
from components.kubernetes.smoke_test import KubernetesSmokeTest
from components.shared.media_bucket import MediaBucket
from components.shared.media_database import MediaDatabase
from components.shared.outputs import shared_outputs
from components.shared.signing_keys import SigningKeys
from config_schema import StackConfig
from config_schema.kubernetes import machine_ids


def deploy_on_kubernetes(name: str, stack: StackConfig) -> dict[str, Any]:
    stack = stack.with_platform_defaults()
    settings = stack.kubernetes
    namespace = KubernetesNamespace(name, settings).name
    database = MediaDatabase(name, stack.database, platform=KubernetesDatabasePlatform(namespace, settings))
    bucket = MediaBucket(name, stack.s3, backup_upload=stack.backup.s3) if stack.uses_s3 else None
    restore_command = None
    if stack.backs_up_database:
        restore_command = KubernetesPostgresBackup(
            name,
            stack.backup,
            settings,
            namespace=namespace,
            database=database,
            s3_upload=bucket.backup_upload if bucket else None,
        ).restore_command
    storage = (
        KubernetesMediaStorage(name, stack.datastores.file, settings.media_volume, namespace=namespace)
        if stack.datastores.file_volume_in_use
        else None
    )
    redis = (
        KubernetesRedis(
            name,
            stack.redis,
            settings,
            namespace=namespace,
            clients=mmr_processes(name),
        )
        if stack.redis.enabled and not stack.redis.shards
        else None
    )
    signing_keys = SigningKeys(name, stack)
    media_repo = KubernetesMediaRepo(
        name,
        stack,
        namespace=namespace,
        database_dsn=database.dsn,
        media_claim=storage.claim_name if storage else None,
        s3=bucket.connection if bucket else None,
        redis_addresses=redis.addresses if redis else (),
        signing_keys=signing_keys.pems,
        depends_on=[*database.ready, *([redis.statefulset] if redis else [])],
    )
    ids = machine_ids(stack.kubernetes, stack.media_import)
    if stack.media_import and ids.importer is not None:
        KubernetesMediaImport(
            name,
            stack,
            machine_id=ids.importer,
            namespace=namespace,
            config_volume=media_repo.config_volume,
            media_claim=storage.claim_name if storage else None,
            depends_on=[media_repo.primary],
        )

    outputs: dict[str, Any] = admin_jobs(name, stack, namespace, media_repo)
    outputs.update(
        {
            "namespace": namespace,
            "service": media_repo.service_name,
            "serviceUrl": pulumi.Output.concat("http://", media_repo.service_name, ".", namespace, ".svc:8000"),
            # Which process is which machine: the workers' ids are their ordinals, up to the autoscaler's maximum.
            "machineIds": {
                "primary": ids.primary,
                **({"workers": f"1-{ids.max_workers}"} if ids.max_workers else {}),
                **({"importer": ids.importer} if ids.importer is not None else {}),
            },
        }
    )
    if settings.ingress.class_name:
        ingress = MediaIngress(name, stack, namespace=namespace, service_name=media_repo.service_name)
        outputs["ingressHosts"] = ingress.hosts
    if stack.media_import and ids.importer is not None:
        outputs["importCommand"] = kubernetes_import_command(stack, ids.importer, name)
    outputs.update(
        shared_outputs(
            stack,
            database,
            bucket,
            media_repo.config_yaml,
            media_repo.shared_secret_token,
            restore_command=restore_command,
            signing_keys=signing_keys,
        )
    )
    return outputs


def admin_jobs(
    name: str, stack: StackConfig, namespace: pulumi.Input[str], media_repo: KubernetesMediaRepo
) -> dict[str, Any]:
    """The smoke test's Job and the transfer's, after every MMR process is ready; their outputs."""
    token = media_repo.shared_secret_token
    if token is None or not (stack.smoke_test.enabled or stack.datastores.file.transfer_to):
        return {}
    files = AdminFiles(name, namespace, token, pulumi.ResourceOptions(parent=media_repo))
    ready = [media_repo.primary, *([media_repo.workers] if media_repo.workers else [])]
    outputs: dict[str, Any] = {}
    smoke = None
    if stack.smoke_test.enabled:
        smoke = KubernetesSmokeTest(
            name,
            stack,
            namespace=namespace,
            service_name=media_repo.service_name,
            files=files,
            config_names=pulumi.Output.concat(
                media_repo.settings_map.metadata.name, "/", media_repo.secret.metadata.name
            ),
            depends_on=ready,
        )
        outputs["smokeTest"] = smoke.passed
    if stack.datastores.file.transfer_to:
        transfer = KubernetesMediaTransfer(
            name,
            stack,
            namespace=namespace,
            service_name=media_repo.service_name,
            files=files,
            after=smoke.passed if smoke else "",
            depends_on=[*ready, *([smoke] if smoke else [])],
        )
        outputs["mediaTransfer"] = {"result": transfer.finished, "rerunCommand": transfer.rerun_command}
    return outputs
