"""The docker resources a program registers, applied to a real Docker engine the way the docker provider does.

Used as the provider behind Pulumi's mocks (``run_program(monitor_factory=...)``):
every ``docker:*`` registration is created on the daemon with the inputs exactly
as the program sent them, and the program gets the real outputs back (container
ids, exit codes, logs, volume labels). Everything else goes to the usual mocks.

Each step follows a line of terraform-provider-docker at v4.5.0
(``internal/provider/resource_docker_container_funcs.go``, "funcs.go" below).
State is kept across runs as the Pulumi engine keeps it: a second run with the
same inputs changes nothing, a changed container is replaced (deleted first when
the program asked for ``deleteBeforeReplace``, else created first), and what a
run no longer registers is deleted at its end.
"""

from __future__ import annotations

import io
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import docker
import pulumi

from tests.pulumi_harness import ProgramMocks, RecordingMonitor, unwrap_secrets

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
IMAGE = "docker:index/remoteImage:RemoteImage"
# Container inputs the provider updates in place (funcs.go lines 1013-1016, and must_run); any other change
# replaces the container, as every other field is ForceNew (resource_docker_container.go).
UPDATABLE = {"restart", "maxRetryCount", "cpuShares", "memory", "memoryReservation", "cpuSet", "memorySwap", "mustRun"}
# Outputs the provider computes, which are not inputs.
COMPUTED = {"exitCode", "containerLogs", "id", "networkData", "bridge"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


# The API versions below which the provider refuses a field (funcs.go 219-225), or the Docker client does.
VOLUME_OPTIONS_API = (1, 45)
START_INTERVAL_API = (1, 44)


def engine_api(client: docker.APIClient) -> tuple[int, int]:
    """The version the provider negotiates: the engine's, up to its client's own, which is at least 1.45
    (its volume_options went through on Docker 28, ../shared/upstream/pulumi/real-engine.md)."""
    major, minor = (int(part) for part in client.version()["ApiVersion"].split(".")[:2])
    return major, minor


class ApplyError(Exception):
    """What the provider would have reported for this resource: the `pulumi up` fails."""


def go_duration_ns(text: str) -> int:
    """time.ParseDuration for the forms the program writes; the provider ignores a parse error (funcs.go 155-165)."""
    if not text or _DURATION.sub("", text):
        return 0
    return sum(int(float(value) * _UNIT_NS[unit]) for value, unit in _DURATION.findall(text))


def go_client_capabilities(names: list[str] | None) -> list[str] | None:
    """What the provider's Docker Go client sends for ``CapAdd``/``CapDrop``: each name upper-cased with ``CAP_``
    put in front (but ``ALL``), duplicates dropped, sorted (github.com/docker/docker v28.5.2
    ``client/container_create.go`` lines 72-73, ``normalizeCapabilities`` and ``normalizeCap`` 139-154). The
    engine stores what it is sent, and every refresh writes that list back into the state
    (terraform-provider-docker v4.5.0 ``resource_docker_container_funcs.go`` 870-877), so a name the program
    gives in another form differs from the state after a refresh, and ``capabilities`` forces a replacement."""
    if not names:
        return None
    upper = (name.upper() for name in names)
    return sorted({name if name == "ALL" else "CAP_" + name.removeprefix("CAP_") for name in upper})


@dataclass
class Applied:
    type: str
    inputs: dict[str, Any]
    resource_id: str
    outputs: dict[str, Any]


@dataclass
class EngineState:
    """What the engine has applied, by (type, name): Pulumi's state file for this replay."""

    client: docker.APIClient
    resources: dict[tuple[str, str], Applied] = field(default_factory=dict)
    registered: set[tuple[str, str]] = field(default_factory=set)
    delete_before_replace: dict[tuple[str, str], bool] = field(default_factory=dict)
    ignore_changes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    replaced_later: list[Applied] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def finish_run(self) -> None:
        """Pulumi's last steps: old halves of create-first replacements, then what the run no longer declares."""
        for old in self.replaced_later:
            delete(self.client, old)
        self.replaced_later.clear()
        for key in [key for key in self.resources if key not in self.registered]:
            delete(self.client, self.resources.pop(key))
        self.registered.clear()


class EngineMocks(ProgramMocks):
    def __init__(self, state: EngineState, overrides: Any = None) -> None:
        super().__init__(overrides)
        self.state = state

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if not args.typ.startswith("docker:"):
            return super().new_resource(args)
        key = (args.typ, args.name)
        # The provider receives secrets decrypted.
        inputs = unwrap_secrets(dict(args.inputs))
        with self.state.lock:
            self.state.registered.add(key)
            old = self.state.resources.get(key)
        if old is not None:
            # The engine diffs with the old value of each ignored property in place of the new one
            # (pulumi/pulumi pkg/resource/deploy/step_generator.go processIgnoreChanges, line 3076 at 1b59498);
            # the program ignores top-level keys only.
            for ignored in self.state.ignore_changes.get(key, []):
                if ignored in old.inputs:
                    inputs[ignored] = old.inputs[ignored]
                else:
                    inputs.pop(ignored, None)
        if old is not None and not _replaces(args.typ, old.inputs, inputs):
            return old.resource_id, old.outputs
        if old is not None and self.state.delete_before_replace.get(key):
            delete(self.state.client, old)
        try:
            applied = create(self.state.client, args.typ, args.name, inputs)
        except docker.errors.APIError as error:
            raise ApplyError(f"{args.typ} {args.name}: {error.explanation or error}") from None
        if old is not None and not self.state.delete_before_replace.get(key):
            self.state.replaced_later.append(old)
        with self.state.lock:
            self.state.resources[key] = applied
        return applied.resource_id, applied.outputs


class EngineMonitor(RecordingMonitor):
    """Records like ``RecordingMonitor`` and hands each registration's replace ordering to the engine."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        assert isinstance(mocks, EngineMocks)
        self.engine_mocks = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        key = (request.type, request.name)
        self.engine_mocks.state.delete_before_replace[key] = bool(request.deleteBeforeReplace)
        self.engine_mocks.state.ignore_changes[key] = list(request.ignoreChanges)
        return super().RegisterResource(request)


def _replaces(type_token: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    if type_token == IMAGE:
        return old.get("name") != new.get("name")
    changed = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    return bool(changed - UPDATABLE) if type_token == CONTAINER else bool(changed)


def create(client: docker.APIClient, type_token: str, name: str, inputs: dict[str, Any]) -> Applied:
    if type_token == NETWORK:
        # resource_docker_network_funcs.go: NetworkCreate with the driver (bridge by default) and internal.
        network = client.create_network(
            inputs["name"], driver=inputs.get("driver", "bridge"), internal=bool(inputs.get("internal"))
        )
        return Applied(type_token, inputs, network["Id"], {**inputs, "id": network["Id"]})
    if type_token == VOLUME:
        # resource_docker_volume.go: VolumeCreate with name, labels and driver; labels read back at line 309.
        labels = {item["label"]: item["value"] for item in inputs.get("labels") or []}
        volume = client.create_volume(inputs["name"], driver=inputs.get("driver", "local"), labels=labels or None)
        read_back = [{"label": key, "value": value} for key, value in (volume.get("Labels") or {}).items()]
        return Applied(type_token, inputs, volume["Name"], {**inputs, "labels": read_back})
    if type_token == IMAGE:
        # No registry here: the stand-in tagged with the program's reference plays the pulled image.
        image = client.inspect_image(inputs["name"])
        return Applied(
            type_token, inputs, image["Id"], {**inputs, "imageId": image["Id"], "repoDigest": inputs["name"]}
        )
    if type_token == CONTAINER:
        return create_container(client, inputs)
    raise ApplyError(f"no replay for {type_token}")


def _integers(value: Any) -> Any:
    """Numbers reach the provider as protobuf doubles; its schema makes the whole ones ints again."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers(item) for item in value]
    return value


def create_container(client: docker.APIClient, inputs: dict[str, Any]) -> Applied:
    """resourceDockerContainerCreate (funcs.go lines 43-680), step by step."""
    inputs = _integers(inputs)
    # funcs.go 83-89: an empty command value is refused before anything is created.
    command = inputs.get("command")
    if command and "" in command:
        raise ApplyError(f"container {inputs['name']}: values for command may not be empty")
    ports, bindings = [], {}
    for port in inputs.get("ports") or []:  # funcs.go 98-103, portSetToDockerPorts
        key = f"{port['internal']}/{port.get('protocol', 'tcp')}"
        # (port, protocol): docker-py appends "/tcp" to a string itself, which exposed "9000/tcp/tcp", so a
        # port the image does not EXPOSE was never published (found by tests/test_real_pulumi.py).
        ports.append((port["internal"], port.get("protocol", "tcp")))
        bindings[key] = [(port.get("ip", "0.0.0.0"), port.get("external"))]
    binds, volume_paths = [], []
    for volume in inputs.get("volumes") or []:  # funcs.go 117-127, volumeSetToDockerVolumes
        mode = ":ro" if volume.get("readOnly") else ""
        binds.append(f"{volume.get('volumeName') or volume.get('hostPath')}:{volume['containerPath']}{mode}")
        volume_paths.append(volume["containerPath"])
    api = engine_api(client)
    mounts = []
    for mount in inputs.get("mounts") or []:  # funcs.go 176-252
        options = mount.get("volumeOptions") or {}
        if mount.get("volumeOptions") is not None and api < VOLUME_OPTIONS_API:  # funcs.go 219-225
            raise ApplyError("Setting VolumeOptions.Subpath requires docker version 1.45 or higher")
        mounts.append(
            docker.types.Mount(
                target=mount["target"],
                source=mount.get("source"),
                type=mount["type"],
                read_only=bool(mount.get("readOnly")),
                no_copy=bool(options.get("noCopy")),
            )
        )
    healthcheck = None
    if check := inputs.get("healthcheck"):  # funcs.go 143-170: durations through time.ParseDuration
        healthcheck = {
            "Test": check["tests"],
            "Interval": go_duration_ns(check.get("interval", "")),
            "Timeout": go_duration_ns(check.get("timeout", "")),
            "StartPeriod": go_duration_ns(check.get("startPeriod", "")),
            "StartInterval": go_duration_ns(check.get("startInterval", "")),
            "Retries": check.get("retries", 0),
        }
        # The Docker client's own check (moby client/container_create.go), at the version the provider negotiated.
        if healthcheck["StartInterval"] and api < START_INTERVAL_API:
            raise ApplyError(
                f'container {inputs["name"]}: Error response from daemon: "specify health-check start interval" '
                f"requires API version 1.44, but the Docker daemon API version is {api[0]}.{api[1]}"
            )
    capabilities = inputs.get("capabilities") or {}
    mebibyte = 1024 * 1024
    memory_swap = inputs.get("memorySwap")  # funcs.go 342-347: MiB, or -1 (unlimited) as it is
    host_config = client.create_host_config(  # funcs.go 254-440
        # funcs.go 261-262 and 387-388: the driver, and its options as strings; the daemon's default without.
        log_config=docker.types.LogConfig(type=inputs["logDriver"], config=inputs.get("logOpts") or {})
        if inputs.get("logDriver")
        else None,
        mem_limit=inputs["memory"] * mebibyte if inputs.get("memory") else None,  # funcs.go 334-336
        memswap_limit=(memory_swap * mebibyte if memory_swap > 0 else memory_swap) if memory_swap else None,
        binds=binds or None,
        mounts=mounts or None,
        tmpfs=inputs.get("tmpfs") or None,
        read_only=bool(inputs.get("readOnly")),
        cap_add=go_client_capabilities(capabilities.get("adds")),
        cap_drop=go_client_capabilities(capabilities.get("drops")),
        security_opt=inputs.get("securityOpts"),
        port_bindings=bindings or None,
        restart_policy={"Name": inputs.get("restart", "no"), "MaximumRetryCount": inputs.get("maxRetryCount", 0)},
        extra_hosts={host["host"]: host["ip"] for host in inputs.get("hosts") or []} or None,
        network_mode=inputs.get("networkMode"),
        init=bool(inputs.get("init", False)),
    )
    labels = {item["label"]: item["value"] for item in inputs.get("labels") or []}
    config = client.create_container_config(
        inputs["image"],
        command=command,
        entrypoint=inputs.get("entrypoints"),
        user=inputs.get("user"),
        environment=inputs.get("envs"),
        working_dir=inputs.get("workingDir"),
        labels=labels or None,
        ports=ports or None,
        volumes=volume_paths or None,
        stop_timeout=inputs.get("stopTimeout"),
        host_config=host_config,
    )
    # Set here: docker-py's Healthcheck type drops StartInterval.
    config["Healthcheck"] = healthcheck
    created = client.create_container_from_config(config, name=inputs["name"])  # funcs.go 442
    container_id = created["Id"]
    applied = Applied(CONTAINER, inputs, container_id, {**inputs, "id": container_id})
    try:
        _connect_networks(client, container_id, inputs)
        _upload(client, container_id, inputs)
        _start_and_wait(client, container_id, inputs, applied.outputs)
    except docker.errors.APIError as error:
        raise ApplyError(f"container {inputs['name']}: {error.explanation or error}") from None
    # funcs.go 680, then the read: exit_code once the container no longer runs (line 816).
    state = client.inspect_container(container_id)["State"]
    if not state["Running"]:
        applied.outputs["exitCode"] = state["ExitCode"]
    return applied


def _connect_networks(client: docker.APIClient, container_id: str, inputs: dict[str, Any]) -> None:
    networks = inputs.get("networksAdvanced")
    if not networks:
        return
    # funcs.go 451-456: leave the default bridge (a daemon started with --bridge=none has none to leave).
    try:
        client.disconnect_container_from_network(container_id, "bridge")
    except docker.errors.APIError as error:
        if "is not connected to the network bridge" not in str(error) and "not found" not in str(error):
            raise
    for network in networks:  # funcs.go 458-491
        client.connect_container_to_network(container_id, network["name"], aliases=network.get("aliases"))


def _upload(client: docker.APIClient, container_id: str, inputs: dict[str, Any]) -> None:
    """funcs.go 494-580: each upload a one-entry tar named by the file's full path, extracted at "/"."""
    for upload in inputs.get("uploads") or []:
        content = upload["content"].encode()
        executable_mode = 0o744 if upload.get("executable") else 0o644
        mode = int(upload["permissions"], 8) if upload.get("permissions") else executable_mode
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            # No Uid/Gid in the provider's tar.Header (lines 559-564): the entry is root's.
            header = tarfile.TarInfo(upload["file"])
            header.mode, header.size, header.mtime = mode, len(content), int(time.time())
            tar.addfile(header, io.BytesIO(content))
        client.put_archive(container_id, "/", buffer.getvalue())


def _start_and_wait(client: docker.APIClient, container_id: str, inputs: dict[str, Any], outputs: dict) -> None:
    if not inputs.get("start", True):
        return
    client.start(container_id)  # funcs.go 583-587
    if inputs.get("wait"):  # funcs.go 589-629: poll until healthy, or fail after wait_timeout
        deadline = time.monotonic() + inputs.get("waitTimeout", 60)
        while time.monotonic() < deadline:
            state = client.inspect_container(container_id)["State"]
            if "Health" not in state:
                raise ApplyError(f"container {inputs['name']}: 'wait' without a healthcheck")
            if state["Health"]["Status"] == "healthy":
                break
            # The provider keeps polling a crash-looping container until wait_timeout; failing at the
            # first restart reaches the same outcome minutes earlier.
            if state["Restarting"] or state["Status"] == "exited":
                logs = client.logs(container_id, stdout=True, stderr=True).decode()[-2000:]
                raise ApplyError(f"container {inputs['name']}: container failed to be in healthy state: {logs}")
            time.sleep(0.5)
        else:
            raise ApplyError(f"container {inputs['name']}: container failed to be in healthy state")
    if inputs.get("attach"):  # funcs.go 631-672: wait for the exit; the code is not looked at
        client.wait(container_id)
        if inputs.get("logs"):
            outputs["containerLogs"] = client.logs(container_id, stdout=True, stderr=True).decode()


def delete(client: docker.APIClient, applied: Applied) -> None:
    """resourceDockerContainerDelete (funcs.go 1080-1125) and its network and volume counterparts."""
    if applied.type == CONTAINER:
        if not applied.inputs.get("attach"):
            # Stopped with destroy_grace_seconds, 0 (a kill) when unset.
            client.stop(applied.resource_id, timeout=applied.inputs.get("destroyGraceSeconds", 0))
        client.remove_container(applied.resource_id, v=True, force=True)
    elif applied.type == NETWORK:
        client.remove_network(applied.resource_id)
    # Volumes: every one of this program's is retained on delete or holds nothing worth keeping;
    # images: keep_locally. Neither is removed, as the program asks.
