"""Keys and certificates made as components/docker/host_certificates.py asks pulumi-tls for them.

pulumi-tls's plugin cannot be built here (the Go module proxy serves no ``github.com/pulumi/pulumi-tls``
provider module, and hashicorp/terraform-provider-tls only as v1.2.0, whose packages it does not serve), so the
real-host tests make the same materials with ``cryptography``: ECDSA P-256 keys in SEC1 PEM (pulumi-tls's
``private_key_pem``), a CA with cert_signing/crl_signing/digital_signature, a server certificate for the host's
address with server_auth, a client certificate with client_auth, and an Ed25519 SSH key in OpenSSH format
(``private_key_openssh``/``public_key_openssh``).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def _certificate(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    addresses: tuple[str, ...] = (),
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "matrix-media-repo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
    )
    # Go's x509.CreateCertificate, which pulumi-tls signs with, gives a CA a subject key id and copies it into
    # what the CA signs as the authority key id (crypto/x509/x509.go); OpenSSL's strict checks want both.
    if issuer is None:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
        )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        assert usage is not None
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if addresses:
        names = [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass(frozen=True)
class HostMaterials:
    ca_pem: str
    server_cert_pem: str
    server_key_pem: str
    client_cert_pem: str
    client_key_pem: str

    def server_files(self) -> dict[str, str]:
        """What the readiness command is given on stdin (DockerHostCertificates.server_files)."""
        return {"ca.pem": self.ca_pem, "server-cert.pem": self.server_cert_pem, "server-key.pem": self.server_key_pem}

    def write_client(self, directory: Path) -> Path:
        """ca.pem, cert.pem and key.pem, as the docker CLI's --tlsverify reads them from DOCKER_CERT_PATH."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in (
            ("ca.pem", self.ca_pem),
            ("cert.pem", self.client_cert_pem),
            ("key.pem", self.client_key_pem),
        ):
            (directory / name).write_text(text)
        (directory / "key.pem").chmod(0o600)
        return directory


def host_materials(address: str) -> HostMaterials:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("mmr Docker CA", ca_key, None)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        address, server_key, (ca, ca_key), usage=ExtendedKeyUsageOID.SERVER_AUTH, addresses=(address, "127.0.0.1")
    )
    client = _certificate("matrix-media-repo pulumi", client_key, (ca, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH)

    def pem(certificate: x509.Certificate) -> str:
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    return HostMaterials(pem(ca), pem(server), _pem(server_key), pem(client), _pem(client_key))


def ssh_key_pair() -> tuple[str, str]:
    """(private key in OpenSSH format, public key line), as pulumi-tls's ED25519 PrivateKey gives them."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public
