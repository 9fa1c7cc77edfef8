"""matrix-media-repo on a Docker host: read the stack config, validate it, build, export."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.docker_networks import DockerNetworks
from components.media_bucket import MediaBucket, missing_spaces_keys
from components.media_database import MediaDatabase
from components.media_import import MediaImport
from components.media_repo import MediaRepo
from components.media_storage import MediaStorage
from components.postgres_backup import PostgresBackup
from components.redis_cache import RedisCache
from config_schema import StackConfig, StackConfigError, load_stack_config, plaintext_secret_warnings
from config_schema.loading import TOP_LEVEL_KEYS, advisory_warnings
from config_schema.media_import import manual_import_command
from config_schema.media_repo import datastore_ids
from config_schema.reverse_proxy import render_caddy, render_nginx, render_prometheus_scrape_config


def read_stack_config() -> StackConfig:
    config = pulumi.Config()
    raw: dict[str, Any] = {}
    for key in stack_config_keys(config.name):
        value = config.get(key)
        if value is None:
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raw[key] = value  # a plain string such as the image reference
    secret_keys = [key for key in raw if pulumi.runtime.is_config_secret(config.full_key(key))]
    for warning in plaintext_secret_warnings(raw, secret_keys):
        pulumi.log.warn(warning)
    try:
        stack = load_stack_config(raw)
    except StackConfigError as error:
        raise pulumi.RunError(str(error)) from None
    for warning in advisory_warnings(stack):
        pulumi.log.warn(warning)
    if stack.uses_s3 and stack.s3.provider == "digitalocean" and missing_spaces_keys():
        raise pulumi.RunError(
            "matrix-media-repo:s3.provider is digitalocean, but the digitalocean provider has no Spaces keys to "
            "manage buckets with. Fix: pulumi config set digitalocean:spacesAccessId <id> && "
            "pulumi config set --secret digitalocean:spacesSecretKey <secret>"
        )
    return stack


def stack_config_keys(project: str) -> set[str]:
    """Every key set under this project, so that a misspelt one is reported rather than ignored."""
    prefix = f"{project}:"
    every_key = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {key.removeprefix(prefix) for key in every_key if key.startswith(prefix)} | set(TOP_LEVEL_KEYS)


stack = read_stack_config()
name = f"mmr-{pulumi.get_stack()}"

networks = DockerNetworks(name)
storage = MediaStorage(name, stack.datastores.file)
database = MediaDatabase(name, stack.database, private_network=networks.private)
bucket = MediaBucket(name, stack.s3, backup_upload=stack.backup.s3) if stack.uses_s3 else None
if stack.backs_up_database:
    PostgresBackup(
        name,
        stack.backup,
        database=database,
        # The private network reaches Postgres; the edge one, when dumps are copied, the bucket.
        networks=[networks.private, *([networks.edge] if stack.backup.s3 else [])],
        s3_upload=bucket.backup_upload if bucket else None,
    )
redis = (
    RedisCache(name, stack.redis, private_network=networks.private)
    if stack.redis.enabled and not stack.redis.shards
    else None
)
media_repo = MediaRepo(
    name,
    stack,
    database_dsn=database.dsn,
    media_volume=storage.volume,
    networks=[networks.private, networks.edge],
    s3=bucket.connection if bucket else None,
    redis_address=redis.address if redis else None,
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
        depends_on=[media_repo.container],
    )

pulumi.export("endpoint", media_repo.endpoint)
pulumi.export("healthUrl", media_repo.health_url)
pulumi.export(
    "reverseProxy",
    {
        "nginx": render_nginx(stack, media_repo.endpoint),
        "caddy": render_caddy(stack, media_repo.endpoint.removeprefix("http://")),
    },
)
if media_repo.metrics_endpoint:
    pulumi.export("metricsEndpoint", media_repo.metrics_endpoint)
    pulumi.export("prometheusScrapeConfig", render_prometheus_scrape_config(name, media_repo.metrics_target))
if media_repo.shared_secret_token:
    pulumi.export("sharedSecretToken", media_repo.shared_secret_token)
if stack.media_import:
    pulumi.export("importCommand", manual_import_command(stack.media_import, name))
pulumi.export("databaseHost", database.host)
if database.restore_command:
    pulumi.export("databaseRestoreCommand", database.restore_command)
if database.cluster_id:
    pulumi.export("databaseClusterId", database.cluster_id)
pulumi.export("databaseDsn", database.dsn)
pulumi.export("mediaRepoConfig", media_repo.config_yaml)
pulumi.export("datastoreIds", datastore_ids(stack))
if bucket:
    pulumi.export("bucketName", bucket.bucket_name)
    pulumi.export("s3Endpoint", bucket.endpoint)
    pulumi.export("s3Region", bucket.region)
    pulumi.export("s3AccessKeyId", bucket.access_key_id)
    pulumi.export("s3SecretAccessKey", bucket.secret_access_key)
