"""The MMR container, with its rendered ``media-repo.yaml``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.docker.host_limits import ONE_SHOT_MIB, bounded, media_repo_healthcheck
from components.docker.media_repo_files import (
    MEDIA_REPO_GID,
    MEDIA_REPO_UID,
    TMP_PATH,
    setup_container,
    volume_mount,
)
from components.docker.one_shot import exited_cleanly
from config_schema.config_directory import settings_config
from config_schema.docker_host import go_memory_limit_mib, media_repo_mib
from config_schema.health import readiness_lines, readiness_seconds, redis_addresses
from config_schema.live_config import config_version, restart_fingerprint, with_config_version
from config_schema.media_repo import (
    CONFIG_DIR,
    MEDIA_PATH,
    S3Connection,
    build_media_repo_config,
    render_media_repo_config,
    signing_key_path,
)
from config_schema.reverse_proxy import traefik_labels
from config_schema.stack import StackConfig

CONFIG_FILE = "media-repo.yaml"
RESTART_LABEL = "org.matrix-media-repo.restart"
# REPO_CONFIG: a directory MMR watches (config_schema/live_config.py says why not a file).
CONFIG_SUBDIR = "repo"
REPO_CONFIG = f"{CONFIG_DIR}/{CONFIG_SUBDIR}"
MIGRATION_GRACE = "10m0s"
# Longer than the start period, so that a slow first boot after an upgrade is waited for.
WAIT_TIMEOUT_SECONDS = 900
STOP_GRACE_SECONDS = 30
# The image's working directory; MMR writes nothing there with logDirectory "-",
# and a tmpfs keeps Docker from creating an anonymous volume for it.
DATA_PATH = "/data"


class MediaRepo(pulumi.ComponentResource):
    """Exposes ``config_yaml`` (secret), ``container``, ``config_volume`` and ``endpoint``."""

    config_yaml: pulumi.Output[str]
    container: docker.Container
    config_volume: docker.Volume
    image_id: pulumi.Output[str]
    shared_secret_token: pulumi.Output[str] | None
    endpoint: str
    health_url: str
    metrics_endpoint: str | None
    # host:port of the published metrics listener, as Prometheus scrapes it
    metrics_target: str | None

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        database_dsn: pulumi.Output[str],
        media_volume: docker.Volume,
        networks: Sequence[docker.Network],
        s3: pulumi.Output[S3Connection] | None = None,
        redis_address: str | None = None,
        signing_keys: Mapping[int, pulumi.Output[str]] | None = None,
        depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:MediaRepo", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.shared_secret_token = None
        if stack.uses_shared_secret:
            # A repo-admin access token: long, and plain letters and digits, as it travels in headers.
            token = random.RandomPassword(f"{name}-shared-secret", length=48, special=False, opts=child)
            self.shared_secret_token = pulumi.Output.secret(token.result)
        # The key of the config's version (config_schema/live_config.py): the stack's own, never shown.
        version_key = random.RandomPassword(f"{name}-config-version-key", length=32, special=False, opts=child)
        config = pulumi.Output.all(database_dsn, s3, self.shared_secret_token).apply(
            lambda values: build_media_repo_config(
                stack,
                database_dsn=values[0],
                s3=values[1],
                shared_secret_token=values[2],
                redis_container_addresses=[redis_address] if redis_address else [],
            )
        )
        # A digest of what MMR reads only at start, from the stack config alone (no credential is in those
        # sections, so it is plain and known at preview): the container is replaced exactly when it changes.
        self.restart_fingerprint = restart_fingerprint(
            settings_config(stack, redis_addresses=[redis_address] if redis_address else [])
        )
        self.config_version = pulumi.Output.secret(
            pulumi.Output.all(version_key.result, config).apply(
                lambda values: config_version(values[0], render_media_repo_config(values[1]))
            )
        )
        self.config_yaml = pulumi.Output.secret(
            pulumi.Output.all(config, self.config_version).apply(
                lambda values: render_media_repo_config(with_config_version(values[0], values[1]))
            )
        )

        image = docker.RemoteImage(f"{name}-media-repo-image", name=stack.image, keep_locally=True, opts=child)
        self.image_id = image.image_id
        # Hold nothing but what the setup container puts there before each new MMR container: not protected.
        self.config_volume = docker.Volume(f"{name}-config", name=f"{name}-config", opts=child)
        # MMR buffers uploads, archives and its unpacked migrations in its temp dir: on disk, not in RAM.
        scratch_volume = docker.Volume(f"{name}-tmp", name=f"{name}-tmp", opts=child)
        files = {f"{CONFIG_SUBDIR}/{CONFIG_FILE}": self.config_yaml}
        files.update(
            {signing_key_path(index).removeprefix(f"{CONFIG_DIR}/"): pem for index, pem in (signing_keys or {}).items()}
        )
        setup = setup_container(
            name,
            image_id=image.image_id,
            files=files,
            media_volume=media_volume,
            config_volume=self.config_volume,
            scratch_volume=scratch_volume,
            limits=bounded(stack.docker, ONE_SHOT_MIB),
            # A fixed container name cannot exist twice: the old one goes first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        setup_done = exited_cleanly(setup, f"{name}-setup")

        http = stack.http
        redis = redis_addresses(stack.redis, [redis_address] if redis_address else [])
        memory_mib = media_repo_mib(stack.docker, stack.thumbnails)
        ports = [docker.ContainerPortArgs(internal=http.port, external=http.port, ip=http.bind_address)]
        if stack.metrics.enabled:
            metrics = stack.metrics
            ports.append(
                docker.ContainerPortArgs(internal=metrics.port, external=metrics.port, ip=metrics.bind_address)
            )

        labels = [
            docker.ContainerLabelArgs(label=key, value=value) for key, value in traefik_labels(stack, name).items()
        ]
        # The setup container installs every new config, MMR running, and MMR takes it live
        # (config_schema/live_config.py). What MMR reads only at start is in this label: a change there replaces
        # MMR, as a new image does. MMR starts after the setup succeeded.
        labels.append(docker.ContainerLabelArgs(label=RESTART_LABEL, value=self.restart_fingerprint))
        self.container = docker.Container(
            name,
            name=name,
            image=image.image_id,
            # As the Ansible playbook does: the binary directly, not run.sh,
            # which would chown and su-exec as root.
            entrypoints=["media_repo"],
            working_dir=DATA_PATH,
            user=f"{MEDIA_REPO_UID}:{MEDIA_REPO_GID}",
            envs=[f"REPO_CONFIG={REPO_CONFIG}", f"GOMEMLIMIT={go_memory_limit_mib(memory_mib)}"],
            **bounded(stack.docker, memory_mib),
            # Docker's init as PID 1, MMR its child: the watchdog can stop MMR, which as PID 1 would ignore it.
            init=True,
            mounts=[
                volume_mount(media_volume, MEDIA_PATH),
                volume_mount(self.config_volume, CONFIG_DIR, read_only=True),
                volume_mount(scratch_volume, TMP_PATH),
            ],
            # Nothing in the image changes at run time: MMR writes its media to
            # the media volume and its temporary files to the scratch volume.
            read_only=True,
            # The image declares /data a VOLUME; a tmpfs keeps Docker from creating an anonymous volume.
            tmpfs={DATA_PATH: "rw,noexec,nosuid,size=16m,mode=1777"},
            networks_advanced=[
                *(docker.ContainerNetworksAdvancedArgs(name=network.name) for network in networks),
                *(docker.ContainerNetworksAdvancedArgs(name=network) for network in stack.docker.networks),
                *(
                    docker.ContainerNetworksAdvancedArgs(name=network)
                    for network in [stack.proxy.traefik.network]
                    if stack.proxy.traefik.enabled and network and network not in stack.docker.networks
                ),
            ],
            labels=labels,
            ports=ports,
            # So that csApi can name a homeserver on the Docker host itself, on Linux as on Docker Desktop.
            # It reaches only services that listen on the host's bridge address, not on 127.0.0.1 alone.
            hosts=[docker.ContainerHostArgs(host="host.docker.internal", ip="host-gateway")],
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=["no-new-privileges:true"],
            healthcheck=media_repo_healthcheck(
                http.port,
                stack.docker.watchdog,
                MIGRATION_GRACE,
                readiness_lines(http.port, stack.homeservers[0].name, redis),
                readiness_seconds(redis),
            ),
            restart="unless-stopped",
            # A config MMR rejects fails `pulumi up` here instead of leaving a crash loop.
            wait=True,
            wait_timeout=WAIT_TIMEOUT_SECONDS,
            # Without it the provider stops with a timeout of 0, a kill (resource_docker_container_funcs.go
            # lines 1085-1093); MMR's own HTTP shutdown gives up after 5 s.
            destroy_grace_seconds=STOP_GRACE_SECONDS,
            stop_timeout=STOP_GRACE_SECONDS,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*depends_on, setup_done.apply(lambda _: setup)],
                # One name and one host port: the old container must be gone before the new one starts.
                delete_before_replace=True,
            ),
        )
        self.setup_done = setup_done

        self.endpoint = f"http://{_url_host(http.bind_address)}:{http.port}"
        self.health_url = f"{self.endpoint}/healthz"
        self.metrics_endpoint = None
        self.metrics_target = None
        if stack.metrics.enabled:
            self.metrics_target = f"{_url_host(stack.metrics.bind_address)}:{stack.metrics.port}"
            self.metrics_endpoint = f"http://{self.metrics_target}/metrics"
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "healthUrl": self.health_url,
                "mediaRepoConfig": self.config_yaml,
            }
        )


def _url_host(bind_address: str) -> str:
    """Where a client on the Docker host reaches a port published on ``bind_address``."""
    if bind_address in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{bind_address}]" if ":" in bind_address else bind_address
