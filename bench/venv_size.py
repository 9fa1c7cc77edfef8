"""Measures a fresh virtualenv made the way Pulumi makes one (Pulumi.yaml: toolchain pip, virtualenv venv).

    python3 bench/venv_size.py [requirements.txt ...]

Creates ``python3 -m venv`` in a temporary directory, runs ``pip install -r`` with each file given
(requirements.txt by default), and prints the virtualenv's size on disk, the size of its
site-packages without pip and setuptools (which ``python3 -m venv`` puts into every virtualenv),
and the provider plugins Pulumi will fetch for it: the installed packages whose
``pulumi-plugin.json`` says ``"resource": true`` (and ``pulumi-*`` packages without one), as
pulumi-language-python's ``listPulumiPackageInfos`` selects them
(pulumi/pulumi 1b59498, sdk/python/cmd/pulumi-language-python/main.go lines 607-650).
Needs pip to reach an index; the tests measure the same closure offline (tests/test_install.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_OWN = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth")


def tree_bytes(path: Path) -> int:
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def plugins(site_packages: Path) -> list[str]:
    found = []
    for dist_info in site_packages.glob("*.dist-info"):
        name = dist_info.name.split("-")[0].lower().replace("_", "-")
        record = (dist_info / "RECORD").read_text().splitlines()
        paths = [line.split(",")[0] for line in record]
        plugin_json = next((path for path in paths if path.endswith("pulumi-plugin.json")), None)
        if plugin_json:
            declared = json.loads((site_packages / plugin_json).read_text())
            if declared.get("resource"):
                found.append(declared.get("name") or name.removeprefix("pulumi-"))
        elif name.startswith("pulumi-"):
            found.append(name.removeprefix("pulumi-"))
    return sorted(found)


def largest(site_packages: Path, count: int = 6) -> list[tuple[str, int]]:
    """The installed distributions with the most bytes on disk, by their RECORD."""
    sizes = []
    for dist_info in site_packages.glob("*.dist-info"):
        paths = [line.split(",")[0] for line in (dist_info / "RECORD").read_text().splitlines()]
        total = sum(tree_bytes(site_packages / path) for path in paths if not path.startswith(".."))
        sizes.append((dist_info.name.removesuffix(".dist-info"), total))
    return sorted(sizes, key=lambda item: -item[1])[:count]


def main(files: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="mmr-venv-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        base = tree_bytes(venv)
        started = time.monotonic()
        args = [arg for name in files for arg in ("-r", str(ROOT / name))]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], check=True)
        seconds = time.monotonic() - started
        site_packages = next(venv.glob("lib/python*/site-packages"))
        own = sum(tree_bytes(site_packages / name) for name in VENV_OWN)
        total = tree_bytes(venv)
        print(f"requirements:                 {' '.join(files)}")
        print(f"pip install:                  {seconds:.0f} s")
        print(f"empty virtualenv (pip, setuptools): {base / 1e6:.1f} MB")
        print(f"virtualenv after install:     {total / 1e6:.1f} MB")
        print(f"without pip and setuptools:   {(total - own) / 1e6:.1f} MB")
        print(f"plugins Pulumi fetches:       {', '.join(plugins(site_packages))}")
        for name, size in largest(site_packages):
            print(f"  {size / 1e6:6.1f} MB  {name}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["requirements.txt"])
