"""What a new Debian 12 droplet is given to become a Docker host: its cloud-config and the readiness script.

The order on first boot (Debian's cloud.cfg, cloud-init 22.4): the ``mounts`` module (init stage) mounts the
volume at Docker's data root; ``package-update-upgrade-install`` (final stage) installs docker.io, whose
postinst starts the engine there on its local socket only; ``write-files-deferred`` (after it) writes the TLS
settings. The readiness script, run over SSH by the program, brings the Docker certificates on stdin, restarts
the engine onto 2376, and proves it answers.

The one secret in the cloud-config is the droplet's SSH host key, made by the program so that the readiness
command knows whom it talks to from the first connection (without it, whoever sat between the program and the
new droplet would be handed the engine's server key). User data stays readable from the droplet's metadata
service, so the certificates are kept out of it: the host key lets nobody in, the server key would let its
holder pose as the engine.

A changed cloud-config reaches only a new droplet (DigitalOcean reads user data at first boot); the program
ignores changes to it rather than replace the droplet silently. What may change on a running host (the
certificates, the volume's size) goes through the readiness script, which runs again when they change.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

import yaml

DOCKER_TLS_PORT = 2376
READY_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class EnginePaths:
    """Where dockerd's configuration puts things; the defaults are the droplet's."""

    data_root: str = "/var/lib/docker"
    tls_dir: str = "/etc/docker/tls"
    unix_socket: str = "/var/run/docker.sock"


def volume_device(volume_name: str) -> str:
    """How a DigitalOcean volume appears on its droplet (udev's by-id link of the volume's SCSI disk)."""
    return f"/dev/disk/by-id/scsi-0DO_Volume_{volume_name}"


def daemon_json(paths: EnginePaths = EnginePaths()) -> dict[str, object]:
    """dockerd's configuration file: TLS with client certificates only, the data root on the volume."""
    return {
        "data-root": paths.data_root,
        # tlsverify: a client must present a certificate signed by tlscacert; no other is let in. Set explicitly:
        # dockerd 20.10 also takes "tls" alone as tlsverify, but "tlsverify": false with "tls" lets any client in
        # (seen on Debian's dockerd 20.10.24 in tests/test_digitalocean_host_real.py).
        "tlsverify": True,
        "tlscacert": f"{paths.tls_dir}/ca.pem",
        "tlscert": f"{paths.tls_dir}/server-cert.pem",
        "tlskey": f"{paths.tls_dir}/server-key.pem",
        # Containers keep running while the engine restarts (a certificate renewed, a package upgraded).
        "live-restore": True,
    }


def engine_hosts(tcp_address: str = f"0.0.0.0:{DOCKER_TLS_PORT}") -> list[str]:
    """dockerd's -H flags on the droplet, beside Debian's own ``-H fd://`` (the unit's socket activation)."""
    return [f"tcp://{tcp_address}"]


