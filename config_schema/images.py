"""Pinned images: the defaults, and the check that every image a stack names is pinned."""

from __future__ import annotations

import re

from config_schema.errors import ConfigError, fix_for

# v1.3.7 has three published vulnerabilities (CVE-2024-56515, CVE-2024-52791, CVE-2024-52602) fixed in v1.3.8.
DEFAULT_IMAGE = "ghcr.io/t2bot/matrix-media-repo:v1.3.8"

# The container provider pins a patch release per major version so that a
# `pulumi up` months later pulls the same Postgres it tested with.
POSTGRES_IMAGES: dict[str, str] = {
    "15": "postgres:15.14-alpine",
    "16": "postgres:16.10-alpine",
    "17": "postgres:17.6-alpine",
}


def check_pinned_image(image: str, key: str) -> str:
    name, _, digest = image.partition("@")
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    if not digest and (not tag or tag == "latest"):
        raise ConfigError(
            f"{image!r} is not pinned: give a version tag or a digest, never :latest, "
            "so every `pulumi up` runs the same code",
            key=key,
            fix=fix_for(key),
        )
    if digest and not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        raise ConfigError(f"{image!r} has a malformed digest (sha256:<64 hex>)", key=key, fix=fix_for(key))
    return image
