"""The real-engine tiers find their programs at any PostgreSQL major and outside the PATH (tests/host_tools.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.host_tools import ROOT_TESTS, find_postgres, find_tool, unavailable

FAKE_POSTGRES = "#!/bin/sh\necho 'postgres (PostgreSQL) {major}.2'\n"


def _fake_server(root: Path, major: str, programs: tuple[str, ...] = ("initdb", "pg_ctl", "postgres")) -> Path:
    bin_dir = root / "usr/lib/postgresql" / major / "bin"
    bin_dir.mkdir(parents=True)
    for program in programs:
        (bin_dir / program).write_text(FAKE_POSTGRES.format(major=major))
        (bin_dir / program).chmod(0o755)
    return bin_dir


def test_the_newest_major_is_taken_whatever_it_is(tmp_path: Path) -> None:
    for major in ("9.6", "15", "17"):
        _fake_server(tmp_path, major)
    found = find_postgres(str(tmp_path / "usr/lib/postgresql/*/bin"))
    assert found is not None
    assert found.bin_dir == tmp_path / "usr/lib/postgresql/17/bin"
    assert found.lib_dir == tmp_path / "usr/lib/postgresql/17/lib"
    assert found.share_dir == Path("/usr/share/postgresql/17")
    assert found.major == 17


def test_a_major_without_its_server_programs_is_passed_over(tmp_path: Path) -> None:
    _fake_server(tmp_path, "16")
    _fake_server(tmp_path, "18", programs=("initdb",))  # postgresql-client-18 alone, say
    found = find_postgres(str(tmp_path / "usr/lib/postgresql/*/bin"))
    assert found is not None and found.bin_dir.parent.name == "16"


def test_a_server_on_the_path_is_found_without_debian_directories(tmp_path: Path) -> None:
    bin_dir = _fake_server(tmp_path / "opt", "17")
    found = find_postgres(str(tmp_path / "nowhere/*/bin"), search_path=str(bin_dir))
    assert found is not None and found.bin_dir == bin_dir


def test_no_server_is_none(tmp_path: Path) -> None:
    assert find_postgres(str(tmp_path / "nowhere/*/bin"), search_path=str(tmp_path)) is None


def test_a_program_in_sbin_is_found_without_sbin_on_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A non-root user's PATH on Debian lacks /usr/sbin, where nginx and dockerd are.
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_tool("sh") is not None
    assert find_tool("sh", search_path=str(tmp_path)) is None
    assert find_tool("no-such-program-anywhere") is None


def test_the_installed_server_is_found(tmp_path: Path) -> None:
    found = find_postgres()
    assert found is not None, "tests/run installs postgresql"
    assert (found.share_dir / "postgres.bki").exists()


def test_no_versioned_path_is_hard_coded_in_the_tests() -> None:
    versioned = re.compile(r"postgresql/\d|python3\.\d+/|/usr/lib/[a-z0-9_-]+/\d")
    offenders = [
        f"{path.relative_to(ROOT_TESTS.parent)}:{number}"
        for path in sorted(ROOT_TESTS.rglob("*"))
        if path.is_file() and path.suffix in (".py", ".sh", "") and "upstream" not in path.parts
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if versioned.search(line) and path.name != "test_host_tools.py"
    ]
    assert offenders == []


def test_the_command_line_names_missing_packages_on_one_line() -> None:
    output = subprocess.run(
        [sys.executable, str(ROOT_TESTS / "host_tools.py")], capture_output=True, text=True, check=True
    ).stdout
    assert output.count("\n") == 1
    assert output.strip() == "", f"this machine lacks {output.strip()}: tests/run installs them"


def test_tests_run_names_what_it_cannot_install_on_one_line() -> None:
    """As a user without root or sudo, with nginx hidden: one line naming the package, no traceback."""
    if os.geteuid() != 0 or find_tool("unshare") is None or find_tool("setpriv") is None:
        unavailable("needs root, unshare and setpriv (Debian: util-linux) to hide a program from a plain user")
    nginx = find_tool("nginx")
    assert nginx is not None, "tests/run installs nginx"
    hide_and_run = (
        f"mount --bind /dev/null {nginx} && cd {ROOT_TESTS.parent} && "
        "exec setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/bin:/bin HOME=/tmp bash tests/run"
    )
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", hide_and_run],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "tests/run: needs the Debian packages nginx: run sudo apt-get install -y nginx, or this as root"
    ]
