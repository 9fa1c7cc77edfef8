"""A real Kubernetes API server (kube-apiserver on etcd, both built from Go modules) on 127.0.0.1, for tests.

``running_control_plane(workdir)`` starts etcd and kube-apiserver from ``tests/real_tools/build.sh kube`` with
a static admin token, a self-signed serving certificate the API server makes itself (``--cert-dir``), a
service-account key made with openssl, and the admission plugins a default API server enables (Pod Security
among them). No controller manager, scheduler or kubelet runs here: objects are stored, judged by validation and
admission, defaulted and kept; no pod is created from them (tests/kube_nodes.py adds them). Both processes are
stopped by their pids.

``ControlPlane.apply(document)`` sends an object as a server-side apply, as pulumi-kubernetes does by default,
and returns the object the API server stored and the warnings it answered with.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.host_tools import require_tool
from tests.real_tools.tools import kube_bin_dir

FIELD_MANAGER = "pulumi-kubernetes"
_STARTUP_SECONDS = 120


class ApiError(AssertionError):
    """The API server refused a request; the message is its Status message."""


@dataclass
class ControlPlane:
    url: str
    token: str
    certificate_file: Path
    # Where its files are: the service-account signing key (service-account.key) among them.
    directory: Path
    _resources: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        answer, _ = self._send(method, path, body, content_type)
        return answer

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for this API server, as kubectl and the pulumi-kubernetes provider read one."""
        cluster = {"server": self.url, "certificate-authority": str(self.certificate_file)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "tests", "cluster": cluster}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "tests", "context": {"cluster": "tests", "user": "admin"}}],
            "current-context": "tests",
        }
        path.write_text(json.dumps(config))  # JSON is YAML
        path.chmod(0o600)
        return path

    def list(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        """The objects of ``kind`` in ``namespace`` as the API server stores them."""
        plural, namespaced = self._resource(api_version, kind)
        prefix = "/api/v1" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced:
            prefix += f"/namespaces/{namespace}"
        return self.request("GET", f"{prefix}/{plural}")["items"]

    def apply(self, document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Server-side apply of ``document``: what the API server stored, and its warnings."""
        plural, namespaced = self._resource(document["apiVersion"], document["kind"])
        metadata = document["metadata"]
        prefix = "/api/v1" if "/" not in document["apiVersion"] else f"/apis/{document['apiVersion']}"
        if namespaced:
            prefix += f"/namespaces/{metadata.get('namespace', 'default')}"
        path = f"{prefix}/{plural}/{metadata['name']}?fieldManager={FIELD_MANAGER}&force=true"
        return self._send("PATCH", path, document, "application/apply-patch+yaml")

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        if (api_version, kind) not in self._resources:
            listing = self.request("GET", "/api/v1" if "/" not in api_version else f"/apis/{api_version}")
            for resource in listing["resources"]:
                if "/" not in resource["name"]:
                    self._resources[(api_version, resource["kind"])] = (resource["name"], resource["namespaced"])
        return self._resources[(api_version, kind)]

    def _send(self, method: str, path: str, body: Any, content_type: str) -> tuple[Any, list[str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        # The API server makes its serving certificate at start, with the CA that signed it after it in the file.
        context = ssl.create_default_context(cafile=self.certificate_file)
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as answer:
                warnings = answer.headers.get_all("Warning") or []
                raw = answer.read()
                is_json = answer.headers.get_content_type() == "application/json"
                return (json.loads(raw) if is_json else raw.decode()), warnings
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                message = json.loads(raw).get("message", raw.decode(errors="replace"))
            except ValueError:  # /readyz and the like answer in plain text
                message = raw.decode(errors="replace")
            raise ApiError(f"{method} {path}: HTTP {error.code}: {message}") from None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_control_plane(workdir: Path) -> Iterator[ControlPlane]:
    bin_dir = kube_bin_dir()
    workdir.mkdir(parents=True, exist_ok=True)
    client_port, peer_port, secure_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{client_port}"
    token = secrets.token_urlsafe(32)
    (workdir / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")
    key, public_key = workdir / "service-account.key", workdir / "service-account.pub"
    openssl = str(require_tool("openssl"))
    subprocess.run([openssl, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(
        [openssl, "rsa", "-in", str(key), "-pubout", "-out", str(public_key)], check=True, capture_output=True
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with (workdir / "etcd.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "etcd"),
                        "--name=tests",
                        f"--data-dir={workdir / 'etcd'}",
                        f"--listen-client-urls={etcd_url}",
                        f"--advertise-client-urls={etcd_url}",
                        f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                        f"--initial-cluster=tests=http://127.0.0.1:{peer_port}",
                        "--listen-metrics-urls=",
                        "--log-level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        with (workdir / "kube-apiserver.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "kube-apiserver"),
                        f"--etcd-servers={etcd_url}",
                        "--bind-address=127.0.0.1",
                        "--advertise-address=127.0.0.1",
                        # The endpoint reconciler refuses a loopback address; no pod needs the Service "kubernetes".
                        "--endpoint-reconciler-type=none",
                        f"--secure-port={secure_port}",
                        f"--cert-dir={workdir / 'certificates'}",
                        f"--token-auth-file={workdir / 'tokens.csv'}",
                        "--authorization-mode=RBAC",
                        "--service-account-issuer=https://kubernetes.default.svc",
                        f"--service-account-key-file={public_key}",
                        f"--service-account-signing-key-file={key}",
                        "--service-cluster-ip-range=10.96.0.0/16",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        certificate = workdir / "certificates" / "apiserver.crt"
        plane = ControlPlane(f"https://127.0.0.1:{secure_port}", token, certificate, workdir)
        _wait_until_ready(plane, processes, workdir)
        yield plane
    finally:
        stop_processes(processes)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stops each process by its pid, the last started first; killed if it has not ended in 30 s."""
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(plane: ControlPlane, processes: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while True:
        try:
            if plane.request("GET", "/readyz") == "ok":
                return
        except (ApiError, OSError):
            pass
        stopped = [process for process in processes if process.poll() is not None]
        if stopped or time.monotonic() > deadline:
            logs = {
                name: (workdir / name).read_text(errors="replace")[-3000:]
                for name in ("etcd.log", "kube-apiserver.log")
            }
            raise AssertionError(f"the control plane did not come up: {logs}")
        time.sleep(1)
