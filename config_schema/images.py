"""Pinned images: every default this program runs, and the check that every image a stack names is pinned.

To move to a newer pin, change it here (one line per image), run the tests, and note it in the
README's "Upgrading": an operator who names an image (``image``, ``database.image``,
``redis.image``, ``backup.image``) keeps theirs.
"""

from __future__ import annotations

import re

from config_schema.errors import ConfigError

# v1.3.7 has three published vulnerabilities (CVE-2024-56515, CVE-2024-52791, CVE-2024-52602) fixed in v1.3.8.
DEFAULT_IMAGE = "ghcr.io/t2bot/matrix-media-repo:v1.3.8"

# The container provider pins a patch release per major version so that a `pulumi up` months later pulls
# the same Postgres it tested with: the newest minor of each major as of 2026 (17.10, 16.14, 15.18).
POSTGRES_IMAGES: dict[str, str] = {
    "15": "postgres:15.18-alpine",
    "16": "postgres:16.14-alpine",
    "17": "postgres:17.10-alpine",
}

# 7.4.3 fixed CVE-2025-21605 (unauthenticated clients can exhaust memory), which this Redis is exposed
# to: no password, protected mode off. 7.4.6 also fixed CVE-2025-49844 (a Lua use-after-free).
REDIS_IMAGE = "redis:7.4.6-alpine"

# prodrigestivill/postgres-backup-local tags every build of main as <major>-alpine-<commit>
# (generate-docker-bake.sh and .github/workflows/ci.yml, BUILD_REVISION = the commit's first 7 hex digits):
# d257e5d is the newest commit, which builds majors 13 to 18. The bare <major>-alpine tag floats.
BACKUP_REVISION = "d257e5d"


def default_backup_image(postgres_major: str) -> str:
    return f"prodrigestivill/postgres-backup-local:{postgres_major}-alpine-{BACKUP_REVISION}"


def default_images() -> list[str]:
    """Every image a stack runs unless it names its own."""
    return [DEFAULT_IMAGE, *POSTGRES_IMAGES.values(), REDIS_IMAGE, *map(default_backup_image, POSTGRES_IMAGES)]


# A tag that names one release: a version with a minor (v1.3.8, 17.10-alpine), or a build's commit.
_EXACT_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?([-.][A-Za-z0-9.]+)*$|^.*-[0-9a-f]{7,40}$")
# A tag that floats by design: latest, or a major alone (17, 17-alpine, alpine).
_FLOATING_TAG = re.compile(r"^(latest|\d+|\d+-[a-z]+|[a-z]+)$")


def _tag(image: str) -> str:
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""


def is_exact_release(image: str) -> bool:
    """Whether ``image`` always means the same build: a digest, or a tag naming one release."""
    return "@sha256:" in image or bool(_EXACT_TAG.match(_tag(image)))


def check_pinned_image(image: str, key: str) -> str:
    digest = image.partition("@")[2]
    tag = _tag(image)
    if not digest and (not tag or _FLOATING_TAG.match(tag)):
        raise ConfigError(
            f"{image!r} is not pinned: give a version tag (with its minor) or a digest, never :latest or a "
            "major alone, so every `pulumi up` runs the same code",
            key=key,
        )
    if digest and not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        raise ConfigError(f"{image!r} has a malformed digest (sha256:<64 hex>)", key=key)
    return image
