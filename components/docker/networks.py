"""The Docker networks the containers of one stack share."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker


class DockerNetworks(pulumi.ComponentResource):
    """``private``: internal, no route out, for Postgres (and other back ends).
    ``edge``: an ordinary bridge that lets MMR publish its ports and reach
    homeservers and S3."""

    private: docker.Network
    edge: docker.Network

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("matrix-media-repo:index:DockerNetworks", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.private = docker.Network(f"{name}-private", name=f"{name}-private", internal=True, opts=child)
        self.edge = docker.Network(f"{name}-edge", name=f"{name}-edge", opts=child)
        self.register_outputs({"private": self.private.name, "edge": self.edge.name})
