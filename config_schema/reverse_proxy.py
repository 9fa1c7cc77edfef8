"""What a reverse proxy in front of MMR needs: the routes, for nginx, Caddy and Traefik, and a Prometheus job.

Each proxy matches a homeserver's public host (``homeservers[].publicHost``, where
clients and federation fetch media) and hands MMR the server name, as ``Host`` and
as ``X-Forwarded-Host`` alike: MMR reads ``X-Forwarded-Host`` first
(``repo.useForwardedHost`` defaults to true; ``api/_routers/03-host_detection.go`` lines 31-32 at 84bcb70)
and answers only a configured server name.
"""

from __future__ import annotations

import re

import yaml

from config_schema.operations import MMR_DEFAULT_MAX_UPLOAD_BYTES
from config_schema.stack import StackConfig

# Every path MMR serves, on the client and the federation listener alike.
MEDIA_PATH_PREFIXES: tuple[str, ...] = (
    "/_matrix/media/",
    "/_matrix/client/v1/media/",
    "/_matrix/federation/v1/media/",
)
# With the access-token cache on, MMR must see logouts (it passes them on to the
# homeserver and drops the cached token); otherwise a revoked token keeps
# working until the cache expires.
LOGOUT_PATH_REGEX = r"^/_matrix/client/(r0|v3)/logout(/all)?$"
LOGOUT_PATHS: tuple[str, ...] = tuple(
    f"/_matrix/client/{version}/logout{suffix}" for version in ("r0", "v3") for suffix in ("", "/all")
)


def routes_logouts(stack: StackConfig) -> bool:
    return stack.token_cache_seconds > 0


def upload_limit(stack: StackConfig) -> int:
    """The largest upload MMR takes, in bytes; 0 for none: MMR limits only above 0
    (pipelines/_steps/upload/limit.go line 11, api/r0/upload_sync.go lines 58-61 at ed4f318)."""
    return stack.uploads.max_bytes if stack.uploads.max_bytes is not None else MMR_DEFAULT_MAX_UPLOAD_BYTES


def body_limit(stack: StackConfig) -> str:
    """nginx's client_max_body_size (and ingress-nginx's proxy-body-size): "0" is no limit, as at MMR."""
    # A little above MMR's own limit, so that MMR, not the proxy, answers "too large".
    max_bytes = upload_limit(stack)
    return f"{max_bytes // (1024 * 1024) + 1}M" if max_bytes else "0"


def render_nginx(stack: StackConfig, upstream: str) -> dict[str, str]:
    """Per homeserver: ``location`` blocks for the server block of its public host.

    ``^~`` prefix locations and ``=`` exact locations win over every regex location
    whatever the order (nginx's location matching: exact, then the longest prefix,
    which stops the regex search when it carries ``^~``), so Synapse's documented
    ``location ~ ^(/_matrix|/_synapse/client)`` cannot take media or logouts back.
    """
    snippets = {}
    for homeserver in stack.homeservers:
        proxied = (
            f"        proxy_pass {upstream};\n"
            f"        proxy_set_header Host {homeserver.name};\n"
            f"        proxy_set_header X-Forwarded-Host {homeserver.name};\n"
            "        proxy_set_header X-Forwarded-For $remote_addr;\n"
            "        proxy_set_header X-Forwarded-Proto $scheme;\n"
            f"        client_max_body_size {body_limit(stack)};\n"
            "        proxy_read_timeout 120s;\n"
        )
        blocks = [f"    location ^~ {prefix} {{\n{proxied}    }}\n" for prefix in MEDIA_PATH_PREFIXES]
        if routes_logouts(stack):
            blocks += [f"    location = {path} {{\n{proxied}    }}\n" for path in LOGOUT_PATHS]
        header = (
            f"    # matrix-media-repo for {homeserver.name}: inside the server block(s) with "
            f"server_name {homeserver.proxied_host} (client and federation ports)\n"
        )
        snippets[homeserver.name] = header + "".join(blocks)
    return snippets


def render_caddy(stack: StackConfig, upstream_host_port: str) -> dict[str, str]:
    """Per homeserver: matchers and handles for the site block of its public host.

    Caddy sets ``X-Forwarded-Host`` to the client's Host before ``header_up`` runs
    (caddy ``modules/caddyhttp/reverseproxy/reverseproxy.go`` v2.6.2: ``prepareRequest``
    calls ``addForwardedHeaders``, line 668; the upstream's header ops apply later, line
    566), so it is set again here. ``handle`` sorts before ``reverse_proxy`` in Caddy's
    directive order, so Synapse's own ``reverse_proxy /_matrix/*`` never sees these paths.
    """
    snippets = {}
    for homeserver in stack.homeservers:
        matcher = re.sub(r"[^A-Za-z0-9]", "_", homeserver.name)
        proxied = (
            f"\t\treverse_proxy {upstream_host_port} {{\n"
            f"\t\t\theader_up Host {homeserver.name}\n"
            f"\t\t\theader_up X-Forwarded-Host {homeserver.name}\n"
            "\t\t}\n"
        )
        paths = " ".join(f"{prefix}*" for prefix in MEDIA_PATH_PREFIXES)
        if routes_logouts(stack):
            paths += " " + " ".join(LOGOUT_PATHS)
        snippets[homeserver.name] = (
            f"\t# matrix-media-repo for {homeserver.name}: inside the site block of {homeserver.proxied_host}\n"
            f"\t@mmr_{matcher} path {paths}\n"
            f"\thandle @mmr_{matcher} {{\n{proxied}\t}}\n"
        )
    return snippets


def traefik_labels(stack: StackConfig, service: str) -> dict[str, str]:
    """Docker labels for Traefik v3: one router per homeserver, sharing one service."""
    traefik = stack.proxy.traefik
    if not traefik.enabled:
        return {}
    labels = {
        "traefik.enable": "true",
        f"traefik.http.services.{service}.loadbalancer.server.port": str(stack.http.port),
    }
    if traefik.network:
        labels["traefik.docker.network"] = traefik.network
    rules = [f"PathPrefix(`{prefix}`)" for prefix in MEDIA_PATH_PREFIXES]
    if routes_logouts(stack):
        rules.append(f"PathRegexp(`{LOGOUT_PATH_REGEX}`)")
    for index, homeserver in enumerate(stack.homeservers):
        router = f"{service}-{index}"
        prefix = f"traefik.http.routers.{router}"
        labels[f"{prefix}.rule"] = f"Host(`{homeserver.proxied_host}`) && ({' || '.join(rules)})"
        labels[f"{prefix}.entrypoints"] = ",".join(traefik.entrypoints)
        labels[f"{prefix}.service"] = service
        labels[f"{prefix}.middlewares"] = f"{router}-host"
        # Traefik's headers middleware turns a custom "Host" request header into the request's Host
        # (pkg/middlewares/headers/header.go, modifyCustomRequestHeaders), and the service passes it on.
        middleware = f"traefik.http.middlewares.{router}-host.headers.customrequestheaders"
        labels[f"{middleware}.Host"] = homeserver.name
        labels[f"{middleware}.X-Forwarded-Host"] = homeserver.name
        if traefik.cert_resolver:
            labels[f"{prefix}.tls"] = "true"
            labels[f"{prefix}.tls.certresolver"] = traefik.cert_resolver
    return labels


def render_prometheus_scrape_config(job: str, target: str) -> str:
    """A ``scrape_configs`` entry for Prometheus, as YAML."""
    document = {
        "scrape_configs": [{"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}]
    }
    return yaml.safe_dump(document, sort_keys=False)
