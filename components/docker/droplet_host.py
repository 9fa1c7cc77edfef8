"""A Docker host made from an empty DigitalOcean account: ``host.provider: digitalocean``.

The reserved IP comes first, so the engine's certificate can name it. The volume is Docker's data root (media,
Postgres, backups): protected, retained, attached at the droplet's creation and mounted before Docker starts,
so a replaced droplet finds everything where it was. The droplet is deleted before its replacement is made (the
volume attaches to one droplet at a time). Nothing Docker is declared until the readiness command has proved,
over SSH with the program's own key, that cloud-init is done and the engine answers on 2376 with TLS.
"""

from __future__ import annotations

import re

import pulumi
import pulumi_command as command
import pulumi_digitalocean as digitalocean
import pulumi_docker as docker

from components.docker.host_certificates import DockerHostCertificates
from config_schema.cloud_init import DOCKER_TLS_PORT, cloud_config, readiness_script
from config_schema.host import Host

# How long the program keeps dialling SSH while the droplet boots: 60 tries of at most 10 s.
_SSH_DIALS = 60
_SSH_DIAL_SECONDS = 10


def resource_name(name: str) -> str:
    """A name DigitalOcean takes for a volume or droplet: lower-case letters, digits and '-', at most 63."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63]


class DropletDockerHost(pulumi.ComponentResource):
    address: pulumi.Output[str]
    docker_endpoint: pulumi.Output[str]
    docker_provider: docker.Provider
    droplet: digitalocean.Droplet
    certificates: DockerHostCertificates

    def __init__(
        self,
        name: str,
        host: Host,
        *,
        region: str,
        media_repo_ports: list[int],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:DropletDockerHost", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        volume_name = resource_name(f"{name}-docker")

        reserved_ip = digitalocean.ReservedIp(
            f"{name}-address", region=region, opts=pulumi.ResourceOptions(parent=self, protect=True)
        )
        self.address = reserved_ip.ip_address
        self.certificates = DockerHostCertificates(f"{name}-tls", address=self.address, opts=child)
        ssh_key = digitalocean.SshKey(f"{name}-ssh", public_key=self.certificates.ssh_public_key, opts=child)
        vpc = digitalocean.Vpc(f"{name}-vpc", name=resource_name(f"{name}-{region}"), region=region, opts=child)
        volume = digitalocean.Volume(
            f"{name}-docker",
            name=volume_name,
            region=region,
            size=host.volume_size_gib,
            initial_filesystem_type="ext4",
            description="Docker's data root on the matrix-media-repo host: media, Postgres, backups",
            opts=kept,
        )
        self.droplet = digitalocean.Droplet(
            f"{name}-host",
            name=resource_name(name),
            region=region,
            size=host.size,
            image=host.image,
            vpc_uuid=vpc.id,
            ssh_keys=[ssh_key.fingerprint],
            volume_ids=[volume.id],
            user_data=pulumi.Output.all(
                self.certificates.ssh_host_private_key, self.certificates.ssh_host_public_key
            ).apply(lambda key: cloud_config(volume_name, ssh_host_key=(key[0], key[1]))),
            monitoring=True,
            graceful_shutdown=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                delete_before_replace=True,
                # Read at first boot only: a change would replace the droplet with nothing to show for it.
                # `pulumi up --replace` on the droplet's URN applies a new one (docs/digitalocean-host.md).
                ignore_changes=["userData", "sshKeys", "volumeIds"],
            ),
        )
        assignment = digitalocean.ReservedIpAssignment(
            f"{name}-address",
            ip_address=self.address,
            droplet_id=self.droplet.id.apply(int),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        firewall = self._firewall(name, host, vpc, media_repo_ports)
        ready = command.remote.Command(
            f"{name}-ready",
            connection=command.remote.ConnectionArgs(
                host=self.address,
                user="root",
                private_key=self.certificates.ssh_private_key,
                # Parsed with ssh.ParseAuthorizedKey and checked with ssh.FixedHostKey, host key algorithms limited to
                # its type (pulumi/pulumi-command provider/pkg/provider/remote/connection.go lines 86-103 at 010bd8e).
                host_key=self.certificates.ssh_host_public_key,
                dial_error_limit=_SSH_DIALS,
                per_dial_timeout=_SSH_DIAL_SECONDS,
            ),
            create=readiness_script(volume_name),
            stdin=self.certificates.server_files,
            # Again on a new droplet and on a grown volume; a renewed certificate changes stdin, which runs it too.
            triggers=[self.droplet.id, volume.size],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[assignment, firewall]),
        )
        # The endpoint is known once the host is ready, so every Docker resource waits for the readiness command.
        self.docker_endpoint = pulumi.Output.all(self.address, ready.stdout).apply(
            lambda values: f"tcp://{values[0]}:{DOCKER_TLS_PORT}"
        )
        self.docker_provider = docker.Provider(
            f"{name}-engine",
            host=self.docker_endpoint,
            ca_material=self.certificates.ca_cert_pem,
            cert_material=self.certificates.client_cert_pem,
            key_material=self.certificates.client_key_pem,
            opts=child,
        )
        self.register_outputs({"address": self.address, "dockerEndpoint": self.docker_endpoint})

    def _firewall(
        self, name: str, host: Host, vpc: digitalocean.Vpc, media_repo_ports: list[int]
    ) -> digitalocean.Firewall:
        media_repo_sources: pulumi.Input[list[str]] = host.media_repo_sources or vpc.ip_range.apply(lambda r: [r])
        admin = [
            digitalocean.FirewallInboundRuleArgs(
                protocol="tcp", port_range=str(port), source_addresses=host.admin_cidrs
            )
            for port in (22, DOCKER_TLS_PORT)
        ]
        media = [
            digitalocean.FirewallInboundRuleArgs(
                protocol="tcp", port_range=str(port), source_addresses=media_repo_sources
            )
            for port in media_repo_ports
        ]
        everywhere = ["0.0.0.0/0", "::/0"]
        # The host fetches packages, images, remote media and S3: every destination.
        outbound = [
            digitalocean.FirewallOutboundRuleArgs(protocol=protocol, port_range=ports, destination_addresses=everywhere)
            for protocol, ports in (("tcp", "1-65535"), ("udp", "1-65535"), ("icmp", None))
        ]
        return digitalocean.Firewall(
            f"{name}-firewall",
            name=resource_name(name),
            droplet_ids=[self.droplet.id.apply(int)],
            inbound_rules=[*admin, *media],
            outbound_rules=outbound,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def media_repo_endpoint(self, http_port: int, *, from_vpc: bool) -> pulumi.Output[str]:
        """MMR's URL for a reverse proxy: at the droplet's VPC address, or its reserved IP for other sources."""
        address = self.droplet.ipv4_address_private if from_vpc else self.address
        return pulumi.Output.concat("http://", address, f":{http_port}")

    def outputs(self) -> dict[str, object]:
        """The host's stack outputs; ``hostDockerTls`` (secret) is what a ``docker`` client needs by hand."""
        return {
            "hostAddress": self.address,
            "hostSshCommand": pulumi.Output.concat(
                "ssh -i mmr-host-ssh-key -o UserKnownHostsFile=mmr-host-known-hosts root@", self.address
            ),
            # The line for a known_hosts file: ssh then checks the host is the droplet the program made.
            "hostSshKnownHosts": pulumi.Output.concat(self.address, " ", self.certificates.ssh_host_public_key),
            "hostDockerEndpoint": self.docker_endpoint,
            "hostDockerTls": pulumi.Output.secret(
                {
                    "ca.pem": self.certificates.ca_cert_pem,
                    "cert.pem": self.certificates.client_cert_pem,
                    "key.pem": self.certificates.client_key_pem,
                }
            ),
            "hostSshPrivateKey": self.certificates.ssh_private_key,
        }
