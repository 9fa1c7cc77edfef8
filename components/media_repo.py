"""The MMR container, with its rendered ``media-repo.yaml``."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

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

# MMR runs as this user, never as root; the media volume's root is handed to it.
MEDIA_REPO_UID = 10001
MEDIA_REPO_GID = 10001
CONFIG_PATH = f"{CONFIG_DIR}/media-repo.yaml"
# The image's working directory; MMR writes nothing there with logDirectory "-",
# and a tmpfs keeps Docker from creating an anonymous volume for it.
DATA_PATH = "/data"


class MediaRepo(pulumi.ComponentResource):
    """Exposes ``config_yaml`` (secret), ``container`` and ``endpoint``."""

    config_yaml: pulumi.Output[str]
    container: docker.Container
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
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:MediaRepo", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.shared_secret_token = None
        if stack.shared_secret_auth.enabled:
            import pulumi_random as random

            # A repo-admin access token: long, and plain letters and digits, as it travels in headers.
            token = random.RandomPassword(f"{name}-shared-secret", length=48, special=False, opts=child)
            self.shared_secret_token = pulumi.Output.secret(token.result)
        self.config_yaml = pulumi.Output.secret(
            pulumi.Output.all(database_dsn, s3, self.shared_secret_token).apply(
                lambda values: render_media_repo_config(
                    build_media_repo_config(
                        stack,
                        database_dsn=values[0],
                        s3=values[1],
                        shared_secret_token=values[2],
                        redis_container_address=redis_address,
                    )
                )
            )
        )

        image = docker.RemoteImage(f"{name}-media-repo-image", name=stack.image, keep_locally=True, opts=child)
        self.image_id = image.image_id
        # Holds nothing but what each `pulumi up` uploads again: not protected.
        config_volume = docker.Volume(f"{name}-config", name=f"{name}-config", opts=child)

        # Docker creates named volumes owned by root. Upstream's run.sh chowns
        # as root and then drops privileges; here MMR never runs as root, so a
        # one-shot container hands it the volume's top directory (MMR makes
        # everything below it). Not recursive: it must stay cheap on a volume
        # that holds years of media, and it only runs when first created.
        media_owner = docker.Container(
            f"{name}-media-owner",
            name=f"{name}-media-owner",
            image=image.image_id,
            user="0:0",
            entrypoints=["/bin/chown"],
            command=[f"{MEDIA_REPO_UID}:{MEDIA_REPO_GID}", MEDIA_PATH],
            volumes=[media_mount(media_volume)],
            network_mode="none",
            must_run=False,
            attach=True,
            logs=True,
            opts=child,
        )

        http = stack.http
        ports = [docker.ContainerPortArgs(internal=http.port, external=http.port, ip=http.bind_address)]
        if stack.metrics.enabled:
            metrics = stack.metrics
            ports.append(
                docker.ContainerPortArgs(internal=metrics.port, external=metrics.port, ip=metrics.bind_address)
            )

        self.container = docker.Container(
            name,
            name=name,
            image=image.image_id,
            # As the Ansible playbook does: the binary directly, not run.sh,
            # which would chown and su-exec as root.
            entrypoints=["media_repo"],
            working_dir=DATA_PATH,
            user=f"{MEDIA_REPO_UID}:{MEDIA_REPO_GID}",
            envs=[f"REPO_CONFIG={CONFIG_PATH}"],
            uploads=[config_upload(self.config_yaml, CONFIG_PATH), *signing_key_uploads(stack)],
            volumes=[
                media_mount(media_volume),
                docker.ContainerVolumeArgs(volume_name=config_volume.name, container_path=CONFIG_DIR),
            ],
            # Nothing in the image changes at run time: MMR writes its media to
            # the volume, unpacks migrations and makes thumbnails in /tmp.
            read_only=True,
            tmpfs={
                DATA_PATH: "rw,noexec,nosuid,size=16m,mode=1777",
                "/tmp": "rw,nosuid,nodev,size=1g,mode=1777",
            },
            networks_advanced=[
                *(docker.ContainerNetworksAdvancedArgs(name=network.name) for network in networks),
                *(
                    docker.ContainerNetworksAdvancedArgs(name=network)
                    for network in [stack.proxy.traefik.network]
                    if stack.proxy.traefik.enabled and network
                ),
            ],
            labels=[
                docker.ContainerLabelArgs(label=key, value=value) for key, value in traefik_labels(stack, name).items()
            ],
            ports=ports,
            # So that csApi can name a homeserver on the Docker host itself, on Linux as on Docker Desktop.
            hosts=[docker.ContainerHostArgs(host="host.docker.internal", ip="host-gateway")],
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=["no-new-privileges:true"],
            healthcheck=docker.ContainerHealthcheckArgs(
                # /healthz is the one path MMR answers whatever the Host header.
                tests=["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{http.port}/healthz"],
                interval="30s",
                timeout="5s",
                retries=3,
                # Migrations run at every start before MMR listens.
                start_period="120s",
                start_interval="2s",
            ),
            restart="unless-stopped",
            # A config MMR rejects fails `pulumi up` here instead of leaving a crash loop.
            wait=True,
            wait_timeout=300,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[media_owner, *depends_on]),
        )

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


def media_mount(volume: docker.Volume) -> docker.ContainerVolumeArgs:
    return docker.ContainerVolumeArgs(volume_name=volume.name, container_path=MEDIA_PATH)


def config_upload(config_yaml: pulumi.Output[str], path: str) -> docker.ContainerUploadArgs:
    """The rendered media-repo.yaml, readable by MMR's user alone."""
    return docker.ContainerUploadArgs(
        file=path,
        content=pulumi.Output.secret(config_yaml),
        owner=str(MEDIA_REPO_UID),
        group=str(MEDIA_REPO_GID),
        permissions="0400",
    )


def signing_key_uploads(stack: StackConfig) -> list[docker.ContainerUploadArgs]:
    return [
        docker.ContainerUploadArgs(
            file=signing_key_path(index),
            content=pulumi.Output.secret(homeserver.signing_key),
            owner=str(MEDIA_REPO_UID),
            group=str(MEDIA_REPO_GID),
            permissions="0400",
        )
        for index, homeserver in enumerate(stack.homeservers)
        if homeserver.signing_key
    ]
