"""Each homeserver's MMR signing key: the one the operator gave, or one made here and kept in the stack's state.

MMR signs outbound federation media requests (MSC3916) as each homeserver, which must publish the key.
A homeserver with neither ``signingKey`` nor ``signingKeyPath`` gets a seed of 32 random bytes,
``random.RandomBytes``, protected and retained like every stateful resource: it changes only when
``signingKeyRotation`` does (its only keeper). Named by the server name, not the list index, so that
reordering ``homeservers`` keeps every key.
"""

from __future__ import annotations

import base64

import pulumi
import pulumi_random as random

from config_schema import StackConfig
from config_schema.homeserver import Homeserver
from config_schema.signing_key import dendrite_pem, key_version, mmr_pem, seed_of, synapse_line


def _formats(seed: bytes, version: str) -> dict[str, str]:
    return {
        "keyId": f"ed25519:{version}",
        "mmr": mmr_pem(seed, version),
        "synapse": synapse_line(seed, version),
        "dendrite": dendrite_pem(seed, version),
    }


class SigningKeys(pulumi.ComponentResource):
    """Exposes ``pems`` (index -> secret MMR PEM, for the config directory) and ``exported`` (secret)."""

    pems: dict[int, pulumi.Output[str]]
    exported: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(self, name: str, stack: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("matrix-media-repo:index:SigningKeys", name, None, opts)
        self.pems = {}
        formats: dict[str, pulumi.Output[dict[str, str]]] = {}
        for index, homeserver in enumerate(stack.homeservers):
            keys = self._key(name, homeserver)
            if keys is None:
                continue
            formats[homeserver.name] = keys
            # A key the operator gave is uploaded as given, as before keys were generated.
            given = homeserver.signing_key
            self.pems[index] = pulumi.Output.secret(given if given is not None else keys.apply(lambda k: k["mmr"]))
        self.exported = pulumi.Output.secret(pulumi.Output.all(**formats)) if formats else pulumi.Output.secret({})
        self.register_outputs({})

    def _key(self, name: str, homeserver: Homeserver) -> pulumi.Output[dict[str, str]] | None:
        if homeserver.signing_key is not None:
            seed, version = seed_of(homeserver.signing_key)
            return pulumi.Output.secret(_formats(seed, version))
        if not homeserver.generates_signing_key:
            return None  # signingKeyPath: a key already in the container, which the program never sees
        version = key_version(homeserver.signing_key_rotation)
        seed = random.RandomBytes(
            f"{name}-signing-key-{homeserver.name}",
            length=32,
            keepers={"rotation": str(homeserver.signing_key_rotation)},
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        return pulumi.Output.secret(seed.base64.apply(lambda encoded: _formats(base64.b64decode(encoded), version)))
