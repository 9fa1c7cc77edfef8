"""The ``docker`` provider plugin the real engine runs in this tier: tests/docker_replay.py behind the real protocol.

Create, Delete and the replace rules are the replay's, each step cited there against
terraform-provider-docker v4.5.0 (``internal/provider/resource_docker_container_funcs.go``); the Docker engine is
real. Read (``pulumi refresh``) reports what the engine says of the fields a refresh has changed on a real
provider (the capabilities, ``../shared/upstream/pulumi/real-engine.md``) and whether the resource still exists;
every other field is kept as it was written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import docker
import docker.tls

from tests.docker_replay import (
    CONTAINER,
    IMAGE,
    NETWORK,
    UPDATABLE,
    VOLUME,
    Applied,
    ApplyError,
    _integers,
    create,
    delete,
)
from tests.pulumi_harness import unwrap_secrets
from tests.real_engine.provider_server import Provider, ProviderError, serve

# The version pulumi_docker's pulumi-plugin.json names: the engine loads exactly this one.
VERSION = "5.2.0"


def _changed(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    old, new = _sets_sorted(old), _sets_sorted(new)
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def _sets_sorted(inputs: dict[str, Any]) -> dict[str, Any]:
    """The capabilities' ``adds`` and ``drops`` are sets in the provider's schema (``schema.TypeSet`` in
    resource_docker_container.go), so their order is no change; the engine's state keeps the order it was given."""
    capabilities = inputs.get("capabilities")
    if not isinstance(capabilities, dict):
        return inputs
    return {**inputs, "capabilities": {key: sorted(value) for key, value in capabilities.items()}}


class DockerProvider(Provider):
    name = "docker"
    version = VERSION

    def __init__(self) -> None:
        self._client: docker.APIClient | None = None
        self._settings: dict[str, str] = {}

    def configure(self, settings: dict[str, Any]) -> None:
        """``docker:host`` and the TLS materials, as the real provider takes them (it writes the PEMs to files and
        hands their paths to the Docker client: internal/provider/config.go ``buildHTTPClientFromBytes``)."""
        self._settings = {key: value for key, value in settings.items() if isinstance(value, str) and value}

    @property
    def client(self) -> docker.APIClient:
        if self._client is None:
            settings = self._settings
            host = settings.get("host") or os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            tls: docker.tls.TLSConfig | bool = False
            if host.startswith("tcp://") and "caMaterial" in settings:
                directory = Path(tempfile.mkdtemp(prefix="docker-provider-tls-"))
                for name, key in (("ca.pem", "caMaterial"), ("cert.pem", "certMaterial"), ("key.pem", "keyMaterial")):
                    (directory / name).write_text(settings[key])
                (directory / "key.pem").chmod(0o600)
                tls = docker.tls.TLSConfig(
                    client_cert=(str(directory / "cert.pem"), str(directory / "key.pem")),
                    ca_cert=str(directory / "ca.pem"),
                    verify=True,
                )
                # requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace a session's own CA (psf/requests#3829),
                # from this plugin's first request on; the real provider trusts the stack's caMaterial alone.
                for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                    os.environ.pop(variable, None)
            self._client = docker.APIClient(base_url=host, version="auto", timeout=300, tls=tls)
        return self._client

    def diff(self, type_token: str, old_inputs: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], bool]:
        changed = _changed(_integers(unwrap_secrets(old_inputs)), _integers(unwrap_secrets(news)))
        if type_token == IMAGE:
            replaces = changed & {"name"}
        elif type_token == CONTAINER:
            replaces = changed - UPDATABLE
        else:
            replaces = changed
        return sorted(replaces), bool(changed)

    def create(self, type_token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        try:
            applied = create(self.client, type_token, name, unwrap_secrets(inputs))
        except ApplyError as error:
            raise ProviderError(str(error)) from None
        except docker.errors.APIError as error:
            raise ProviderError(f"{type_token} {name}: {error.explanation or error}") from None
        return applied.resource_id, applied.outputs

    def update(self, type_token: str, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        if type_token != CONTAINER:
            raise ProviderError(f"{type_token} cannot be updated in place")
        plain = _integers(unwrap_secrets(news))
        mebibyte = 1024 * 1024
        # The fields the replay's UPDATABLE names (funcs.go 1013-1016 there), applied to the running container.
        self.client.update_container(
            resource_id,
            mem_limit=plain["memory"] * mebibyte if plain.get("memory") else None,
            memswap_limit=plain["memorySwap"] * mebibyte if plain.get("memorySwap", 0) > 0 else plain.get("memorySwap"),
            mem_reservation=plain["memoryReservation"] * mebibyte if plain.get("memoryReservation") else None,
            cpu_shares=plain.get("cpuShares"),
            cpuset_cpus=plain.get("cpuSet"),
            restart_policy={"Name": plain.get("restart", "no"), "MaximumRetryCount": plain.get("maxRetryCount", 0)},
        )
        return {**olds, **news}

    def read(
        self, type_token: str, resource_id: str, outputs: dict[str, Any], inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        inspect = {
            CONTAINER: self.client.inspect_container,
            VOLUME: self.client.inspect_volume,
            NETWORK: self.client.inspect_network,
            IMAGE: self.client.inspect_image,
        }[type_token]
        try:
            found = inspect(resource_id)
        except docker.errors.NotFound:
            return "", {}, {}
        if type_token == CONTAINER and "capabilities" in inputs:
            host = found["HostConfig"]
            read_back = {"adds": sorted(host.get("CapAdd") or []), "drops": sorted(host.get("CapDrop") or [])}
            read_back = {key: value for key, value in read_back.items() if value}
            outputs, inputs = {**outputs, "capabilities": read_back}, {**inputs, "capabilities": read_back}
        return resource_id, outputs, inputs

    def delete(self, type_token: str, resource_id: str, outputs: dict[str, Any]) -> None:
        plain = _integers(unwrap_secrets(outputs))
        try:
            if type_token == VOLUME:
                # resource_docker_volume.go: VolumeRemove, retried while a container still holds it.
                self.client.remove_volume(resource_id)
            else:
                delete(self.client, Applied(type_token, plain, resource_id, plain))
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            raise ProviderError(f"{type_token} {resource_id}: {error.explanation or error}") from None


if __name__ == "__main__":
    serve(DockerProvider())
