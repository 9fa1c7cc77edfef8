"""The rendered reverse-proxy snippets inside Synapse-style sites, served by Debian's real nginx and Caddy.

Each proxy listens on 127.0.0.1 in front of two recording upstreams, also on
127.0.0.1: one plays MMR, one the homeserver. Requests carry the public host as
their Host header; no name is ever looked up. What arrives where is asserted:
media (and logouts while MMR caches tokens) at MMR with the server name as Host
and X-Forwarded-Host and the body whole, everything else at the homeserver.
The Prometheus scrape job goes through Debian's promtool.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config_schema import StackConfig, load_stack_config
from config_schema.reverse_proxy import render_caddy, render_nginx, render_prometheus_scrape_config
from tests.host_tools import require_tool

HOMESERVERS = [
    {"name": "example.org", "csApi": "http://synapse:8008", "publicHost": "matrix.example.org"},
    {"name": "example.com", "csApi": "http://synapse2:8008", "publicHost": "matrix.example.com"},
]
UPLOAD = os.urandom(3 * 1024 * 1024 // 2)  # 1.5 MiB: more than nginx and Caddy buffer in memory
MEDIA_REQUESTS = [
    ("GET", "/_matrix/media/v3/download/example.org/abcdef"),
    ("GET", "/_matrix/client/v1/media/download/example.org/abcdef"),
    ("GET", "/_matrix/federation/v1/media/download/abcdef"),
    ("GET", "/_matrix/media/v3/thumbnail/example.org/abcdef?width=96&height=96"),
]
LOGOUTS = ["/_matrix/client/v3/logout", "/_matrix/client/v3/logout/all", "/_matrix/client/r0/logout"]
HOMESERVER_PATHS = ["/_matrix/client/v3/sync", "/_matrix/client/versions", "/_synapse/client/password_reset"]


@dataclass
class Seen:
    method: str
    path: str
    host: str | None
    forwarded_host: str | None
    body_sha256: str


@dataclass
class Upstream:
    name: str
    port: int = 0
    seen: list[Seen] = field(default_factory=list)


def _start_upstream(upstream: Upstream) -> ThreadingHTTPServer:
    class Recorder(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            upstream.seen.append(
                Seen(
                    self.command,
                    self.path,
                    self.headers.get("Host"),
                    self.headers.get("X-Forwarded-Host"),
                    hashlib.sha256(body).hexdigest(),
                )
            )
            answer = upstream.name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = _record  # noqa: N815 - http.server's method names

        def log_message(self, *args: object) -> None: ...

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    upstream.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def upstreams() -> Iterator[tuple[Upstream, Upstream]]:
    mmr, homeserver = Upstream("mmr"), Upstream("homeserver")
    servers = [_start_upstream(mmr), _start_upstream(homeserver)]
    yield mmr, homeserver
    for server in servers:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the proxy exited with {process.returncode}: {log.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the proxy did not listen on {port}: {log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """By its pid: SIGTERM (nginx's fast shutdown, Caddy's graceful one), then SIGKILL."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _request(port: int, host: str, method: str, path: str, body: bytes | None = None) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers={"Host": host})
        response = connection.getresponse()
        answer = response.read().decode()
        assert response.status == 200, (method, path, response.status, answer)
        return answer
    finally:
        connection.close()


def _synapse_nginx_site(public_host: str, port: int, homeserver_port: int, snippet: str) -> str:
    """A server block as Synapse's docs/reverse_proxy.md gives it, with the rendered snippet after its regex."""
    return f"""
    server {{
        listen 127.0.0.1:{port};
        server_name {public_host};
        location ~ ^(/_matrix|/_synapse/client) {{
            proxy_pass http://127.0.0.1:{homeserver_port};
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Host $host;
            client_max_body_size 50M;
            proxy_http_version 1.1;
        }}
{snippet}
    }}
"""


def _run_nginx(tmp_path: Path, sites: str, port: int) -> subprocess.Popen[bytes]:
    nginx = str(require_tool("nginx"))
    for directory in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / directory).mkdir(mode=0o777)
        (tmp_path / directory).chmod(0o777)
    config = tmp_path / "nginx.conf"
    # As root, workers would run as nobody, who cannot reach pytest's 0700 temp directory to buffer uploads.
    user = "user root;" if os.geteuid() == 0 else ""
    config.write_text(
        f"""
{user}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
{sites}
}}
"""
    )
    log = tmp_path / "error.log"
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(config), "-e", str(log)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(config), "-e", str(log)])
    _wait_for_port(port, process, log)
    return process


