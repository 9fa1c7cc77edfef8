"""Runs ``__main__.py`` under Pulumi's mocks and keeps what the engine would have seen.

Each run gets a fresh event loop and fresh runtime settings, so nothing of one
program leaks into the next. The monitor records every registration with its
options (protect, retain, parent, dependencies) and its inputs with Pulumi's
secret markers still in place, which is what the engine would encrypt.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import runpy
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key
from pulumi.runtime.stack import wait_for_rpcs

PROJECT = "matrix-media-repo"
ROOT = Path(__file__).resolve().parent.parent

# A password the real RandomPassword could produce, with every character that
# must be percent-encoded in a URL: the DSN tests depend on it.
MOCK_PASSWORD = "pa%ss@wo:rd/x?y#z"
MOCK_AWS_SECRET = "aws-secret/with+slash=="
MOCK_SPACES_SECRET = "spaces-secret/abc+def"
MOCK_DO_ADMIN_PASSWORD = "do-admin:pass@word"
MOCK_DO_USER_PASSWORD = "do-user/pass#word"
# A generated signing key's seed, and the base64 it travels in (every format of it carries this text).
MOCK_SEED = bytes(range(32))
MOCK_SEED_BASE64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"


# The default VPC the AWS provider would find.
MOCK_VPC: dict[str, Any] = {
    "id": "vpc-0mock0default000",
    "cidrBlock": "172.31.0.0/16",
    "subnets": ["subnet-0a0000000000000a1", "subnet-0b0000000000000b2"],
}


# What DigitalOcean answers for the host a stack makes (host.provider digitalocean): ids and addresses.
MOCK_RESERVED_IP = "203.0.113.10"
MOCK_DROPLET_PRIVATE_IP = "10.110.0.2"
MOCK_VPC_RANGE = "10.110.0.0/20"
MOCK_HOST_OUTPUTS: dict[str, tuple[str, dict[str, Any]]] = {
    "digitalocean:index/reservedIp:ReservedIp": (MOCK_RESERVED_IP, {"ipAddress": MOCK_RESERVED_IP}),
    "digitalocean:index/droplet:Droplet": (
        "412345678",
        {"ipv4Address": "198.51.100.20", "ipv4AddressPrivate": MOCK_DROPLET_PRIVATE_IP, "urn": "do:droplet:412345678"},
    ),
    "digitalocean:index/vpc:Vpc": ("5f1b3c6a-vpc", {"ipRange": MOCK_VPC_RANGE}),
    "digitalocean:index/volume:Volume": ("7a9c1e2f-volume", {}),
    "digitalocean:index/sshKey:SshKey": ("41234567", {"fingerprint": "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19"}),
}


def mock_tls_outputs(type_token: str, name: str) -> dict[str, Any]:
    """pulumi-tls's outputs, as recognisable text: a private key's is MOCK_PRIVATE_KEY with the name in it."""
    if type_token == "tls:index/privateKey:PrivateKey":
        key = f"-----BEGIN PRIVATE KEY-----\nMOCK-{name}\n-----END PRIVATE KEY-----\n"
        return {
            "privateKeyPem": key,
            "privateKeyOpenssh": key.replace("PRIVATE KEY", "OPENSSH PRIVATE KEY"),
            "privateKeyPemPkcs8": key,
            "publicKeyOpenssh": f"ssh-ed25519 AAAAMOCK{name}",
            "publicKeyPem": f"-----BEGIN PUBLIC KEY-----\n{name}\n-----END PUBLIC KEY-----\n",
        }
    if type_token == "tls:index/certRequest:CertRequest":
        return {"certRequestPem": f"-----BEGIN CERTIFICATE REQUEST-----\n{name}\n-----END CERTIFICATE REQUEST-----\n"}
    return {"certPem": f"-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n"}


class ProgramMocks(pulumi.runtime.Mocks):
    """Provider outputs as the real providers would compute them.

    ``overrides`` replaces outputs by resource name: what a real engine answered
    differently, such as a one-shot that exited non-zero or a volume whose labels
    were written by an earlier deployment.
    """

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.overrides = overrides or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id, outputs = self._computed(args)
        outputs.update(self.overrides.get(args.name, {}))
        return resource_id, outputs

    def _computed(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ == "docker:index/container:Container" and args.inputs.get("attach"):
            # The provider's read after an attached run (resource_docker_container_funcs.go line 816).
            outputs.update(exitCode=0, containerLogs="")
        if args.typ.startswith("kubernetes:"):
            metadata = dict(outputs.get("metadata") or {})
            if not metadata.get("name"):
                # The provider's auto-name: the resource's name, a dash and a random suffix
                # (provider/pkg/metadata/naming.go AssignNameIfAutonamable).
                metadata["name"] = f"{args.name}-{zlib.crc32(args.name.encode()):08x}"
                outputs["metadata"] = metadata
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = MOCK_PASSWORD
        elif args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{abs(hash(args.inputs['name'])):064d}"[:71]
            outputs["repoDigest"] = f"{args.inputs['name']}@sha256:{'0' * 64}"
        elif args.typ == "aws:s3/bucket:Bucket":
            bucket = args.inputs.get("bucket") or f"{args.name}-a1b2c3d"
            outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            resource_id = bucket
        elif args.typ == "aws:iam/user:User":
            outputs["arn"] = f"arn:aws:iam::123456789012:user/{args.inputs['name']}"
        elif args.typ == "aws:iam/accessKey:AccessKey":
            resource_id = "AKIAMOCKMEDIAREPO000"
            outputs["secret"] = MOCK_AWS_SECRET
        elif args.typ == "digitalocean:index/spacesBucket:SpacesBucket":
            outputs["name"] = args.inputs.get("name") or f"{args.name}-a1b2c3d"
        elif args.typ == "digitalocean:index/spacesKey:SpacesKey":
            outputs.update(accessKey="DOMOCKSPACESKEY", secretKey=MOCK_SPACES_SECRET)
        elif args.typ == "digitalocean:index/databaseCluster:DatabaseCluster":
            outputs.update(
                host="mmr-db-do-user-0.db.ondigitalocean.com",
                port=25060,
                user="doadmin",
                password=MOCK_DO_ADMIN_PASSWORD,
                uri="postgresql://doadmin:secret@mmr-db/defaultdb?sslmode=require",
            )
        elif args.typ == "digitalocean:index/databaseUser:DatabaseUser":
            outputs["password"] = MOCK_DO_USER_PASSWORD
        elif args.typ == "aws:rds/instance:Instance":
            identifier = args.inputs["identifier"]
            outputs.update(
                address=f"{identifier}.c0a1b2c3d4e5.eu-central-1.rds.amazonaws.com", port=5432, arn=f"arn:{identifier}"
            )
            resource_id = identifier
        elif args.typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = "sg-0mock0rds0000000"
        elif args.typ in ("aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup"):
            # Auto-named by the provider when no name is given.
            outputs["name"] = args.inputs.get("name") or f"{args.name}-a1b2c3d"
        elif args.typ in MOCK_HOST_OUTPUTS:
            resource_id, made = MOCK_HOST_OUTPUTS[args.typ]
            outputs.update(made)
        elif args.typ.startswith("tls:"):
            outputs.update(mock_tls_outputs(args.typ, args.name))
        elif args.typ == "command:remote:Command":
            outputs.update(stdout="ready: Docker 20.10.24 on 2376, data root /var/lib/docker", stderr="")
        elif args.typ == "random:index/randomBytes:RandomBytes":
            outputs.update(base64=MOCK_SEED_BASE64 + "=", hex=MOCK_SEED.hex())
        elif args.typ == "random:index/randomId:RandomId":
            outputs["hex"] = "0a1b2c3d"
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": "eu-central-1", "region": "eu-central-1", "id": "eu-central-1"}
        if args.token == "aws:ec2/getVpc:getVpc":
            return {"id": MOCK_VPC["id"], "cidrBlock": MOCK_VPC["cidrBlock"], "default": True}
        if args.token == "aws:ec2/getSubnets:getSubnets":
            return {"id": "eu-central-1", "ids": list(MOCK_VPC["subnets"])}
        if args.token == "aws:ec2/getSubnet:getSubnet":
            return {"id": args.args.get("id"), "vpcId": MOCK_VPC["id"]}
        return {}


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: list[str]
    ignore_changes: list[str]
    # Inputs as sent to the engine: secrets are {"<sig>": "<secret sig>", "value": ...}.
    raw_inputs: dict[str, Any]
    custom: bool
    # The provider reference "<urn>::<id>" when one was given explicitly or inherited from a parent.
    provider: str
    # Outputs the engine is told to keep secret whatever the provider returns.
    additional_secret_outputs: list[str] = field(default_factory=list)
    # create/update/delete as Go durations ("20m"), empty when not set.
    custom_timeouts: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs with secret markers removed."""
        return unwrap_secrets(self.raw_inputs)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        # The mock monitor gives each executor thread an event loop of its own
        # (pulumi/runtime/sync_await.py, _ensure_event_loop); run_program closes them.
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        try:
            response = super().RegisterResource(request)
        finally:
            with contextlib.suppress(RuntimeError):  # no loop: the stack's own registration makes none
                self.thread_loops.add(asyncio.get_event_loop())
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    dependencies=list(request.dependencies),
                    ignore_changes=list(request.ignoreChanges),
                    raw_inputs=json_format.MessageToDict(request.object),
                    custom=bool(request.custom),
                    provider=request.provider,
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    custom_timeouts={
                        key: value for key, value in json_format.MessageToDict(request.customTimeouts).items() if value
                    },
                )
            )
        return response