def cloud_config(
    volume_name: str, paths: EnginePaths = EnginePaths(), *, ssh_host_key: tuple[str, str] | None = None
) -> str:
    """The droplet's user data: a ``#cloud-config`` document that ``cloud-init schema`` accepts.

    ``ssh_host_key``: (private key in OpenSSH format, public key line) of the host's Ed25519 SSH key.
    """
    hosts = " ".join(f"-H {host}" for host in engine_hosts())
    document: dict[str, object] = {
        "package_update": True,
        "packages": ["docker.io"],
        # nofail: a volume that is missing must not stop the boot (SSH must come up to say so); the engine's
        # unit below requires the mount, so it never starts on the droplet's own disk instead.
        "mounts": [[volume_device(volume_name), paths.data_root, "ext4", "defaults,nofail,discard", "0", "2"]],
        "write_files": [
            {
                "path": "/etc/systemd/system/docker.service.d/matrix-media-repo.conf",
                "permissions": "0644",
                "content": f"[Unit]\n# Docker's data root is the volume.\nRequiresMountsFor={paths.data_root}\n",
            },
            {
                "path": "/etc/docker/daemon.json",
                "permissions": "0644",
                "content": json.dumps(daemon_json(paths), indent=2) + "\n",
                "defer": True,
            },
            {
                # Debian's docker.service: ExecStart=/usr/sbin/dockerd -H fd:// ... $DOCKER_OPTS. The hosts are
                # flags, not daemon.json keys: dockerd refuses a directive given both ways.
                "path": "/etc/default/docker",
                "permissions": "0644",
                "content": f'DOCKER_OPTS="{hosts}"\n',
                "defer": True,
            },
        ],
    }
    if ssh_host_key is not None:
        private, public = ssh_host_key
        # The image's own host keys go, and no other type is made: sshd offers only the key the program pins,
        # whichever algorithm a client prefers (a key file that exists is not generated again).
        document.update(
            ssh_deletekeys=True,
            ssh_genkeytypes=["ed25519"],
            ssh_keys={"ed25519_private": private, "ed25519_public": public},
        )
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=1000)


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line strings (file contents, keys) as YAML literal blocks, as a person would write them."""


_LiteralDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


# Reads {"ca.pem": ..., "server-cert.pem": ..., "server-key.pem": ...} on stdin into the TLS directory and says
# whether any file changed. Python, because cloud-init (python3) is on every such droplet and a shell has no
# JSON reader.
_INSTALL_CERTIFICATES = """\
import json, os, sys
directory = sys.argv[1]
os.makedirs(directory, mode=0o700, exist_ok=True)
changed = False
for name, text in json.load(sys.stdin).items():
    path = os.path.join(directory, name)
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            file.write(text)
        changed = True
print("changed" if changed else "unchanged")
"""


def readiness_script(
    volume_name: str,
    paths: EnginePaths = EnginePaths(),
    *,
    timeout_seconds: int = READY_TIMEOUT_SECONDS,
    port: int = DOCKER_TLS_PORT,
) -> str:
    """The command the program runs on the new host over SSH, with the certificates on stdin.

    It exits 0 once cloud-init is done, the volume is Docker's data root and the engine listens on ``port``
    with the given certificates; otherwise non-zero with one line that says which and where to look.
    """
    tls_dir = shlex.quote(paths.tls_dir)
    data_root = shlex.quote(paths.data_root)
    return f"""set -eu
fail() {{ echo "matrix-media-repo host: $*" >&2; exit 1; }}
if ! timeout {timeout_seconds} cloud-init status --wait >/dev/null 2>&1; then
    cloud-init status --long >&2 || true
    fail "cloud-init did not finish within {timeout_seconds} s, or failed (above)." \
        "On the host: less /var/log/cloud-init-output.log"
fi
mountpoint -q {data_root} ||
    fail "the data volume is not mounted at {paths.data_root}. On the host: lsblk; journalctl -b -u cloud-init"
# Grows the filesystem after the volume was grown (host.volumeSizeGib); nothing to do otherwise.
resize2fs {shlex.quote(volume_device(volume_name))} >/dev/null 2>&1 || true
state=$(python3 -c {shlex.quote(_INSTALL_CERTIFICATES)} {tls_dir})
if [ "$state" = changed ] || ! ss -Hltn "sport = :{port}" | grep -q .; then
    systemctl daemon-reload
    systemctl restart docker || fail "the Docker engine did not start; on the host: journalctl -u docker"
fi
tries=0
until docker version >/dev/null 2>&1 && ss -Hltn "sport = :{port}" | grep -q .; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || fail "the Docker engine does not listen on {port}; on the host: journalctl -u docker"
    sleep 1
done
echo "ready: Docker $(docker version --format '{{{{.Server.Version}}}}') on {port}," \
    "data root $(docker info --format '{{{{.DockerRootDir}}}}')"
"""
