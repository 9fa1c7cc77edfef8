"""Who may reach MMR's processes, and what they may reach: the NetworkPolicies of a Kubernetes stack.

MMR fetches URLs its users choose (URL previews, remote media, redirects), so from
inside a cluster it could reach the cloud metadata service, which hands out the
node's credentials, and every Service in the cluster. Its egress is therefore DNS,
its own Postgres and Redis, the namespaces and private ranges the operator names
(kubernetes.networkPolicy.*), and the public internet: never a metadata address, and
no private range that is not named. The importer shares MMR's label and its fences.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.media_repo_pods import HTTP_PORT
from components.kubernetes.objects import ADMIN_CLIENT_LABEL, MMR_PROCESS_LABEL, admit_only, labels, manifest, selector
from components.shared.media_database import POSTGRES_PORT
from config_schema.network_policy import METADATA_CIDRS
from config_schema.stack import StackConfig

REDIS_PORT = 6379
DNS_PORT = 53


def mmr_processes(name: str) -> dict[str, str]:
    """MMR's pods and its importer's, of this stack: the Redis policy admits them, the egress policy holds them."""
    return {"app.kubernetes.io/instance": name, MMR_PROCESS_LABEL: "true"}


def admin_clients(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": name, ADMIN_CLIENT_LABEL: "true"}


def admin_egress_rules(every_pod: dict[str, str], stack: StackConfig) -> list[dict[str, Any]]:
    """DNS and MMR's HTTP port; and the internet, when a download may be sent to the bucket's public URL."""
    rules: list[dict[str, Any]] = [
        {"ports": [{"protocol": protocol, "port": DNS_PORT} for protocol in ("UDP", "TCP")]},
        {"to": [{"podSelector": {"matchLabels": every_pod}}], "ports": [{"protocol": "TCP", "port": HTTP_PORT}]},
    ]
    if stack.s3.public_base_url and stack.s3.redirect_when_cached:
        rules.append({"to": internet_peers(stack.kubernetes.network_policy.private_cidrs)})
    return rules


def namespace_peer(namespace: str) -> dict[str, Any]:
    # The API server labels every namespace with its name (since 1.22).
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def internet_peers(private_cidrs: list[str]) -> list[dict[str, Any]]:
    """Every address but the private ranges and the metadata services, for IPv4 and IPv6."""
    peers = []
    for everything, version in (("0.0.0.0/0", 4), ("::/0", 6)):
        closed = [cidr for cidr in (*private_cidrs, *METADATA_CIDRS) if ipaddress.ip_network(cidr).version == version]
        peers.append({"ipBlock": {"cidr": everything, "except": list(dict.fromkeys(closed))}})
    return peers


def egress_rules(name: str, stack: StackConfig) -> list[dict[str, Any]]:
    policy = stack.kubernetes.network_policy
    rules: list[dict[str, Any]] = [
        # Wherever the cluster's resolver is (kube-dns, a node-local cache on a link-local address).
        {"ports": [{"protocol": protocol, "port": DNS_PORT} for protocol in ("UDP", "TCP")]},
        {"to": [{"podSelector": {"matchLabels": selector(name, "postgres")}}], "ports": [{"port": POSTGRES_PORT}]},
        {"to": [{"podSelector": {"matchLabels": selector(name, "redis")}}], "ports": [{"port": REDIS_PORT}]},
    ]
    if policy.egress_namespaces:
        rules.append({"to": [namespace_peer(namespace) for namespace in policy.egress_namespaces]})
    if policy.egress_cidrs:
        rules.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in policy.egress_cidrs]})
    rules.append({"to": internet_peers(policy.private_cidrs)})
    return rules


def media_repo_policies(
    name: str,
    stack: StackConfig,
    namespace: pulumi.Input[str],
    every_pod: dict[str, str],
    child: pulumi.ResourceOptions,
) -> None:
    policy = stack.kubernetes.network_policy
    namespaces = policy.ingress_namespaces
    if namespaces is None:
        namespaces = [stack.kubernetes.ingress.controller_namespace]
    admit_only(
        f"{name}-media-repo-ingress",
        namespace=namespace,
        instance=name,
        to_pods=every_pod,
        sources=[
            *(namespace_peer(source) for source in namespaces),
            *({"ipBlock": {"cidr": cidr}} for cidr in policy.ingress_cidrs),
            # The smoke test and the transfer, from this namespace.
            {"podSelector": {"matchLabels": admin_clients(name)}},
        ],
        ports=[HTTP_PORT],
        opts=child,
    )
    if stack.smoke_test.enabled or stack.datastores.file.transfer_to:
        kubernetes.networking.v1.NetworkPolicy(
            f"{name}-admin-egress",
            metadata={"namespace": namespace, "labels": labels(name, "network-policy")},
            spec=manifest(
                {
                    "podSelector": {"matchLabels": admin_clients(name)},
                    "policyTypes": ["Egress"],
                    "egress": admin_egress_rules(every_pod, stack),
                }
            ),
            opts=child,
        )
    if stack.metrics.enabled:
        admit_only(
            f"{name}-media-repo-metrics",
            namespace=namespace,
            instance=name,
            to_pods=every_pod,
            # Prometheus runs wherever the operator put it; metrics carry no media or credentials.
            sources=[{"namespaceSelector": {}}],
            ports=[stack.metrics.port],
            opts=child,
        )
    kubernetes.networking.v1.NetworkPolicy(
        f"{name}-media-repo-egress",
        metadata={"namespace": namespace, "labels": labels(name, "network-policy")},
        spec=manifest(
            {
                "podSelector": {"matchLabels": mmr_processes(name)},
                "policyTypes": ["Egress"],
                "egress": egress_rules(name, stack),
            }
        ),
        opts=child,
    )