@dataclass
class ProgramRun:
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    warnings: list[str] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Registration:
        matches = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(matches) == 1, f"expected one {type_token} {name or ''}, got {[m.name for m in matches]}"
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)


def is_secret_marker(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_special_sig_key) == _special_secret_sig


def unwrap_secrets(value: Any) -> Any:
    if is_secret_marker(value):
        return unwrap_secrets(value.get("value"))
    if isinstance(value, dict):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in a value that is NOT inside a secret marker."""
    if is_secret_marker(value):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from plain_strings(key)
            yield from plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)
    elif isinstance(value, str):
        yield value


def plain_text_leaks(run: ProgramRun, secrets: list[str]) -> list[str]:
    """Where a secret, whole or percent-encoded, shows outside a secret: resource inputs and non-secret outputs."""
    forms = {form for secret in secrets for form in (secret, quote(secret, safe=""))}
    leaks = []
    for registration in run.registrations:
        for text in plain_strings(registration.raw_inputs):
            leaks += [f"{registration.type} {registration.name}: {form}" for form in forms if form in text]
    for key, value in run.outputs.items():
        if key not in run.secret_outputs:
            leaks += [f"output {key}: {form}" for text in plain_strings(value) for form in forms if form in text]
    return leaks


# Every secret value the mocks and the test variants hand the program.
MOCK_SECRETS = [
    MOCK_PASSWORD,
    MOCK_AWS_SECRET,
    MOCK_SPACES_SECRET,
    MOCK_DO_ADMIN_PASSWORD,
    MOCK_DO_USER_PASSWORD,
    MOCK_SEED_BASE64,
]


class _WarningCollector:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...

    def warning(self, message: str) -> None:
        self.messages.append(message)


def run_program(
    config: Mapping[str, Any],
    *,
    secret_keys: tuple[str, ...] = (),
    stack: str = "dev",
    extra_config: Mapping[str, str] | None = None,
    preview: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    monitor_factory: Callable[[pulumi.runtime.Mocks], RecordingMonitor] = RecordingMonitor,
    collect_garbage: bool = True,
) -> ProgramRun:
    """Runs ``__main__.py`` with ``config`` as the stack's ``matrix-media-repo:`` values."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor: RecordingMonitor | None = None
    try:
        pulumi_settings.reset_options(project=PROJECT, stack=stack, preview=preview)
        all_config = {
            f"{PROJECT}:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in config.items()
        }
        all_config.update(extra_config or {})
        pulumi.runtime.set_all_config(all_config, [f"{PROJECT}:{key}" for key in secret_keys])
        mocks = ProgramMocks(overrides)
        monitor = monitor_factory(mocks)
        collector = _WarningCollector()
        pulumi.runtime.set_mocks(
            mocks,
            project=PROJECT,
            stack=stack,
            preview=preview,
            monitor=monitor,
            logger=collector,  # type: ignore[arg-type]
        )
        try:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        finally:
            # Whatever the program registered before it stopped reaches the monitor.
            loop.run_until_complete(wait_for_rpcs())
        root = pulumi_settings.get_root_resource()
        assert root is not None
        exports: dict[str, pulumi.Output[Any]] = {
            key: pulumi.Output.from_input(value)
            for key, value in root.outputs.items()  # type: ignore[attr-defined]
        }

        async def resolve() -> tuple[dict[str, Any], set[str]]:
            values, secret = {}, set()
            for key, output in exports.items():
                values[key] = await output.future()
                if await output.is_secret():
                    secret.add(key)
            return values, secret

        outputs, secret_outputs = loop.run_until_complete(resolve())
        loop.run_until_complete(wait_for_rpcs())
        return ProgramRun(monitor.registrations, outputs, secret_outputs, collector.messages)
    finally:
        # A program that stopped early leaves Output tasks waiting on resources that never came.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        pulumi_settings.reset_options()
        pulumi.runtime.set_all_config({}, [])
        for thread_loop in monitor.thread_loops if monitor else ():
            if thread_loop is not loop:
                thread_loop.close()
        # A failed program leaves futures holding the error it raised. Collected here, with their
        # "never retrieved" reports silenced, rather than in the middle of whatever runs next:
        # a report logged from a __del__ inside compile() breaks CPython 3.11's AST recursion check.
        loop.set_exception_handler(lambda _loop, _context: None)
        if collect_garbage:  # for the next program in this process; a process that ends here skips it
            gc.collect()
        loop.close()
        asyncio.set_event_loop(None)


# What a Docker engine of API 1.51 (Docker 28) answers the program's question (components/docker/engine_api.py)
# in every run without an engine: those whose `docker:host` is not the socket of a dockerd the tests started.
# The runs on the tests' own dockerd name its socket (tests/test_docker_engine.py `apply`), and the program
# asks it.
MOCKED_ENGINE_API = (1, 51)


def mock_engine_api(patch: Any = None) -> None:
    """Installs the answer; with ``patch`` (a pytest MonkeyPatch) undone with it, else for the process's life
    (the children of tests/test_install.py and tests/test_provider_imports.py, which have no pytest)."""
    from components.docker import engine_api

    asked = engine_api.engine_api_version

    def answered() -> tuple[int, int]:
        host = pulumi.Config("docker").get("host") or ""
        started_here = host.startswith("unix://") and Path(host.removeprefix("unix://")).is_socket()
        return asked() if started_here else MOCKED_ENGINE_API

    if patch is None:
        engine_api.engine_api_version = answered
    else:
        patch.setattr(engine_api, "engine_api_version", answered)
