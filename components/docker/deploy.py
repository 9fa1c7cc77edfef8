"""Everything a Docker host runs, built from a validated stack config; returns the stack's outputs."""

from __future__ import annotations

from typing import Any

from components.docker.host_limits import bounded
from components.docker.media_import import MediaImport
from components.docker.media_repo import MediaRepo
from components.docker.media_storage import MediaStorage
from components.docker.media_transfer import MediaTransfer
from components.docker.networks import DockerNetworks
from components.docker.postgres import DockerDatabasePlatform
from components.docker.postgres_backup import PostgresBackup
from components.docker.redis_cache import RedisCache
from components.docker.smoke_test import SmokeTest
from components.shared.media_bucket import MediaBucket
from components.shared.media_database import MediaDatabase
from components.shared.outputs import shared_outputs
from components.shared.signing_keys import SigningKeys
from config_schema import StackConfig
from config_schema.docker_host import media_repo_mib
from config_schema.media_import import manual_import_command
from config_schema.reverse_proxy import render_caddy, render_nginx, render_prometheus_scrape_config


def deploy_on_docker(name: str, stack: StackConfig) -> dict[str, Any]:
    networks = DockerNetworks(name)
    storage = MediaStorage(name, stack.datastores.file)
    database = MediaDatabase(name, stack.database, platform=DockerDatabasePlatform(networks.private, stack.docker))
    bucket = MediaBucket(name, stack.s3, backup_upload=stack.backup.s3) if stack.uses_s3 else None
    if stack.backs_up_database:
        PostgresBackup(
            name,
            stack.backup,
            database=database,
            # The private network reaches Postgres; the edge one, when dumps are copied, the bucket.
            networks=[networks.private, *([networks.edge] if stack.backup.s3 else [])],
            s3_upload=bucket.backup_upload if bucket else None,
            limits=bounded(stack.docker, stack.docker.memory.backup),
        )
    redis = (
        RedisCache(name, stack.redis, private_network=networks.private, host=stack.docker)
        if stack.redis.enabled and not stack.redis.shards
        else None
    )
    signing_keys = SigningKeys(name, stack)
    media_repo = MediaRepo(
        name,
        stack,
        database_dsn=database.dsn,
        media_volume=storage.volume,
        networks=[networks.private, networks.edge],
        s3=bucket.connection if bucket else None,
        redis_address=redis.address if redis else None,
        signing_keys=signing_keys.pems,
        depends_on=[*database.ready, *([redis.container] if redis else [])],
    )
    if stack.media_import:
        MediaImport(
            name,
            stack.media_import,
            image_id=media_repo.image_id,
            config_volume=media_repo.config_volume,
            media_volume=storage.volume,
            networks=[networks.private.name, networks.edge.name, *stack.docker.networks],
            limits=bounded(stack.docker, media_repo_mib(stack.docker, stack.thumbnails)),
            depends_on=[media_repo.container],
        )

    admin_outputs: dict[str, Any] = {}
    smoke = None
    # The edge network too when MMR may redirect a download to the bucket's public URL.
    redirects = bool(stack.s3.public_base_url and stack.s3.redirect_when_cached)
    admin_networks = [networks.private, *([networks.edge] if redirects else [])]
    if stack.smoke_test.enabled:
        smoke = SmokeTest(name, stack, media_repo=media_repo, networks=admin_networks)
        admin_outputs["smokeTest"] = smoke.passed
    if stack.datastores.file.transfer_to:
        transfer = MediaTransfer(
            name,
            stack,
            media_repo=media_repo,
            networks=admin_networks,
            after=smoke.passed if smoke else "",
            depends_on=[smoke.container] if smoke else [],
        )
        admin_outputs["mediaTransfer"] = {"result": transfer.finished, "rerunCommand": transfer.rerun_command}

    outputs: dict[str, Any] = {
        **admin_outputs,
        "endpoint": media_repo.endpoint,
        "healthUrl": media_repo.health_url,
        "reverseProxy": {
            "nginx": render_nginx(stack, media_repo.endpoint),
            "caddy": render_caddy(stack, media_repo.endpoint.removeprefix("http://")),
        },
    }
    if media_repo.metrics_endpoint and media_repo.metrics_target:
        outputs["metricsEndpoint"] = media_repo.metrics_endpoint
        outputs["prometheusScrapeConfig"] = render_prometheus_scrape_config(name, media_repo.metrics_target)
    if stack.media_import:
        outputs["importCommand"] = manual_import_command(stack.media_import, name)
    outputs.update(
        shared_outputs(
            stack, database, bucket, media_repo.config_yaml, media_repo.shared_secret_token, signing_keys=signing_keys
        )
    )
    return outputs
