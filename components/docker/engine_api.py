"""The Docker Engine API version the docker provider will speak, asked of the engine before anything is declared.

The provider negotiates the API version with the engine (the Docker client's ``NegotiateAPIVersion``:
the lower of its own and the engine's), and the Docker client then refuses a field the negotiated version
lacks. A health check's ``start_interval`` needs 1.44: on Debian 12's docker.io 20.10 (API 1.41) every
container carrying one fails with ``"specify health-check start interval" requires API version 1.44``
(``../shared/upstream/pulumi/real-engine.md``). So the program sends it only to an engine that takes it.

The engine is found as the provider finds it: ``docker:host``, else ``DOCKER_HOST``, else the local
socket; over TLS when ``docker:certPath``/``DOCKER_CERT_PATH`` or the ``docker:*Material`` keys are set;
over SSH by running ``docker version`` on the host with ``docker:sshOpts``, which needs on the host what the
provider's own ``docker system dial-stdio`` needs (the ``docker`` CLI).
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pulumi

DEFAULT_HOST = "unix:///var/run/docker.sock"
TIMEOUT_SECONDS = 15
# The first API version whose engine takes a health check's StartInterval (moby api/types/container, 1.44).
START_INTERVAL_API = (1, 44)


class EngineUnreachableError(Exception):
    """The engine did not answer; the message says where it was looked for and why it failed."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT_SECONDS)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_SECONDS)
        self.sock.connect(self._path)


def _tls_context(config: pulumi.Config) -> ssl.SSLContext | None:
    """What the provider would present: ``*Material`` first, then a cert directory, or None for plain TCP."""
    materials = {name: config.get(f"{name}Material") for name in ("ca", "cert", "key")}
    cert_path = config.get("certPath") or os.environ.get("DOCKER_CERT_PATH")
    if not any(materials.values()) and not cert_path:
        return None
    context = ssl.create_default_context()
    with tempfile.TemporaryDirectory() as directory:
        files = {}
        for name, material in materials.items():
            if material:
                files[name] = Path(directory, f"{name}.pem")
                files[name].write_text(material)
            elif cert_path:
                files[name] = Path(cert_path, f"{name}.pem")
        if "ca" in files:
            context.load_verify_locations(cafile=str(files["ca"]))
        if "cert" in files and "key" in files:
            context.load_cert_chain(str(files["cert"]), str(files["key"]))
    return context


def _version_over_http(host: str, config: pulumi.Config) -> str:
    parts = urlsplit(host)
    if parts.scheme == "unix":
        connection: http.client.HTTPConnection = _UnixConnection(parts.path)
    elif parts.scheme in ("tcp", "http", "https"):
        context = _tls_context(config)
        port = parts.port or (2376 if context else 2375)
        if context or parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname or "", port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname or "", port, timeout=TIMEOUT_SECONDS)
    else:
        raise EngineUnreachableError(f"{host}: the scheme is none of unix://, tcp:// or ssh://")
    try:
        connection.request("GET", "/version")
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise EngineUnreachableError(f"{host}: {error}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise EngineUnreachableError(f"{host}: GET /version answered HTTP {response.status}")
    return json.loads(body)["ApiVersion"]


def _version_over_ssh(host: str, config: pulumi.Config) -> str:
    parts = urlsplit(host)
    destination = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname or ""
    command = ["ssh", "-o", "BatchMode=yes", *(config.get_object("sshOpts") or [])]
    if parts.port:
        command += ["-p", str(parts.port)]
    command += ["--", destination, "docker", "version", "--format", "{{.Server.APIVersion}}"]
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS * 4)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineUnreachableError(f"{host}: {error}") from None
    if finished.returncode != 0:
        last_line = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        raise EngineUnreachableError(f"{host}: `docker version` over ssh exited {finished.returncode}: {last_line}")
    return finished.stdout.strip()


def _parse(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def engine_api_version() -> tuple[int, int]:
    """(major, minor) of the engine's API; a pulumi.RunError naming ``docker:host`` when nothing answers."""
    return _asked(pulumi.Config("docker").get("host") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST)


@functools.lru_cache(maxsize=8)
def _asked(host: str) -> tuple[int, int]:
    """Once per host and run: the program asks for each container that has a health check."""
    config = pulumi.Config("docker")
    try:
        version = _version_over_ssh(host, config) if host.startswith("ssh://") else _version_over_http(host, config)
        return _parse(version)
    except EngineUnreachableError as error:
        raise pulumi.RunError(
            f"docker:host: no Docker engine answered at {error}. Start the engine there, or point the stack at "
            "the one it should use with `pulumi config set docker:host` and its unix://, tcp:// or ssh:// address"
        ) from None
    except (KeyError, ValueError):
        raise pulumi.RunError(f"docker:host: the engine at {host} reported no API version this program reads") from None


# The API version of an engine the program installs itself (a host it makes: docker.io from Debian 12 speaks
# 1.41), which cannot be asked before the host exists.
_installed_engine_api: tuple[int, int] | None = None


def assume_installed_engine(api_version: tuple[int, int] | None) -> None:
    """The engine is one this program installs (its API version is known, nothing is asked); None: ask it."""
    global _installed_engine_api  # one engine per program run
    _installed_engine_api = api_version


def healthcheck_start_interval(seconds: int) -> str | None:
    """``start_interval`` for an engine that takes it; None (the field left out) for an older one."""
    api_version = _installed_engine_api or engine_api_version()
    return f"{seconds}s" if api_version >= START_INTERVAL_API else None
