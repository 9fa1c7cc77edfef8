"""Stand-in images for the real-engine tier, built here from Debian's packages and `docker import`ed.

No registry is reachable, so nothing is pulled. Each stand-in is tagged with the
reference the program names by default (config_schema/images.py), so the replay resolves images
exactly as the program declares them. They prove the container mechanics this
program declares (users, mounts, uploads, read-only roots, networks, health
checks), not MMR, nor the official Postgres image's entrypoint.

Likeness that the engine's behaviour depends on, checked against upstream's
Dockerfile (t2bot/matrix-media-repo ``Dockerfile`` at 84bcb70, weeks before v1.3.8):
- the busybox userland of its alpine base (``sh``, ``wget``, ``chown``, ``find``...);
- ``/tmp`` mode 1777, as alpine's (runc gives a tmpfs over an existing directory
  that directory's mode, whatever ``mode=`` says);
- ``/data`` and ``/media`` owned by root and declared ``VOLUME``;
- the binaries in ``/usr/local/bin`` and ``su-exec`` (here a few lines of C built
  with Debian's gcc: Debian has no su-exec).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from config_schema.images import DEFAULT_IMAGE, POSTGRES_IMAGES, REDIS_IMAGE, default_backup_image
from tests.host_tools import require_postgres, require_tool

MMR_IMAGE = DEFAULT_IMAGE
POSTGRES_IMAGE = POSTGRES_IMAGES["17"]
BACKUP_IMAGE = default_backup_image("17")
BUSYBOX = "busybox"
STANDIN_DIR = Path(__file__).resolve().parent / "standins"
# What the stand-in Postgres and backup images run: the server, its setup and the dump tools.
POSTGRES_PROGRAMS = frozenset(
    {"postgres", "initdb", "pg_ctl", "pg_isready", "psql", "pg_dump", "pg_dumpall", "pg_restore", "createdb"}
)


def _busybox_root(root: Path) -> None:
    for directory in ("bin", "sbin", "usr/bin", "usr/local/bin", "etc", "tmp", "root", "var/run", "run"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    busybox = require_tool(BUSYBOX)
    shutil.copy2(busybox, root / "bin/busybox")
    applets = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\npostgres:x:70:70:postgres:/var/lib/postgresql:/bin/sh\n"
        "redis:x:999:1000:redis:/data:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    (root / "etc/group").write_text("root:x:0:\npostgres:x:70:\nredis:x:1000:\nnogroup:x:65534:\n")


def _copy_with_libraries(root: Path, binaries: list[Path]) -> None:
    """Each ELF and the shared libraries ldd resolves for it, at the same paths."""
    needed: set[Path] = set()
    for binary in binaries:
        output = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        for line in output.splitlines():
            parts = line.split()
            path = next((part for part in parts if part.startswith("/")), None)
            if path:
                needed.add(Path(path))
    for path in sorted(needed):
        target = root / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path.resolve(), target)


def _su_exec(root: Path) -> None:
    """A static su-exec stand-in at /sbin/su-exec."""
    target = root / "sbin/su-exec"
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(target), str(STANDIN_DIR / "su-exec.c")], check=True)


def _write_script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def _import(root: Path, tag: str, changes: list[str], docker_host: str) -> None:
    archive = root.parent / f"{root.name}.tar"
    with tarfile.open(archive, "w") as tar:
        # Every file root's, as in the upstream images.
        tar.add(root, arcname=".", filter=lambda info: _as_root(info))
    command = ["docker", "import"]
    for change in changes:
        command += ["--change", change]
    environment = {**os.environ, "DOCKER_HOST": docker_host}
    subprocess.run([*command, str(archive), tag], check=True, capture_output=True, env=environment)


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_media_repo(workdir: Path, docker_host: str) -> None:
    root = workdir / "mmr-root"
    _busybox_root(root)
    for volume in ("data", "media"):
        (root / volume).mkdir()
    for name in ("media_repo", "import_synapse", "import_dendrite"):
        _write_script(root / "usr/local/bin" / name, (STANDIN_DIR / "media_repo.sh").read_text())
    _write_script(root / "usr/local/bin/media_repo_http", (STANDIN_DIR / "media_repo_http.sh").read_text())
    _su_exec(root)
    _import(
        root,
        MMR_IMAGE,
        [
            "ENV PATH=/usr/local/bin:/usr/bin:/bin:/sbin",
            "ENV REPO_CONFIG=/data/media-repo.yaml",
            'VOLUME ["/data", "/media"]',
            "EXPOSE 8000",
            'CMD ["/usr/local/bin/media_repo"]',
        ],
        docker_host,
    )


def build_postgres(workdir: Path, docker_host: str) -> None:
    root = workdir / "postgres-root"
    _busybox_root(root)
    postgres = require_postgres()
    binaries = [path for path in sorted(postgres.bin_dir.iterdir()) if path.name in POSTGRES_PROGRAMS]
    for path in binaries:
        target = root / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target, follow_symlinks=True)
    # At the paths the server was built with: it finds its share files from where its programs are.
    for source in (postgres.lib_dir, postgres.share_dir, Path("/usr/share/zoneinfo")):
        shutil.copytree(source, root / source.relative_to("/"), symlinks=True, dirs_exist_ok=True)
    _copy_with_libraries(root, [*binaries, *sorted(postgres.lib_dir.glob("*.so"))])
    (root / "var/lib/postgresql/data").mkdir(parents=True)
    (root / "var/run/postgresql").mkdir(parents=True, exist_ok=True)
    _su_exec(root)
    _write_script(root / "usr/local/bin/docker-entrypoint.sh", (STANDIN_DIR / "postgres-entrypoint.sh").read_text())
    _import(
        root,
        POSTGRES_IMAGE,
        [
            f"ENV PATH=/usr/local/bin:{require_postgres().bin_dir}:/bin:/sbin",
            "ENV PGDATA=/var/lib/postgresql/data",
            "ENV TZ=UTC",
            'VOLUME ["/var/lib/postgresql/data"]',
            'ENTRYPOINT ["docker-entrypoint.sh"]',
            'CMD ["postgres"]',
        ],
        docker_host,
    )


def build_backup(workdir: Path, docker_host: str) -> None:
    """Debian's pg_dump behind a stand-in of the backup image's scripts (the real image is postgres:17-alpine's)."""
    root = workdir / "postgres-root"  # built by build_postgres: the same binaries
    _write_script(root / "init.sh", (STANDIN_DIR / "backup-init.sh").read_text())
    _write_script(root / "backup.sh", (STANDIN_DIR / "backup.sh").read_text())
    (root / "backups").mkdir(exist_ok=True)
    (root / "hooks").mkdir(exist_ok=True)
    _import(
        root,
        BACKUP_IMAGE,
        [
            f"ENV PATH=/usr/local/bin:{require_postgres().bin_dir}:/bin:/sbin",
            "ENV TZ=UTC BACKUP_DIR=/backups",
            'VOLUME ["/backups"]',
            'CMD ["/init.sh"]',
        ],
        docker_host,
    )


def build_redis(workdir: Path, docker_host: str) -> None:
    root = workdir / "redis-root"
    _busybox_root(root)
    real = [require_tool("redis-server"), require_tool("redis-cli")]
    _copy_with_libraries(root, real)
    shutil.copy2(real[0].resolve(), root / "usr/bin/redis-server.real")
    shutil.copy2(real[1].resolve(), root / "usr/bin/redis-cli")
    # The official image builds Redis with protected mode off by default (docker-library/redis Dockerfile,
    # the `sed` on src/config.c), so that other containers reach it without a password; Debian's is on.
    _write_script(root / "usr/local/bin/redis-server", '#!/bin/sh\nexec redis-server.real "$@" --protected-mode no\n')
    (root / "data").mkdir()
    _import(
        root,
        REDIS_IMAGE,
        ["ENV PATH=/usr/local/bin:/usr/bin:/bin", 'VOLUME ["/data"]', "WORKDIR /data", 'CMD ["redis-server"]'],
        docker_host,
    )


def build_all(workdir: Path, docker_host: str) -> None:
    build_media_repo(workdir, docker_host)
    build_postgres(workdir, docker_host)
    build_backup(workdir, docker_host)
    build_redis(workdir, docker_host)
