"""The readiness script of a host the program makes, over a real sshd (Debian's openssh-server) in a network
namespace of the test's, logged in with an Ed25519 key made as pulumi-tls makes it, the certificates on stdin.

What runs for real: sshd and the key, the session's shell, ``timeout``, ``mountpoint`` (on a tmpfs mounted for
the test), ``python3`` writing the certificates, ``ss`` in the namespace. Stand-ins, each a few lines below:
``cloud-init`` (done, or never done), ``systemctl`` (a restart starts a listener on the engine's port) and
``docker`` (its version and data root): the droplet's own cannot run on this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from config_schema.cloud_init import EnginePaths, readiness_script
from tests.host_materials import host_materials, ssh_key_pair
from tests.host_tools import in_new_network_namespace, require_tool, unavailable
from tests.kube_control_plane import free_port

TIMEOUT_SECONDS = 3


@dataclass
class SshHost:
    directory: Path
    namespace_pid: int
    port: int
    private_key: Path
    # Where the stand-in engine listens once "restarted"; the script waits for it there.
    engine_port: int

    def run(
        self, script: str, stdin: str, *, key: Path | None = None, known_hosts: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``script`` as pulumi-command runs a remote command: the user's shell reads it, stdin is the input, and
        the host must present the host key the program made (its ``hostKey``, ssh's known_hosts here)."""
        return subprocess.run(
            [
                "nsenter",
                f"--net=/proc/{self.namespace_pid}/ns/net",
                str(require_tool("ssh")),
                "-i",
                str(key or self.private_key),
                "-p",
                str(self.port),
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={known_hosts or self.directory / 'known_hosts'}",
                "-o",
                "IdentitiesOnly=yes",
                "root@127.0.0.1",
                script,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _write_stubs(directory: Path, engine_port: int) -> Path:
    stubs = directory / "stubs"
    stubs.mkdir()
    state, log = directory / "state", directory / "calls.log"
    state.mkdir()
    _stub(
        stubs / "cloud-init",
        f'echo "cloud-init $*" >>{log}\n'
        f'[ "$1" = status ] || exit 2\n[ -e {state}/booted ] && {{ echo "status: done"; exit 0; }}\n'
        '[ "$2" = --wait ] && exec sleep 3600\necho "status: running"; exit 0',
    )
    listener = (
        f"python3 -c 'import socket,time; s=socket.create_server((\"127.0.0.1\", {engine_port})); time.sleep(3600)'"
    )
    _stub(
        stubs / "systemctl",
        f'echo "systemctl $*" >>{log}\n'
        f'[ "$1 $2" = "restart docker" ] || exit 0\n'
        f"setsid {listener} </dev/null >/dev/null 2>&1 &\necho $! >{state}/engine.pid\n"
        "exit 0",
    )
    _stub(
        stubs / "docker",
        '[ "$1" = version ] && [ "$2" = --format ] && { echo 20.10.24; exit 0; }\n'
        f'[ "$1" = info ] && {{ echo {directory}/data; exit 0; }}\n[ "$1" = version ] && exit 0\nexit 1',
    )
    return stubs


@pytest.fixture
def ssh_host(tmp_path: Path) -> Iterator[SshHost]:
    sshd = str(require_tool("sshd"))
    if os.geteuid() != 0:
        unavailable("sshd logs in as root only when started as root")
    port, engine_port = free_port(), free_port()
    private, public = ssh_key_pair()
    (tmp_path / "client_key").write_text(private)
    (tmp_path / "client_key").chmod(0o600)
    host_key, host_public = ssh_key_pair()
    (tmp_path / "host_key").write_text(host_key)
    (tmp_path / "host_key").chmod(0o600)
    # The stack output hostSshKnownHosts is "<address> <public key>"; ssh writes a port other than 22 so.
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")
    (tmp_path / "authorized_keys").write_text(public + "\n")
    stubs = _write_stubs(tmp_path, engine_port)
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path}/host_key\nPidFile {tmp_path}/sshd.pid\n"
        f"AuthorizedKeysFile {tmp_path}/authorized_keys\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        # The test's directory is under /tmp (mode 1777), which StrictModes would refuse.
        "StrictModes no\n"
        f"SetEnv PATH={stubs}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    (tmp_path / "data").mkdir()
    process = subprocess.Popen(
        [
            *in_new_network_namespace(),
            sshd,
            "-D",
            "-e",
            "-f",
            str(tmp_path / "sshd_config"),
        ],
        stdout=(tmp_path / "sshd.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not (tmp_path / "sshd.pid").exists():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "sshd.log").read_text()
            time.sleep(0.1)
        yield SshHost(tmp_path, process.pid, port, tmp_path / "client_key", engine_port)
    finally:
        for pidfile in (tmp_path / "state" / "engine.pid", tmp_path / "sshd.pid"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        subprocess.run(["umount", str(tmp_path / "data")], capture_output=True)


def _script(host: SshHost) -> str:
    paths = EnginePaths(data_root=str(host.directory / "data"), tls_dir=str(host.directory / "tls"))
    return readiness_script("mmr-dev-docker", paths, timeout_seconds=TIMEOUT_SECONDS, port=host.engine_port)


def _booted(host: SshHost, *, volume: bool = True) -> None:
    (host.directory / "state" / "booted").touch()
    if volume:
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(host.directory / "data")], check=True)


def test_a_ready_host_gets_its_certificates_and_an_engine_on_its_port(ssh_host: SshHost) -> None:
    _booted(ssh_host)
    files = host_materials("203.0.113.10").server_files()
    ran = ssh_host.run(_script(ssh_host), json.dumps(files))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith("ready: Docker 20.10.24 on ")
    for name, text in files.items():
        written = ssh_host.directory / "tls" / name
        assert written.read_text() == text and written.stat().st_mode & 0o777 == 0o600
    assert (ssh_host.directory / "tls").stat().st_mode & 0o777 == 0o700
    calls = (ssh_host.directory / "calls.log").read_text()
    assert "systemctl restart docker" in calls
    # Run again with the same certificates and the engine listening: nothing restarts.
    again = ssh_host.run(_script(ssh_host), json.dumps(files))
    assert again.returncode == 0 and (ssh_host.directory / "calls.log").read_text().count("restart docker") == 1


def test_a_host_that_never_finishes_booting_fails_with_what_to_read(ssh_host: SshHost) -> None:
    started = time.monotonic()
    ran = ssh_host.run(_script(ssh_host), "{}")
    assert ran.returncode == 1 and time.monotonic() - started < TIMEOUT_SECONDS + 20
    assert f"cloud-init did not finish within {TIMEOUT_SECONDS} s" in ran.stderr
    assert "/var/log/cloud-init-output.log" in ran.stderr and "status: running" in ran.stderr


def test_a_host_without_its_volume_stops_before_the_engine_is_touched(ssh_host: SshHost) -> None:
    _booted(ssh_host, volume=False)
    ran = ssh_host.run(_script(ssh_host), "{}")
    assert ran.returncode == 1 and "the data volume is not mounted at" in ran.stderr
    assert "systemctl" not in (ssh_host.directory / "calls.log").read_text()


def test_another_key_is_refused(ssh_host: SshHost) -> None:
    _booted(ssh_host)
    other = ssh_host.directory / "other_key"
    other.write_text(ssh_key_pair()[0])
    other.chmod(0o600)
    ran = ssh_host.run("true", "", key=other)
    assert ran.returncode == 255 and "Permission denied" in ran.stderr


def test_a_host_with_another_host_key_is_refused(ssh_host: SshHost) -> None:
    _booted(ssh_host)
    (ssh_host.directory / "impostor").write_text(f"[127.0.0.1]:{ssh_host.port} {ssh_key_pair()[1]}\n")
    ran = ssh_host.run("true", "", known_hosts=ssh_host.directory / "impostor")
    assert ran.returncode == 255 and "Host key verification failed" in ran.stderr, ran.stderr
