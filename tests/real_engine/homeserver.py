"""Real Synapse on its own Postgres, and moto's S3 server, as containers on a network ``synapse_default``.

That is where an operator's Synapse lives when it runs from its Compose file, and what ``docker.networks`` is
for: MMR and its importer join the network, so ``synapse``, ``synapse-postgres`` and ``moto`` resolve from them.
Requests to these servers, and to MMR, are made by python inside the ``synapse`` container (urllib), so the
tests need no route into the tier's network namespace.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import yaml

from tests.python_servers_image import PYTHON_SERVERS_IMAGE, venv_python
from tests.standin_images import POSTGRES_IMAGE

NETWORK = "synapse_default"
SERVER_NAME = "example.org"
SYNAPSE_URL = "http://synapse:8008"
S3_ENDPOINT = "moto:5000"
S3_BUCKET = "matrix-media"
_STARTUP_SECONDS = 120


@dataclass(frozen=True)
class Homeserver:
    """The running servers, and what the tests need to reach them."""

    client: docker.APIClient
    config_dir: Path
    database_password: str
    user_token: str

    def python(self, code: str, *arguments: str) -> Any:
        """Runs ``code`` in the synapse container and returns the JSON it prints last."""
        command = [str(venv_python()), "-c", code, *arguments]
        run = self.client.exec_create("synapse", command)
        output = self.client.exec_start(run["Id"]).decode()
        status = self.client.exec_inspect(run["Id"])["ExitCode"]
        if status != 0:
            raise AssertionError(f"python in the synapse container failed ({status}):\n{output}")
        return json.loads(output.strip().splitlines()[-1])

    def upload(self, base_url: str, bodies: list[bytes], *, host: str = SERVER_NAME) -> list[str]:
        """Uploads each body as the test user to ``base_url``; the mxc:// URIs, in order."""
        return self.python(_UPLOAD, base_url, host, self.user_token, json.dumps([body.hex() for body in bodies]))

    def download(self, base_url: str, mxc: str, *, host: str = SERVER_NAME) -> bytes:
        """The bytes ``base_url`` serves for ``mxc``, as the test user, by the authenticated client API."""
        return bytes.fromhex(self.python(_DOWNLOAD, base_url, host, self.user_token, mxc))

    def reconfigure_synapse(self, **settings: Any) -> None:
        """``settings`` into Synapse's homeserver.yaml, then a restart, as an operator makes a change there."""
        path = self.config_dir / "homeserver.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **settings}))
        self.client.restart("synapse", timeout=30)
        _wait_for(self.client, "synapse", [str(venv_python()), "-c", _HEALTHY])

    def bucket_keys(self) -> list[str]:
        """Every object key in moto's bucket."""
        return self.python(_LIST_BUCKET, f"http://{S3_ENDPOINT}", S3_BUCKET)


_HEALTHY = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8008/health')"
_REQUEST = """
import json, sys, urllib.request
def request(method, url, host, token, body=None, content_type=None):
    headers = {"Host": host}
    if token:
        headers["Authorization"] = "Bearer " + token
    if content_type:
        headers["Content-Type"] = content_type
    prepared = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(prepared, timeout=60) as answer:
        return answer.read()
"""
_UPLOAD = (
    _REQUEST
    + """
base, host, token, bodies = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
uris = []
for body in bodies:
    answer = request("POST", base + "/_matrix/media/v3/upload?filename=item.bin", host, token, bytes.fromhex(body),
                     "application/octet-stream")
    uris.append(json.loads(answer)["content_uri"])
print(json.dumps(uris))
"""
)
_DOWNLOAD = (
    _REQUEST
    + """
base, host, token, mxc = sys.argv[1:5]
print(json.dumps(request("GET", base + "/_matrix/client/v1/media/download/" + mxc[len("mxc://"):], host, token).hex()))
"""
)
_LIST_BUCKET = """
import json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")
if len(sys.argv) > 3:
    s3.create_bucket(Bucket=sys.argv[2])
pages = s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2])
print(json.dumps([item["Key"] for page in pages for item in page.get("Contents", [])]))
"""
_LOGIN = (
    _REQUEST
    + """
base, user, password = sys.argv[1:4]
body = json.dumps({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                   "password": password}).encode()
print(json.dumps(json.loads(request("POST", base + "/_matrix/client/v3/login", "synapse", None, body,
                                    "application/json"))["access_token"]))
"""
)


