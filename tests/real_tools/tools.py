"""The real tools' bin directories, built by build.sh on first use and taken from its cache after.

``pulumi_bin_dir()`` holds ``pulumi``, ``pulumi-language-python`` and ``pulumi-language-python-exec``;
``mmr_bin_dir()`` holds ``media_repo``, ``import_synapse``, ``import_dendrite`` and MMR's other programs;
``servers_venv()`` is a virtualenv of the host's python3 with Synapse and moto's server (from PyPI);
``kube_bin_dir()`` holds ``kube-apiserver`` and ``etcd``; ``kube_provider_bin_dir()`` ``pulumi-resource-kubernetes``.
Each runs ``bash tests/real_tools/build.sh <name>`` (stdlib only, no pytest), which builds into
``${XDG_CACHE_HOME:-~/.cache}/mmr-pulumi-tools`` when the pins changed and returns at once when not; one
process runs it at most once per name. A failed build raises ``ToolBuildError`` with build.sh's last lines
(what was missing and how to install it).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().parent / "build.sh"
# A first build compiles the Pulumi CLI (minutes on two cores); this bounds a stuck one.
BUILD_TIMEOUT_SECONDS = 60 * 60
_STDERR_LINES = 40

_lock = threading.Lock()
_built: dict[str, Path] = {}


class ToolBuildError(RuntimeError):
    """build.sh failed; the message ends with what it printed last."""


def pulumi_bin_dir() -> Path:
    """The directory of the Pulumi CLI and its Python language host, built if need be."""
    return _bin_dir("pulumi")


def mmr_bin_dir() -> Path:
    """The directory of matrix-media-repo's programs, built if need be."""
    return _bin_dir("mmr")


def servers_venv() -> Path:
    """The virtualenv with Synapse and moto that tests/python_servers_image.py puts in an image, built if need be."""
    return _bin_dir("servers")


def kube_bin_dir() -> Path:
    """The directory of kube-apiserver and etcd (tests/kube_control_plane.py), built if need be."""
    return _bin_dir("kube")


def kube_provider_bin_dir() -> Path:
    """The directory of the pulumi-kubernetes provider plugin, built if need be."""
    return _bin_dir("kubernetes-provider")


def _bin_dir(name: str) -> Path:
    with _lock:
        if name not in _built:
            _built[name] = _build(name)
        return _built[name]


def _build(name: str) -> Path:
    try:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT), name],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as error:
        raise ToolBuildError(f"{BUILD_SCRIPT} {name} took more than {BUILD_TIMEOUT_SECONDS}s") from error
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        tail = "\n".join(result.stderr.splitlines()[-_STDERR_LINES:])
        raise ToolBuildError(f"bash {BUILD_SCRIPT} {name} failed (exit {result.returncode}):\n{tail}")
    bin_dir = Path(lines[-1].strip())
    if not bin_dir.is_dir():
        raise ToolBuildError(f"bash {BUILD_SCRIPT} {name} printed {bin_dir}, which is no directory")
    return bin_dir
