"""The keys and certificates a host made by the program is reached with, made by the program itself.

A CA of the stack's own signs the Docker engine's server certificate (for the host's reserved IP) and the one
client certificate the program and its operator use: dockerd with ``tlsverify`` lets in no other. The SSH key
is registered with the cloud and pinned nowhere else. Every private key is secret from birth
(``additional_secret_outputs``), and only secret Outputs of them leave this component.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_tls as tls

# pulumi-tls marks these outputs secret itself; saying so here keeps them secret under any provider version.
_PRIVATE_OUTPUTS = ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"]
# Server and client certificates live a year and are made anew on the first `pulumi up` in their last 30 days
# (early_renewal_hours); the readiness command then brings the new server certificate to the host.
_CERTIFICATE_HOURS = 365 * 24
_RENEW_HOURS = 30 * 24
_CA_HOURS = 10 * 365 * 24


class DockerHostCertificates(pulumi.ComponentResource):
    ca_cert_pem: pulumi.Output[str]
    client_cert_pem: pulumi.Output[str]
    client_key_pem: pulumi.Output[str]
    ssh_public_key: pulumi.Output[str]
    ssh_private_key: pulumi.Output[str]
    ssh_host_public_key: pulumi.Output[str]
    ssh_host_private_key: pulumi.Output[str]
    # {"ca.pem", "server-cert.pem", "server-key.pem"}: what the host installs, as JSON (secret).
    server_files: pulumi.Output[str]

    def __init__(self, name: str, *, address: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("matrix-media-repo:index:DockerHostCertificates", name, None, opts)
        ca_key = self._key(f"{name}-ca")
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{name} Docker CA", organization="matrix-media-repo"),
            validity_period_hours=_CA_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        server_key, server_cert = self._signed(
            f"{name}-server",
            ca_key,
            ca,
            common_name=address,
            ip_addresses=[address, "127.0.0.1"],
            usage="server_auth",
        )
        client_key, client_cert = self._signed(
            f"{name}-client", ca_key, ca, common_name="matrix-media-repo pulumi", ip_addresses=[], usage="client_auth"
        )
        ssh_key = tls.PrivateKey(
            f"{name}-ssh",
            algorithm="ED25519",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=_PRIVATE_OUTPUTS),
        )
        # The droplet's SSH host key, given to it in its cloud-config and pinned by the readiness command.
        host_key = tls.PrivateKey(
            f"{name}-ssh-host",
            algorithm="ED25519",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=_PRIVATE_OUTPUTS),
        )
        self.ssh_host_public_key = host_key.public_key_openssh
        self.ssh_host_private_key = pulumi.Output.secret(host_key.private_key_openssh)
        self.ca_cert_pem = ca.cert_pem
        self.client_cert_pem = client_cert.cert_pem
        self.client_key_pem = pulumi.Output.secret(client_key.private_key_pem)
        self.ssh_public_key = ssh_key.public_key_openssh
        self.ssh_private_key = pulumi.Output.secret(ssh_key.private_key_openssh)
        self.server_files = pulumi.Output.secret(
            pulumi.Output.all(ca.cert_pem, server_cert.cert_pem, server_key.private_key_pem).apply(
                lambda pems: json.dumps(dict(zip(("ca.pem", "server-cert.pem", "server-key.pem"), pems, strict=True)))
            )
        )
        self.register_outputs({"caCertPem": self.ca_cert_pem, "clientCertPem": self.client_cert_pem})

    def _key(self, name: str) -> tls.PrivateKey:
        return tls.PrivateKey(
            name,
            algorithm="ECDSA",
            ecdsa_curve="P256",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=_PRIVATE_OUTPUTS),
        )

    def _signed(
        self,
        name: str,
        ca_key: tls.PrivateKey,
        ca: tls.SelfSignedCert,
        *,
        common_name: pulumi.Input[str],
        ip_addresses: list[pulumi.Input[str]],
        usage: str,
    ) -> tuple[tls.PrivateKey, tls.LocallySignedCert]:
        key = self._key(name)
        request = tls.CertRequest(
            name,
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=common_name, organization="matrix-media-repo"),
            ip_addresses=ip_addresses or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        cert = tls.LocallySignedCert(
            name,
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=_CERTIFICATE_HOURS,
            early_renewal_hours=_RENEW_HOURS,
            allowed_uses=["digital_signature", "key_encipherment", usage],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key, cert
