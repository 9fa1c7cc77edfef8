"""The host's programs the real-engine tests run, found wherever Debian (or a PATH) puts them.

No path with a version in it: PostgreSQL is found at whatever major is installed (Debian 12
ships 15, Debian 13 ships 17), in Debian's per-major directory or on the PATH; every other
program on the PATH or in the sbin directories a non-root PATH leaves out. A missing program
skips its tests with the Debian package to install, and fails them under CI, which installs
everything (tests/run).

``python3 tests/host_tools.py`` prints the Debian packages missing for the whole suite, one
line, empty when none is; tests/run installs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import NoReturn

# Where Debian puts programs that a non-root user's PATH often lacks.
DEBIAN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# Debian's per-major server directories: /usr/lib/postgresql/<major>/bin.
POSTGRES_GLOB = "/usr/lib/postgresql/*/bin"
# What each tier runs, and the Debian package that provides it.
DEBIAN_PACKAGES: dict[str, str] = {
    "dockerd": "docker.io",
    "unshare": "util-linux",
    "ip": "iproute2",
    "redis-server": "redis-server",
    "redis-cli": "redis-server",
    "busybox": "busybox-static",
    "gcc": "gcc libc6-dev",
    "cmake": "cmake make g++",
    "pkg-config": "pkg-config",
    # The real-engine tier: `nsenter` into dockerd's namespace; `jq` as the README's Quickstart uses it.
    "nsenter": "util-linux",
    "jq": "jq",
    "nginx": "nginx",
    "caddy": "caddy",
    "promtool": "prometheus",
    "curl": "curl",
    # The real Kubernetes tier: the API server's service-account signing key.
    "openssl": "openssl",
    # The host a stack makes on DigitalOcean: its cloud-config's schema check, its readiness script over SSH.
    "cloud-init": "cloud-init",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
}
POSTGRES_PACKAGE = "postgresql"
# Libraries the real tools link (tests/real_tools/build.sh): pkg-config module -> Debian package.
PKG_CONFIG_PACKAGES = {"libde265": "libde265-dev"}
ROOT_TESTS = Path(__file__).resolve().parent


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skips a test that needs what this machine lacks; under CI, which installs it, fails it."""
    import pytest

    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def in_new_network_namespace() -> list[str]:
    """The words that run a command in a network namespace of its own, its loopback up: nothing it listens on or
    reaches is the machine's (``nsenter --net=/proc/<pid>/ns/net`` joins it)."""
    return [
        str(require_tool("unshare")),
        "--net",
        "--fork",
        "--",
        "sh",
        "-c",
        # A new namespace's loopback is down; ports on 127.0.0.1 need it.
        f'{require_tool("ip")} link set lo up && exec "$@"',
        "sh",
    ]


def find_tool(name: str, search_path: str | None = None) -> Path | None:
    """``name`` on the PATH, else in Debian's sbin and bin directories; only in ``search_path`` when given."""
    found = shutil.which(name, path=search_path)
    if found is None and search_path is None:
        found = shutil.which(name, path=os.pathsep.join(DEBIAN_DIRS))
    return Path(found) if found else None


def require_tool(name: str) -> Path:
    found = find_tool(name)
    if found is None:
        unavailable(f"{name} is not installed (Debian: apt-get install {DEBIAN_PACKAGES[name]})")
    return found


@dataclass(frozen=True)
class PostgresInstall:
    """One PostgreSQL server installation: its programs, its libraries and its share directory."""

    bin_dir: Path
    lib_dir: Path
    share_dir: Path

    @property
    def major(self) -> int:
        output = subprocess.run([str(self.bin_dir / "postgres"), "--version"], capture_output=True, text=True)
        return int(re.search(r"(\d+)(\.\d+)?", output.stdout).group(1))  # type: ignore[union-attr]


def _major_key(bin_dir: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<major>/bin: compare numerically, so 9.6 < 15 < 17.
    return tuple(int(part) for part in re.findall(r"\d+", Path(bin_dir).parent.name)) or (0,)


def find_postgres(postgres_glob: str = POSTGRES_GLOB, search_path: str | None = None) -> PostgresInstall | None:
    """The newest server in Debian's per-major directories, else the one whose initdb is on the PATH."""
    complete = [d for d in glob(postgres_glob) if all((Path(d) / p).exists() for p in ("initdb", "pg_ctl", "postgres"))]
    if complete:
        bin_dir = Path(max(complete, key=_major_key))
    else:
        # Resolved: a link on the PATH (/usr/local/bin/initdb) stands for the directory of the server's programs.
        initdb, pg_ctl = find_tool("initdb", search_path), find_tool("pg_ctl", search_path)
        if not (initdb and pg_ctl and initdb.resolve().parent == pg_ctl.resolve().parent):
            return None
        bin_dir = initdb.resolve().parent
    return PostgresInstall(bin_dir, *_lib_and_share(bin_dir))


def _lib_and_share(bin_dir: Path) -> tuple[Path, Path]:
    """Where this server's libraries and share files are: what its own pg_config says, else Debian's layout."""
    pg_config = bin_dir / "pg_config"
    if pg_config.exists():
        output = subprocess.run([str(pg_config), "--pkglibdir", "--sharedir"], capture_output=True, text=True)
        lines = output.stdout.split()
        if output.returncode == 0 and len(lines) == 2:
            return Path(lines[0]), Path(lines[1])
    major = bin_dir.parent.name
    return bin_dir.parent / "lib", Path("/usr/share/postgresql") / major


def require_postgres() -> PostgresInstall:
    found = find_postgres()
    if found is None:
        unavailable(
            f"no PostgreSQL server (initdb, pg_ctl, postgres) under {POSTGRES_GLOB} or on the PATH "
            f"(Debian: apt-get install {POSTGRES_PACKAGE})"
        )
    return found


def missing_packages() -> list[str]:
    """The Debian packages the suite needs that this machine lacks."""
    missing = [] if find_postgres() else [POSTGRES_PACKAGE]
    for name, package in DEBIAN_PACKAGES.items():
        if find_tool(name) is None and package not in missing:
            missing.append(package)
    pkg_config = find_tool("pkg-config")
    for module, package in PKG_CONFIG_PACKAGES.items():
        if pkg_config is None or subprocess.run([str(pkg_config), "--exists", module]).returncode != 0:
            missing.append(package)
    return missing


if __name__ == "__main__":
    print(" ".join(missing_packages()))
    sys.exit(0)
