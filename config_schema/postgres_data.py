"""Postgres data that outlives its server: which major wrote it, and how to dump and restore it.

A data directory can only be opened by the major version that wrote it. The
container provider records that major on the data volume when it creates it;
a stack whose configured major differs stops before anything starts, with the
steps below. The same dump and restore commands serve upgrades and backups, and
``tests/test_postgres_real.py`` runs them against a real server.
"""

from __future__ import annotations

import re
import shlex

# The label on the data volume that names the major which initialised it.
POSTGRES_MAJOR_LABEL = "org.matrix-media-repo.postgres-major"
# The same, as an annotation on the data PVC of a Kubernetes stack.
POSTGRES_MAJOR_ANNOTATION = "matrix-media-repo.org/postgres-major"
_IMAGE_MAJOR = re.compile(r"^(\d+)")


def image_major(image: str, fallback: str) -> str:
    """``postgres:16.10-alpine`` -> ``16``; ``fallback`` for a tag that does not start with the version."""
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    match = _IMAGE_MAJOR.match(tag)
    return match.group(1) if match else fallback


def dump_command(user: str, database: str) -> list[str]:
    """pg_dump's custom format: compressed, and restorable table by table with pg_restore."""
    return ["pg_dump", "--format=custom", f"--username={user}", f"--dbname={database}"]


def restore_command(user: str, database: str) -> list[str]:
    """Into an existing (empty or older) database; objects are owned by the restoring user."""
    return [
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--exit-on-error",
        f"--username={user}",
        f"--dbname={database}",
    ]


def upgrade_steps(*, stack_name: str, user: str, database: str, old_major: str, new_major: str, image: str) -> str:
    """What to type to move a container database from ``old_major`` to ``new_major``: dump, fresh volume, restore."""
    postgres, mmr, volume = f"{stack_name}-postgres", stack_name, f"{stack_name}-data"
    dump = " ".join(shlex.quote(part) for part in dump_command(user, database))
    restore = " ".join(shlex.quote(part) for part in restore_command(user, database))
    steps = [
        f"docker exec {postgres} {dump} > {database}-pg{old_major}.dump (while the old major still runs)",
        f"docker stop {mmr} && docker rm -f {postgres}",
        f"docker run --rm -v {volume}:/from -v {volume}-pg{old_major}:/to {image} cp -a /from/. /to/ "
        "(a copy of the old data, kept)",
        f"docker volume rm {volume} && docker volume create --label {POSTGRES_MAJOR_LABEL}={new_major} {volume}",
        "pulumi refresh --yes && pulumi up",
        f"docker stop {mmr} && docker exec -i {postgres} {restore} < {database}-pg{old_major}.dump "
        f"&& docker start {mmr}",
    ]
    return " ; ".join(f"({number}) {step}" for number, step in enumerate(steps, 1))


def kubernetes_upgrade_steps(
    *, stack_name: str, namespace: str, user: str, database: str, old_major: str, new_major: str, workers: bool
) -> str:
    """The same move on Kubernetes: dump, keep the old volume, a fresh PVC for the new major, restore."""
    kubectl = f"kubectl --namespace {namespace}"
    postgres, claim = f"{stack_name}-postgres", f"{stack_name}-postgres-data"
    mmr = f"statefulset/{stack_name}-primary" + (f" statefulset/{stack_name}-workers" if workers else "")
    dump = " ".join(shlex.quote(part) for part in dump_command(user, database))
    restore = " ".join(shlex.quote(part) for part in [*restore_command(user, database), "--single-transaction"])
    steps = [
        f"{kubectl} scale {mmr} --replicas=0",
        f"{kubectl} exec {postgres}-0 -- {dump} > {database}-pg{old_major}.dump (while the old major still runs)",
        f"{kubectl} delete statefulset {postgres}",
        f"kubectl patch pv \"$({kubectl} get pvc {claim} -o jsonpath='{{.spec.volumeName}}')\" "
        '-p \'{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}\' (the old data, kept)',
        f"{kubectl} delete pvc {claim} && pulumi refresh --yes && pulumi up",
        f"{kubectl} scale {mmr} --replicas=0 && {kubectl} exec -i {postgres}-0 -- {restore} "
        f"< {database}-pg{old_major}.dump && pulumi refresh --yes && pulumi up (MMR starts again)",
    ]
    return " ; ".join(f"({number}) {step}" for number, step in enumerate(steps, 1))
