"""What each homeserver must change to go with MMR: the ``homeserverSettings`` output, one text per homeserver.

Synapse's keys are from its configuration manual (``enable_media_repo``, ``max_upload_size``,
``url_preview_enabled``, ``signing_key_path``), Dendrite's from its sample config (``media_api``,
``global.private_key``). Only Synapse has run behind MMR here (shared/upstream/mmr/real-binary.md).
"""

from __future__ import annotations

from config_schema.homeserver import Homeserver
from config_schema.reverse_proxy import upload_limit
from config_schema.signing_key import key_version
from config_schema.stack import StackConfig

# With uploads.maxBytes 0 neither MMR nor the reverseProxy snippets (client_max_body_size 0, no limit in Caddy or
# Traefik) limit an upload, and neither homeserver is told a number: none would be what MMR enforces.
NO_UPLOAD_LIMIT = (
    "uploads.maxBytes is 0, so MMR takes uploads of any size and so do the reverseProxy snippets "
    "(client_max_body_size 0); no number here would be the one MMR enforces"
)
KEYS_OUTPUT = "homeserverSigningKeys"


def key_id(homeserver: Homeserver) -> str | None:
    """The id of the key the program gives MMR for this homeserver; None when MMR reads one of the operator's."""
    if homeserver.generates_signing_key:
        return f"ed25519:{key_version(homeserver.signing_key_rotation)}"
    return None


def _synapse(stack: StackConfig) -> str:
    max_bytes = upload_limit(stack)
    lines = [
        "# homeserver.yaml, once the media paths reach MMR (the reverseProxy output), then restart Synapse",
        "enable_media_repo: false    # MMR stores and serves media; Synapse's own media repository is off",
        f"max_upload_size: {max_bytes}    # uploads.maxBytes: what MMR advertises and enforces"
        if max_bytes
        else f"# max_upload_size: leave it as it is: {NO_UPLOAD_LIMIT}",
    ]
    if stack.url_previews.enabled is not False:
        lines.append("url_preview_enabled: false    # MMR makes the previews")
    return "\n".join(lines) + "\n"


def _dendrite(stack: StackConfig) -> str:
    max_bytes = upload_limit(stack)
    head = "# dendrite.yaml: the media paths go to MMR (the reverseProxy output); Dendrite's media API stays unused\n"
    if not max_bytes:
        return head + f"# media_api.max_file_size_bytes: leave it as it is: {NO_UPLOAD_LIMIT}\n"
    return head + f"media_api:\n  max_file_size_bytes: {max_bytes}    # uploads.maxBytes\n"


def _signing_key_steps(homeserver: Homeserver) -> str:
    name = homeserver.name
    generated = key_id(homeserver)
    if generated:
        read = f'pulumi stack output --show-secrets {KEYS_OUTPUT} --json | jq -r \'.["{name}"]'
        return (
            f"MMR signs federation media requests for {name} with {generated}, which {name} must publish beside "
            "its own key, its own key staying first. Synapse: "
            f"{read}.synapse' >> <the file signing_key_path names>, then restart Synapse. Dendrite: merge the "
            f"{read}.mmr' form into the file global.private_key names with combine_signing_keys -format dendrite "
            "(docs/operations.md, Signing key for authenticated media), then restart Dendrite."
        )
    if homeserver.signing_key:
        return (
            f"MMR signs for {name} with the key given as homeservers[].signingKey; {name} must publish it beside "
            "its own: combine_signing_keys (docs/operations.md, Signing key for authenticated media)."
        )
    return (
        f"MMR reads the key at {homeserver.signing_key_path} in its container; {name} must publish it beside its "
        "own: combine_signing_keys (docs/operations.md, Signing key for authenticated media)."
    )


def homeserver_settings(stack: StackConfig) -> dict[str, dict[str, str]]:
    """Per homeserver name: the Synapse settings, the Dendrite settings and the signing key step."""
    return {
        homeserver.name: {
            "synapse": _synapse(stack),
            "dendrite": _dendrite(stack),
            "signingKey": _signing_key_steps(homeserver),
        }
        for homeserver in stack.homeservers
    }
