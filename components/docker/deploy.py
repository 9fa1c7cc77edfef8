"""Everything a Docker host runs, built from a validated stack config; returns the stack's outputs."""

from __future__ import annotations

from typing import Any

import pulumi

from components.docker.config_applied import ConfigApplied
from components.docker.host_limits import bounded
from components.docker.made_host import made_host
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
from config_schema.health import external_probe
from config_schema.media_import import manual_import_command
from config_schema.reverse_proxy import render_caddy, render_nginx, render_prometheus_scrape_config


def deploy_on_docker(name: str, stack: StackConfig) -> dict[str, Any]:
    stack = stack.with_host_defaults()
    host = made_host(name, stack)
    # On a host the program makes, every Docker resource goes through that host's provider (children inherit it).
    on_host = pulumi.ResourceOptions(providers={"docker": host.docker_provider}) if host else None
    networks = DockerNetworks(name, opts=on_host)
    storage = MediaStorage(name, stack.datastores.file, opts=on_host)
    database = MediaDatabase(
        name,
        stack.database,
        platform=DockerDatabasePlatform(networks.private, stack.docker),
        trusted_droplet_id=host.droplet.id if host else None,
        opts=on_host,
    )
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
            opts=on_host,
        )
    redis = (
        RedisCache(name, stack.redis, private_network=networks.private, host=stack.docker, opts=on_host)
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
        opts=on_host,
    )
    # `pulumi up` goes on once MMR serves the config just installed, live or after a restart.
    applied = ConfigApplied(name, stack, media_repo=media_repo, networks=[networks.private], opts=on_host)
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
            opts=on_host,
        )

    admin_outputs: dict[str, Any] = {}
    smoke = None
    # The edge network too when MMR may redirect a download to the bucket's public URL.
    redirects = bool(stack.s3.public_base_url and stack.s3.redirect_when_cached)
    admin_networks = [networks.private, *([networks.edge] if redirects else [])]
    if stack.smoke_test.enabled:
        smoke = SmokeTest(
            name, stack, media_repo=media_repo, networks=admin_networks, after=[applied.container], opts=on_host
        )
        admin_outputs["smokeTest"] = smoke.passed
    if stack.datastores.file.transfer_to:
        transfer = MediaTransfer(
            name,
            stack,
            media_repo=media_repo,
            networks=admin_networks,
            after=smoke.passed if smoke else "",
            depends_on=[smoke.container] if smoke else [],
            opts=on_host,
        )
        admin_outputs["mediaTransfer"] = {"result": transfer.finished, "rerunCommand": transfer.rerun_command}

    if host:
        endpoint = host.media_repo_endpoint(stack.http.port, from_vpc=not stack.host.media_repo_sources)
    else:
        endpoint = pulumi.Output.from_input(media_repo.endpoint)
    outputs: dict[str, Any] = {
        **admin_outputs,
        "configApplied": applied.applied,
        "endpoint": endpoint,
        "healthUrl": endpoint.apply(lambda url: f"{url}/healthz"),
        "readinessProbe": endpoint.apply(lambda url: external_probe(url, stack.homeservers[0].name)),
        "reverseProxy": {
            "nginx": endpoint.apply(lambda url: render_nginx(stack, url)),
            "caddy": endpoint.apply(lambda url: render_caddy(stack, url.removeprefix("http://"))),
        },
        **(host.outputs() if host else {}),
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