def _run_caddy(tmp_path: Path, sites: str, port: int) -> subprocess.Popen[bytes]:
    caddy = str(require_tool("caddy"))
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text("{\n\tadmin off\n\tauto_https off\n}\n" + sites)
    log = tmp_path / "caddy.log"
    environment = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    _wait_for_port(port, process, log)
    return process


def _synapse_caddy_site(public_host: str, port: int, homeserver_port: int, snippet: str) -> str:
    """A site as Synapse's docs/reverse_proxy.md gives it, with the rendered snippet inside."""
    return (
        f"http://{public_host}:{port} {{\n\tbind 127.0.0.1\n"
        f"\treverse_proxy /_matrix/* 127.0.0.1:{homeserver_port}\n"
        f"\treverse_proxy /_synapse/client/* 127.0.0.1:{homeserver_port}\n"
        f"{snippet}}}\n"
    )


def _assert_routes(port: int, mmr: Upstream, homeserver: Upstream, *, caches_tokens: bool) -> None:
    for config in HOMESERVERS:
        server_name, public_host = config["name"], config["publicHost"]
        mmr.seen.clear()
        homeserver.seen.clear()
        for method, path in MEDIA_REQUESTS:
            assert _request(port, public_host, method, path) == "mmr", path
        assert _request(port, public_host, "POST", "/_matrix/media/v3/upload", UPLOAD) == "mmr"
        for path in LOGOUTS:
            expected = "mmr" if caches_tokens else "homeserver"
            assert _request(port, public_host, "POST", path, b"{}") == expected, path
        for path in HOMESERVER_PATHS:
            assert _request(port, public_host, "GET", path) == "homeserver", path
        # MMR sees the server name whichever header it reads, and the upload whole.
        assert {(seen.host, seen.forwarded_host) for seen in mmr.seen} == {(server_name, server_name)}
        upload = next(seen for seen in mmr.seen if seen.path == "/_matrix/media/v3/upload")
        assert upload.body_sha256 == hashlib.sha256(UPLOAD).hexdigest()
        assert len(mmr.seen) == len(MEDIA_REQUESTS) + 1 + len(LOGOUTS) * caches_tokens
        assert {seen.host.split(":")[0] for seen in homeserver.seen if seen.host} == {public_host}


@dataclass(frozen=True)
class Proxy:
    render: Callable[[StackConfig, str], dict[str, str]]
    upstream: str  # how the snippet names MMR's upstream, {port} filled in
    site: Callable[[str, int, int, str], str]
    run: Callable[[Path, str, int], subprocess.Popen[bytes]]


PROXIES = {
    "nginx": Proxy(render_nginx, "http://127.0.0.1:{port}", _synapse_nginx_site, _run_nginx),
    "caddy": Proxy(render_caddy, "127.0.0.1:{port}", _synapse_caddy_site, _run_caddy),
}


@pytest.mark.parametrize("caches_tokens", [True, False], ids=["token cache on", "token cache off"])
@pytest.mark.parametrize("proxy_name", sorted(PROXIES))
def test_the_proxy_sends_media_to_mmr_and_the_rest_to_synapse(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream], proxy_name: str, caches_tokens: bool
) -> None:
    proxy = PROXIES[proxy_name]
    mmr, homeserver = upstreams
    stack = load_stack_config(
        {"homeservers": HOMESERVERS, "accessTokens": {"maxCacheTimeSeconds": 43200 if caches_tokens else 0}}
    )
    snippets = proxy.render(stack, proxy.upstream.format(port=mmr.port))
    port = _free_port()
    sites = "".join(
        proxy.site(config["publicHost"], port, homeserver.port, snippets[config["name"]]) for config in HOMESERVERS
    )
    process = proxy.run(tmp_path, sites, port)
    try:
        _assert_routes(port, mmr, homeserver, caches_tokens=caches_tokens)
    finally:
        _stop(process)


def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    promtool = str(require_tool("promtool"))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 30s\n" + render_prometheus_scrape_config("mmr-prod", "127.0.0.1:9000")
    )
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
