"""One Ingress per homeserver, on its public host, for the paths MMR serves.

MMR answers only a request whose host is a configured server name, and reads
``X-Forwarded-Host`` first (api/_routers/03-host_detection.go line 31 at v1.3.7).
ingress-nginx sets ``Host`` to the ``upstream-vhost`` annotation, the server name,
but ``X-Forwarded-Host`` to the client's host (rootfs/etc/nginx/template/nginx.tmpl:
``proxy_set_header X-Forwarded-Host $best_http_host``), so MMR's config turns
``repo.useForwardedHost`` off on a stack with an Ingress (components/kubernetes/media_repo.py).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.objects import labels, manifest
from config_schema.reverse_proxy import LOGOUT_PATHS, MEDIA_PATH_PREFIXES, body_limit, routes_logouts
from config_schema.stack import StackConfig

NGINX = "nginx.ingress.kubernetes.io"


class MediaIngress(pulumi.ComponentResource):
    """Exposes ``hosts``, the public host of each homeserver, in order."""

    hosts: list[str]

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        namespace: pulumi.Input[str],
        service_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:MediaIngress", name, None, opts)
        ingress = stack.kubernetes.ingress
        backend = {"service": {"name": service_name, "port": {"name": "http"}}}
        paths = [{"path": prefix, "pathType": "Prefix", "backend": backend} for prefix in MEDIA_PATH_PREFIXES]
        if routes_logouts(stack):
            # MMR drops a cached token when it sees the logout (and passes the logout on).
            paths += [{"path": path, "pathType": "Exact", "backend": backend} for path in LOGOUT_PATHS]
        self.hosts = []
        # ingress-nginx serves one server block per host, merging the paths of every Ingress for it and
        # taking the certificate of the oldest that has one (internal/ingress/controller/controller.go,
        # createServers: "only add a certificate if the server does not have one previously configured").
        # The media host is the host clients already call, served by the homeserver's own Ingress and
        # certificate, so these Ingresses carry no TLS of their own unless cert-manager is asked for one:
        # then one Secret per host, named after it.
        tls_secrets = {h.proxied_host: f"{name}-{h.proxied_host.replace('.', '-')}-tls" for h in stack.homeservers}
        for index, homeserver in enumerate(stack.homeservers):
            host = homeserver.proxied_host
            annotations = {
                f"{NGINX}/upstream-vhost": homeserver.name,
                # A little above MMR's own limit, so that MMR, not the proxy, answers "too large".
                f"{NGINX}/proxy-body-size": body_limit(stack),
                # Uploads and remote downloads stream for as long as they take.
                f"{NGINX}/proxy-request-buffering": "off",
                f"{NGINX}/proxy-read-timeout": "600",
                f"{NGINX}/proxy-send-timeout": "600",
            }
            spec: dict[str, object] = {
                "ingressClassName": ingress.class_name,
                "rules": [{"host": host, "http": {"paths": paths}}],
            }
            if ingress.cluster_issuer:
                annotations["cert-manager.io/cluster-issuer"] = ingress.cluster_issuer
                spec["tls"] = [{"hosts": [host], "secretName": tls_secrets[host]}]
            kubernetes.networking.v1.Ingress(
                f"{name}-{index}",
                metadata={"namespace": namespace, "labels": labels(name, "ingress"), "annotations": annotations},
                spec=manifest(spec),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.hosts.append(host)
        self.register_outputs({"hosts": self.hosts})
