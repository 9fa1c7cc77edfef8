"""What a virtualenv made from some requirements files holds, read from this interpreter's installed metadata.

``pip install -r requirements.txt`` installs the files' pins and, recursively, what each
distribution requires (its ``Requires-Dist`` lines whose markers hold here, without extras).
The same distributions are installed in this, the development virtualenv, at the same
versions, so their closure can be resolved, measured and rebuilt offline: a test must not
reach PyPI. ``bench/venv_size.py`` measures a fresh ``pip install`` for comparison.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pinned(requirements_file: Path) -> list[Requirement]:
    """The requirements a file names, following ``-r`` includes."""
    found: list[Requirement] = []
    for line in requirements_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += pinned(requirements_file.parent / line[3:].strip())
        elif line:
            found.append(Requirement(line))
    return found


def closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Every installed distribution the requirements pull in, by canonical name."""
    result: dict[str, metadata.Distribution] = {}
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in result:
            continue
        distribution = metadata.distribution(requirement.name)
        assert requirement.specifier.contains(distribution.version, prereleases=True), (
            f"{requirement} is pinned, but this virtualenv has {distribution.version}: reinstall requirements-dev.txt"
        )
        result[name] = distribution
        pending += [Requirement(line) for line in distribution.requires or []]
        # An extra asked for here (moto[server]) brings its own requirements.
        for extra in requirement.extras:
            pending += [
                Requirement(re.sub(r";.*$", "", line))
                for line in distribution.requires or []
                if Requirement(line).marker and Requirement(line).marker.evaluate({"extra": extra})
            ]
    return result


def installed_files(distribution: metadata.Distribution) -> list[Path]:
    """The distribution's files inside site-packages (scripts in bin/ left out), as they are on disk."""
    root = Path(str(distribution.locate_file("")))
    return [root / str(path) for path in distribution.files or [] if not str(path).startswith("..")]


def size_bytes(distributions: dict[str, metadata.Distribution]) -> int:
    return sum(path.stat().st_size for d in distributions.values() for path in installed_files(d) if path.is_file())


def plugins_pulumi_fetches(distributions: dict[str, metadata.Distribution]) -> list[str]:
    """The provider plugins Pulumi's Python language host asks the engine for, given these packages.

    As pulumi/pulumi 1b59498 sdk/python/cmd/pulumi-language-python/main.go decides: a package
    counts if it has a ``pulumi-plugin.json`` or its name starts with ``pulumi-`` (lines 639-645,
    ``pulumi`` itself excepted, ``packagesWithoutPlugins``), and is dropped when that file says
    ``"resource": false`` (lines 666-671); the plugin's name is the file's, else the package's
    without ``pulumi-`` (lines 690-692).
    """
    plugins = []
    for name, distribution in distributions.items():
        plugin_json = next((p for p in installed_files(distribution) if p.name == "pulumi-plugin.json"), None)
        if plugin_json is None:
            if name.startswith("pulumi-"):
                plugins.append(name.removeprefix("pulumi-"))
            continue
        declared = json.loads(plugin_json.read_text())
        if declared.get("resource"):
            plugins.append(declared.get("name") or name.removeprefix("pulumi-"))
    return sorted(plugins)


def build_virtualenv(target: Path, distributions: dict[str, metadata.Distribution]) -> Path:
    """A virtualenv holding exactly these distributions (linked from this one); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    python = target / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    for distribution in distributions.values():
        root = Path(str(distribution.locate_file("")))
        tops = {path.relative_to(root).parts[0] for path in installed_files(distribution)}
        for top in tops:
            link = site_packages / top
            if not link.exists() and (root / top).exists():
                link.symlink_to(root / top)
    return python
