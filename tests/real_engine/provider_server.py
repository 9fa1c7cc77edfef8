"""A resource provider plugin as the Pulumi engine runs one: a gRPC server that prints its port.

The docker and random provider plugins cannot be built here: the Go module proxy refuses
``github.com/pulumi/pulumi-docker/provider/v*`` and ``github.com/pulumi/pulumi-random/provider/v*`` at every
version, and kreuzwerker/terraform-provider-docker has no version under the module path its go.mod declares.
So the engine is given plugins of ours, under the provider's name and exactly the version the SDK asks for
(its ``pulumi-plugin.json``), speaking the engine's real protocol (``pulumi.runtime.proto.provider_pb2``).
What they do to the Docker engine is ``tests/docker_replay.py``: our reading of the provider's source.

The engine starts a plugin with its own address as the argument and reads the port from the plugin's
first line of output. Values arrive with the engine's secret markers in place (``acceptSecrets``), which
``tests.pulumi_harness.unwrap_secrets`` removes where the Docker engine needs the plain value.
"""

from __future__ import annotations

import sys
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from tests.pulumi_harness import unwrap_secrets


class ProviderError(Exception):
    """What the engine shows for the resource, and fails the update with."""


def to_python(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def keep_secrets(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs that repeat an input keep that input's secret markers, as a bridged provider's do."""
    kept = {key for key, value in outputs.items() if key in inputs and unwrap_secrets(inputs[key]) == value}
    return {key: inputs[key] if key in kept else value for key, value in outputs.items()}


class Provider:
    """What a plugin implements; the server below turns the engine's calls into these."""

    name = ""
    version = ""

    def configure(self, settings: dict[str, Any]) -> None:
        """The provider's own configuration (``docker:host`` and the like), secrets unwrapped."""

    def check(self, type_token: str, news: dict[str, Any], random_seed: bytes) -> dict[str, Any]:
        return news

    def diff(self, type_token: str, old_inputs: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], bool]:
        """(properties whose change replaces the resource, whether anything changed)."""
        raise NotImplementedError

    def create(self, type_token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def read(
        self, type_token: str, resource_id: str, outputs: dict[str, Any], inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(id, outputs, inputs) as the resource is now; an empty id when it is gone."""
        return resource_id, outputs, inputs

    def update(self, type_token: str, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        raise ProviderError(f"{type_token} cannot be updated in place")

    def delete(self, type_token: str, resource_id: str, outputs: dict[str, Any]) -> None:
        return None


def _failing(context: grpc.ServicerContext, error: Exception) -> None:
    context.abort(grpc.StatusCode.UNKNOWN, str(error))


class _Servicer(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def GetPluginInfo(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method names
        return plugin_pb2.PluginInfo(version=self.provider.version)

    def GetSchema(self, request: Any, context: Any) -> Any:  # noqa: N802
        return provider_pb2.GetSchemaResponse(schema=f'{{"name": "{self.provider.name}"}}')

    def CheckConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request: Any, context: Any) -> Any:  # noqa: N802
        # args: the provider's inputs (an explicit provider's, or the stack's docker:* config for the default one);
        # variables: the same as "docker:config:<key>" strings, from engines that send no args.
        settings = unwrap_secrets(to_python(request.args)) if request.HasField("args") else {}
        for key, value in request.variables.items():
            settings.setdefault(key.rsplit(":", 1)[-1], value)
        self.provider.configure(settings)
        return provider_pb2.ConfigureResponse(acceptSecrets=True, supportsPreview=False)

    def Cancel(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            inputs = self.provider.check(request.type, to_python(request.news), request.randomSeed)
        except ProviderError as error:
            _failing(context, error)
        return provider_pb2.CheckResponse(inputs=to_struct(inputs))

    def Diff(self, request: Any, context: Any) -> Any:  # noqa: N802
        olds = to_python(request.old_inputs) if request.HasField("old_inputs") else to_python(request.olds)
        news = to_python(request.news)
        for ignored in request.ignoreChanges:
            if ignored in olds:
                news[ignored] = olds[ignored]
        replaces, changed = self.provider.diff(request.type, olds, news)
        return provider_pb2.DiffResponse(
            replaces=replaces,
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
        )

    def Create(self, request: Any, context: Any) -> Any:  # noqa: N802
        inputs = to_python(request.properties)
        try:
            resource_id, outputs = self.provider.create(request.type, request.name, inputs)
        except ProviderError as error:
            _failing(context, error)
        return provider_pb2.CreateResponse(id=resource_id, properties=to_struct(keep_secrets(outputs, inputs)))

    def Read(self, request: Any, context: Any) -> Any:  # noqa: N802
        outputs, inputs = to_python(request.properties), to_python(request.inputs)
        resource_id, new_outputs, new_inputs = self.provider.read(request.type, request.id, outputs, inputs)
        return provider_pb2.ReadResponse(
            id=resource_id,
            properties=to_struct(keep_secrets(new_outputs, outputs)),
            inputs=to_struct(keep_secrets(new_inputs, inputs)),
        )

    def Update(self, request: Any, context: Any) -> Any:  # noqa: N802
        news = to_python(request.news)
        try:
            outputs = self.provider.update(request.type, request.id, to_python(request.olds), news)
        except ProviderError as error:
            _failing(context, error)
        return provider_pb2.UpdateResponse(properties=to_struct(keep_secrets(outputs, news)))

    def Delete(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            self.provider.delete(request.type, request.id, to_python(request.properties))
        except ProviderError as error:
            _failing(context, error)
        return empty_pb2.Empty()


def serve(provider: Provider) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(_Servicer(provider), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # The engine closes our stdin... not reliably; it kills the plugin when it is done with it.
    server.wait_for_termination()
    sys.exit(0)
