"""What MMR's processes on Kubernetes may reach, and who may reach them: the ``kubernetes.networkPolicy.*`` keys."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from config_schema.common import ConfigModel
from config_schema.errors import ConfigError, set_value

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _namespace(value: str) -> str:
    if not _NAME.match(value) or len(value) > 63:
        folded = value.strip().lower()
        raise ConfigError(
            f"{value!r} is not a Kubernetes namespace name (lower-case letters, digits and '-')",
            corrected=folded if _NAME.match(folded) and len(folded) <= 63 else None,
        )
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ConfigError(f"{value!r} is not an address range such as 10.0.5.0/24 or 2001:db8::/64") from None
    if str(network) != value:
        # A bare address is its own range (/32, /128); host bits set name the range they are in.
        raise ConfigError(f"{value!r} is not a range as written: it stands for {network}", corrected=str(network))
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
Namespace = Annotated[str, AfterValidator(_namespace)]

# The cloud metadata services (AWS, GCP, Azure, DigitalOcean: 169.254.169.254; AWS over IPv6: fd00:ec2::254),
# which hand out the node's credentials to whatever asks: MMR fetches URLs its users choose.
METADATA_CIDRS: tuple[str, ...] = ("169.254.169.254/32", "fd00:ec2::254/128")
# Where a cluster's own pods, services and nodes live: RFC 1918, carrier-grade NAT, link-local, IPv6 ULA and
# link-local. MMR reaches these only where a rule below names them.
PRIVATE_CIDRS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
)


class NetworkPolicy(ConfigModel):
    """Who reaches MMR, and what MMR and its importer reach."""

    # Namespaces whose pods may send MMR requests; unset: kubernetes.ingress.controllerNamespace.
    ingress_namespaces: list[Namespace] | None = None
    # Address ranges that may: a controller on the host network, a proxy outside the cluster.
    ingress_cidrs: list[Cidr] = Field(default_factory=list)
    # Namespaces MMR may reach besides its own Postgres and Redis: the homeserver's, when it runs in-cluster.
    egress_namespaces: list[Namespace] = Field(default_factory=list)
    # Private ranges MMR may reach: an external Postgres, S3 or homeserver on a private network.
    egress_cidrs: list[Cidr] = Field(default_factory=list)
    # What counts as private, and so is closed to MMR unless named above.
    private_cidrs: list[Cidr] = Field(default_factory=lambda: list(PRIVATE_CIDRS))

    @field_validator("egress_cidrs")
    @classmethod
    def _never_metadata(cls, value: list[str]) -> list[str]:
        for index, cidr in enumerate(value):
            network = ipaddress.ip_network(cidr)
            for metadata in map(ipaddress.ip_network, METADATA_CIDRS):
                if network.version == metadata.version and network.overlaps(metadata):
                    raise ConfigError(
                        f"{cidr!r} takes in the cloud metadata service ({metadata}), which hands out the node's "
                        "credentials; MMR fetches URLs its users choose and is never let near it",
                        key=f"[{index}]",
                        fix=f"pulumi config rm --path 'kubernetes.networkPolicy.egressCidrs[{index}]'",
                    )
        return value


def egress_warnings(policy: NetworkPolicy, namespace: str, destinations: list[tuple[str, str]]) -> list[str]:
    """Where MMR must go (``(key, host)``) that the egress policy closes: a private address or an in-cluster name.

    ``namespace`` is MMR's own. Each fix adds an item after those the list has.
    """
    warnings = []
    namespaces, cidrs = list(policy.egress_namespaces), list(policy.egress_cidrs)
    for key, host in destinations:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            in_cluster = "." not in host or host.endswith((".svc", ".svc.cluster.local"))
            if in_cluster and not namespaces:
                # A bare name resolves in the pod's own namespace; service.namespace.svc[.cluster.local] names it.
                target = host.split(".")[1] if "." in host else namespace
                item = f"kubernetes.networkPolicy.egressNamespaces[{len(namespaces)}]"
                namespaces.append(target)
                warnings.append(
                    f"matrix-media-repo:{key} names {host!r}, a Service in the cluster (namespace {target}), but the "
                    "egress policy lets MMR reach only its own namespace's Postgres and Redis there. "
                    f"Fix: {set_value(item, target)}"
                )
            continue
        private = any(address in ipaddress.ip_network(cidr) for cidr in policy.private_cidrs)
        allowed = any(address in ipaddress.ip_network(cidr) for cidr in cidrs)
        if private and not allowed:
            item = f"kubernetes.networkPolicy.egressCidrs[{len(cidrs)}]"
            cidrs.append(f"{address}/{address.max_prefixlen}")
            warnings.append(
                f"matrix-media-repo:{key} is at {address}, a private address the egress policy closes to MMR. "
                f"Fix: {set_value(item, cidrs[-1])}"
            )
    return warnings
