"""An image with real Synapse and moto's S3 server, for the real-engine tier: the homeserver and the bucket MMR meets.

No registry is reachable, so the image is ``docker import``ed from files of this machine: the host's python3
(interpreter, ``libpython`` and standard library, at their own paths, since the virtualenv names its home by
path), the virtualenv ``build.sh servers`` makes from PyPI (tests/real_tools/versions.env pins its Synapse and
moto), busybox, and every shared library ``ldd`` resolves for the interpreter and the virtualenv's extensions.
It runs ``python -m synapse.app.homeserver`` or ``python -m moto.server``: nothing of it is ours.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.real_tools.tools import servers_venv
from tests.standin_images import (
    _busybox_root,  # pyright: ignore[reportPrivateUsage]
    _copy_with_libraries,  # pyright: ignore[reportPrivateUsage]
    _import,  # pyright: ignore[reportPrivateUsage]
)

PYTHON_SERVERS_IMAGE = "mmr-tests/python-servers:latest"
# Of the standard library, what no server here imports and what would only make the image larger.
_STDLIB_LEFT_OUT = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__pycache__"}


def venv_python() -> Path:
    """The virtualenv's python, the path the image runs it at."""
    return servers_venv() / "bin/python"


def build_python_servers(workdir: Path, docker_host: str) -> None:
    venv = servers_venv()
    python = venv / "bin/python"
    layout = subprocess.run(
        [str(python), "-c", "import sys, sysconfig; print(sys.base_prefix); print(sysconfig.get_path('stdlib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    stdlib = Path(layout[1])
    interpreter = python.resolve()
    root = workdir / "python-servers-root"
    _busybox_root(root)
    _copy_tree(venv, root)
    for entry in sorted(stdlib.iterdir()):
        if entry.name not in _STDLIB_LEFT_OUT:
            _copy_tree(entry, root)
    copy_interpreter_links(venv, root)
    extensions = sorted(stdlib.glob("lib-dynload/*.so")) + sorted(venv.rglob("*.so"))
    _copy_with_libraries(root, [interpreter, *extensions])
    subprocess.run(["cp", "-a", str(interpreter), str(root / interpreter.relative_to("/"))], check=True)
    _import(
        root,
        PYTHON_SERVERS_IMAGE,
        ["ENV PATH=/usr/local/bin:/usr/bin:/bin:/sbin", f'ENTRYPOINT ["{python}"]'],
        docker_host,
    )


def copy_interpreter_links(venv: Path, root: Path) -> None:
    """The chain of symlinks from the virtualenv's python3 to the interpreter, at the same paths under ``root``.

    Links inside the virtualenv came with its copy: one made by a virtualenv's python3 (as tests/run's is, its
    venv active) runs python3 -> python3.11 -> the interpreter, the first hop within; one made by the host's
    python3 runs python3 -> the interpreter's path.
    """
    link = venv / "bin/python3"
    while link.is_symlink():
        target = link.parent / link.readlink()
        copy = root / target.relative_to("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() and not copy.is_symlink():
            copy.symlink_to(target.readlink())
        link = target


def _copy_tree(source: Path, root: Path) -> None:
    """``source`` at its own path under ``root``, symlinks kept (``cp -a``: faster than shutil here)."""
    target = root / source.relative_to("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
