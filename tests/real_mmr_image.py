"""The real matrix-media-repo image for the real-engine tier: MMR's own programs, laid out as its official image.

The counterpart of ``build_media_repo`` in tests/standin_images.py: the same reference
(config_schema.images.DEFAULT_IMAGE, ghcr.io/t2bot/matrix-media-repo:v1.3.8), ``docker import``ed from a
directory, but with the programs of MMR v1.3.8 built from its Go module by tests/real_tools/build.sh (the
pins are in tests/real_tools/versions.env) instead of the stand-in scripts.

Laid out per MMR's ``Dockerfile`` at v1.3.8 (ed4f318, read in the module), its final stage ``FROM alpine:3.21``:
- ``/plugins`` with ``plugin_antispam_ocr``; ``media_repo``, ``import_synapse``, ``import_dendrite`` and the
  nine other programs of its ``COPY --from=builder`` in ``/usr/local/bin``;
- ``config.sample.yaml`` as ``/etc/media-repo.yaml.sample``, ``docker/run.sh`` as ``/usr/local/bin/run.sh``
  (mode 744, as its ``chmod``);
- ``ENV REPO_CONFIG=/data/media-repo.yaml``, ``CMD /usr/local/bin/run.sh`` (shell form, as upstream),
  ``VOLUME ["/data", "/media"]``, ``EXPOSE 8000``, and the working directory its last ``WORKDIR`` leaves,
  ``/opt/libheif/build``;
- alpine's busybox userland, each applet also at the path alpine installs it (run.sh starts with
  ``#!/usr/bin/env sh``), alpine's ``PATH``, ``su-exec`` at ``/sbin/su-exec`` (the stand-in's, a few lines of C),
  and the host's CA bundle at alpine's path, ``/etc/ssl/certs/ca-certificates.crt``.
The programs are Debian-built (glibc, not musl): their shared libraries (libde265, libstdc++, glibc) come along
at the paths ldd resolves; libheif 1.19.5 is linked into them. Not here: ImageMagick and ffmpeg (upstream's
``apk add``), which MMR runs to thumbnail SVG, JPEG XL and MP4 uploads, so those thumbnails fail; dos2unix;
libheif's sources and build tree under /opt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.host_tools import require_tool
from tests.real_tools.tools import mmr_bin_dir
from tests.standin_images import (
    BUSYBOX,
    MMR_IMAGE,
    _busybox_root,
    _copy_with_libraries,
    _import,
    _su_exec,
    _write_script,
)

# The programs MMR's Dockerfile copies into /usr/local/bin, and the plugin it copies into /plugins.
MMR_PROGRAMS = (
    "media_repo",
    "import_synapse",
    "import_dendrite",
    "export_synapse_for_import",
    "export_dendrite_for_import",
    "import_to_synapse",
    "gdpr_export",
    "gdpr_import",
    "s3_consistency_check",
    "combine_signing_keys",
    "generate_signing_key",
    "thumbnailer",
)
MMR_PLUGINS = ("plugin_antispam_ocr",)
# alpine:3.21's PATH (a docker import starts with no environment).
ALPINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Upstream's final stage builds libheif there and never leaves it.
UPSTREAM_WORKDIR = "opt/libheif/build"


def build_media_repo(workdir: Path, docker_host: str) -> None:
    """Builds MMR's programs if need be (cached) and imports them as ghcr.io/t2bot/matrix-media-repo:v1.3.8."""
    bin_dir = mmr_bin_dir()
    share = bin_dir.parent / "share"
    root = workdir / "real-mmr-root"
    _busybox_root(root)
    _alpine_applet_paths(root)
    for directory in ("data", "media", "plugins", UPSTREAM_WORKDIR):
        (root / directory).mkdir(parents=True, exist_ok=True)
    programs = [bin_dir / name for name in MMR_PROGRAMS]
    plugins = [bin_dir / name for name in MMR_PLUGINS]
    for program in programs:
        shutil.copy2(program, root / "usr/local/bin" / program.name)
    for plugin in plugins:
        shutil.copy2(plugin, root / "plugins" / plugin.name)
    _copy_with_libraries(root, [*programs, *plugins])
    shutil.copy2(share / "config.sample.yaml", root / "etc/media-repo.yaml.sample")
    (root / "etc/media-repo.yaml.sample").chmod(0o644)
    _write_script(root / "usr/local/bin/run.sh", (share / "docker/run.sh").read_text())
    (root / "usr/local/bin/run.sh").chmod(0o744)
    _su_exec(root)
    _ca_certificates(root)
    _import(
        root,
        MMR_IMAGE,
        [
            f"ENV PATH={ALPINE_PATH}",
            "ENV REPO_CONFIG=/data/media-repo.yaml",
            f"WORKDIR /{UPSTREAM_WORKDIR}",
            "CMD /usr/local/bin/run.sh",
            'VOLUME ["/data", "/media"]',
            "EXPOSE 8000",
        ],
        docker_host,
    )


def _alpine_applet_paths(root: Path) -> None:
    """Each busybox applet also where alpine installs it (/usr/bin/env, /usr/bin/wget, /sbin/su...)."""
    listing = subprocess.run(
        [str(require_tool(BUSYBOX)), "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    for relative in listing:
        target = root / relative
        if not os.path.lexists(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to("/bin/busybox")


def _ca_certificates(root: Path) -> None:
    """The host's CA bundle where alpine's ca-certificates puts it, and alpine's /etc/ssl/cert.pem link to it."""
    if not CA_BUNDLE.is_file():
        return
    target = root / CA_BUNDLE.relative_to("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CA_BUNDLE.resolve(), target)
    link = root / "etc/ssl/cert.pem"
    if not os.path.lexists(link):
        link.symlink_to("certs/ca-certificates.crt")


def build_real_tier_images(workdir: Path, docker_host: str) -> None:
    """What a Docker stack of the real tier runs: the real MMR, and the Postgres, backup and Redis stand-ins."""
    from tests.standin_images import build_backup, build_postgres, build_redis

    build_media_repo(workdir, docker_host)
    build_postgres(workdir, docker_host)
    build_backup(workdir, docker_host)
    build_redis(workdir, docker_host)
