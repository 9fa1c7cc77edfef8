"""The URNs of every stateful resource, pinned: a refactor that changes one plans to replace stored data.

A URN follows the resource's type, name and parent components' types, not the module it is built in; moving
code is safe, re-parenting is not (then add ``aliases``). These are the URNs of stacks deployed so far.
"""

from __future__ import annotations

import pytest

from tests.pulumi_harness import run_program
from tests.test_safety import STATEFUL
from tests.variants import PROVIDER_CONFIG, VARIANTS

PREFIX = "urn:pulumi:dev::matrix-media-repo::matrix-media-repo:index:"
DOCKER_HOST = {
    "MediaStorage$docker:index/volume:Volume::mmr-dev-media",
    "MediaDatabase$random:index/randomPassword:RandomPassword::mmr-dev-password",
    "MediaDatabase$docker:index/volume:Volume::mmr-dev-data",
    "PostgresBackup$docker:index/volume:Volume::mmr-dev-backups",
}

KEY = "SigningKeys$random:index/randomBytes:RandomBytes::mmr-dev-signing-key-"
PINNED: dict[str, set[str]] = {
    "dev": DOCKER_HOST | {f"{KEY}localhost"},
    "aws": DOCKER_HOST | {"MediaBucket$aws:s3/bucket:Bucket::mmr-dev-bucket", f"{KEY}example.org"},
    "aws-rds": {
        "MediaStorage$docker:index/volume:Volume::mmr-dev-media",
        "MediaBucket$aws:s3/bucket:Bucket::mmr-dev-bucket",
        "MediaDatabase$aws:rds/instance:Instance::mmr-dev-rds",
        "MediaDatabase$random:index/randomPassword:RandomPassword::mmr-dev-rds-admin-password",
        "MediaDatabase$random:index/randomPassword:RandomPassword::mmr-dev-password",
        f"{KEY}example.org",
    },
    "digitalocean": {
        "MediaStorage$docker:index/volume:Volume::mmr-dev-media",
        "MediaDatabase$digitalocean:index/databaseCluster:DatabaseCluster::mmr-dev-cluster",
        "MediaBucket$digitalocean:index/spacesBucket:SpacesBucket::mmr-dev-space",
        f"{KEY}example.org",
        f"{KEY}example.com",
    },
}


@pytest.mark.parametrize("variant", sorted(PINNED))
def test_stateful_urns_never_move(variant: str) -> None:
    run = run_program(VARIANTS[variant](), extra_config=PROVIDER_CONFIG.get(variant))
    stateful = {r.urn.removeprefix(PREFIX) for r in run.registrations if r.type in STATEFUL and r.protect}
    assert stateful == PINNED[variant]