def start_homeserver(client: docker.APIClient, workdir: Path) -> Homeserver:
    """Synapse (media repository on, authenticated media off: what the importer needs), its Postgres, and moto."""
    client.create_network(NETWORK, driver="bridge")
    config_dir = workdir / "synapse"
    config_dir.mkdir()
    password = secrets.token_urlsafe(24)
    (config_dir / "postgres-password").write_text(password)
    _run(
        client,
        "synapse-postgres",
        POSTGRES_IMAGE,
        None,
        environment={"POSTGRES_USER": "synapse", "POSTGRES_DB": "postgres", "POSTGRES_PASSWORD_FILE": "/run/password"},
        binds={str(config_dir / "postgres-password"): {"bind": "/run/password", "mode": "ro"}},
    )
    _wait_for(client, "synapse-postgres", ["pg_isready", "-h", "127.0.0.1", "-U", "synapse"])
    # Synapse refuses a database that is not UTF8 with C collation; the entrypoint's initdb takes the C locale.
    _exec(
        client,
        "synapse-postgres",
        [
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "synapse",
            "-d",
            "postgres",
            "-c",
            "CREATE DATABASE synapse ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
        ],
    )
    _write_synapse_config(config_dir, password)
    python = str(venv_python())
    binds = {str(config_dir): {"bind": str(config_dir), "mode": "rw"}}
    _run(
        client,
        "synapse",
        PYTHON_SERVERS_IMAGE,
        ["-m", "synapse.app.homeserver", "-c", str(config_dir / "homeserver.yaml")],
        binds=binds,
    )
    _run(client, "moto", PYTHON_SERVERS_IMAGE, ["-m", "moto.server", "-H", "0.0.0.0", "-p", "5000"])
    _wait_for(
        client,
        "synapse",
        [python, "-c", _HEALTHY],
    )
    _wait_for(client, "moto", [python, "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/')"])
    user_password = secrets.token_urlsafe(16)
    _exec(
        client,
        "synapse",
        [
            python,
            "-m",
            "synapse._scripts.register_new_matrix_user",
            "-c",
            str(config_dir / "homeserver.yaml"),
            "-u",
            "alice",
            "-p",
            user_password,
            "--no-admin",
            "http://127.0.0.1:8008",
        ],
    )
    homeserver = Homeserver(client, config_dir, password, "")
    token = homeserver.python(_LOGIN, "http://127.0.0.1:8008", "alice", user_password)
    homeserver = Homeserver(client, config_dir, password, token)
    homeserver.python(_LIST_BUCKET, f"http://{S3_ENDPOINT}", S3_BUCKET, "create")
    return homeserver


def stop_homeserver(client: docker.APIClient) -> None:
    for name in ("synapse", "moto", "synapse-postgres"):
        client.remove_container(name, force=True, v=True)
    # A test that failed before its destroy leaves MMR's containers on the network.
    for container in client.inspect_network(NETWORK)["Containers"] or {}:
        client.disconnect_container_from_network(container, NETWORK, force=True)
    client.remove_network(NETWORK)


def _write_synapse_config(config_dir: Path, password: str) -> None:
    """Synapse's generated config, then the settings a Compose deployment beside MMR has."""
    subprocess.run(
        [
            str(venv_python()),
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            SERVER_NAME,
            "--report-stats=no",
            "--generate-config",
            "--config-path",
            str(config_dir / "homeserver.yaml"),
            "--data-directory",
            str(config_dir),
        ],
        check=True,
        capture_output=True,
        cwd=config_dir,
    )
    config = yaml.safe_load((config_dir / "homeserver.yaml").read_text())
    config.update(
        {
            "listeners": [
                {
                    "port": 8008,
                    "bind_addresses": ["0.0.0.0"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": True,
                    "resources": [{"names": ["client", "federation"], "compress": False}],
                }
            ],
            "database": {
                "name": "psycopg2",
                "args": {
                    "user": "synapse",
                    "password": password,
                    "dbname": "synapse",
                    "host": "synapse-postgres",
                    "cp_min": 1,
                    "cp_max": 5,
                },
            },
            # import_synapse downloads by the legacy unauthenticated path (docs/operations.md "Importing media").
            "enable_authenticated_media": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "rc_login": {
                "address": {"per_second": 100, "burst_count": 100},
                "account": {"per_second": 100, "burst_count": 100},
            },
        }
    )
    (config_dir / "homeserver.yaml").write_text(yaml.safe_dump(config))


def _run(
    client: docker.APIClient,
    name: str,
    image: str,
    command: list[str] | None,
    *,
    environment: dict[str, str] | None = None,
    binds: dict[str, dict[str, str]] | None = None,
) -> None:
    host_config = client.create_host_config(binds=binds or {}, network_mode=NETWORK)
    networking = client.create_networking_config({NETWORK: client.create_endpoint_config(aliases=[name])})
    container = client.create_container(
        image, command, name=name, environment=environment, host_config=host_config, networking_config=networking
    )
    client.start(container["Id"])


def _exec(client: docker.APIClient, container: str, command: list[str]) -> str:
    run = client.exec_create(container, command)
    output = client.exec_start(run["Id"]).decode()
    status = client.exec_inspect(run["Id"])["ExitCode"]
    if status != 0:
        raise AssertionError(f"{' '.join(command)} in {container} failed ({status}):\n{output}")
    return output


def _wait_for(client: docker.APIClient, container: str, probe: list[str]) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while True:
        run = client.exec_create(container, probe)
        output = client.exec_start(run["Id"]).decode()
        if client.exec_inspect(run["Id"])["ExitCode"] == 0:
            return
        if time.monotonic() > deadline or not client.inspect_container(container)["State"]["Running"]:
            logs = client.logs(container, tail=40).decode(errors="replace")
            raise AssertionError(f"{container} did not come up: {output}\n{logs}")
        time.sleep(1)
