"""What a reverse proxy in front of MMR needs: the routes, for nginx, Caddy and Traefik, and a Prometheus job.

MMR answers only requests whose Host (or X-Forwarded-Host) is a homeserver's
name, so every snippet sets it to that name, whatever host the proxy serves.
"""

from __future__ import annotations

import yaml

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


def routes_logouts(stack: StackConfig) -> bool:
    return stack.access_tokens.max_cache_time_seconds > 0


def _body_limit(stack: StackConfig) -> str:
    # A little above MMR's own limit, so that MMR, not the proxy, answers "too large".
    max_bytes = stack.uploads.max_bytes if stack.uploads.max_bytes is not None else 104857600
    return f"{max_bytes // (1024 * 1024) + 1}M" if max_bytes else "0"


def render_nginx(stack: StackConfig, upstream: str) -> dict[str, str]:
    """Per homeserver: ``location`` blocks for its server blocks (client and federation)."""
    snippets = {}
    for homeserver in stack.homeservers:
        proxied = (
            f"        proxy_pass {upstream};\n"
            f"        proxy_set_header Host {homeserver.name};\n"
            "        proxy_set_header X-Forwarded-For $remote_addr;\n"
            "        proxy_set_header X-Forwarded-Proto $scheme;\n"
            f"        client_max_body_size {_body_limit(stack)};\n"
            "        proxy_read_timeout 120s;\n"
        )
        blocks = [f"    location {prefix} {{\n{proxied}    }}\n" for prefix in MEDIA_PATH_PREFIXES]
        if routes_logouts(stack):
            blocks.append(f"    location ~ {LOGOUT_PATH_REGEX} {{\n{proxied}    }}\n")
        header = (
            f"    # matrix-media-repo for {homeserver.name}: inside every server block that serves "
            f"{homeserver.name}'s client and federation APIs\n"
        )
        snippets[homeserver.name] = header + "".join(blocks)
    return snippets


def render_caddy(stack: StackConfig, upstream_host_port: str) -> dict[str, str]:
    """Per homeserver: matchers and handles for its site blocks (client and federation)."""
    snippets = {}
    for homeserver in stack.homeservers:
        proxied = f"\t\treverse_proxy {upstream_host_port} {{\n\t\t\theader_up Host {homeserver.name}\n\t\t}}\n"
        paths = " ".join(f"{prefix}*" for prefix in MEDIA_PATH_PREFIXES)
        text = (
            f"\t# matrix-media-repo for {homeserver.name}: inside every site block that serves "
            f"{homeserver.name}'s client and federation APIs\n"
            f"\t@matrix_media path {paths}\n"
            f"\thandle @matrix_media {{\n{proxied}\t}}\n"
        )
        if routes_logouts(stack):
            text += f"\t@matrix_logout path_regexp {LOGOUT_PATH_REGEX}\n\thandle @matrix_logout {{\n{proxied}\t}}\n"
        snippets[homeserver.name] = text
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
        host = traefik.host or homeserver.name.split(":")[0]
        prefix = f"traefik.http.routers.{router}"
        labels[f"{prefix}.rule"] = f"Host(`{host}`) && ({' || '.join(rules)})"
        labels[f"{prefix}.entrypoints"] = ",".join(traefik.entrypoints)
        labels[f"{prefix}.service"] = service
        labels[f"{prefix}.middlewares"] = f"{router}-host"
        labels[f"traefik.http.middlewares.{router}-host.headers.customrequestheaders.X-Forwarded-Host"] = (
            homeserver.name
        )
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
