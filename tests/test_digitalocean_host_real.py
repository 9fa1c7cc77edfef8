"""What of host.provider digitalocean can be real here: cloud-init's own schema check, the engine's TLS on a real
dockerd (with the real Pulumi CLI deploying the dev stack through it), the readiness script over a real sshd.

Not here: DigitalOcean (no account, no API), and the pulumi-tls and pulumi-command plugins (the Go module proxy
serves neither provider module): the materials are made as tests/host_materials.py says, and the readiness
script goes over OpenSSH's own client, as pulumi-command runs it (the command line to the user's shell, the
certificates on stdin).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml

from config_schema.cloud_init import EnginePaths, cloud_config, daemon_json, engine_hosts
from tests.docker_engine import engine_pid, running_engine
from tests.host_materials import HostMaterials, host_materials, ssh_key_pair
from tests.host_tools import require_tool
from tests.real_engine.pulumi_project import PulumiProject, install_plugins
from tests.real_tools.tools import pulumi_bin_dir
from tests.test_real_pulumi import build_real_images

TLS_PORT = 2376
ADDRESS = "127.0.0.1"


def test_the_cloud_config_passes_cloud_inits_own_schema_check(tmp_path: Path) -> None:
    cloud_init = str(require_tool("cloud-init"))
    host_key = ssh_key_pair()
    for volume, key in (("mmr-dev-docker", host_key), ("mmr-production-eu-docker", None)):
        rendered = tmp_path / f"{volume}.yaml"
        rendered.write_text(cloud_config(volume, ssh_host_key=key))
        checked = subprocess.run([cloud_init, "schema", "--config-file", str(rendered)], capture_output=True, text=True)
        assert checked.returncode == 0 and "Valid cloud-config" in checked.stdout, checked.stdout + checked.stderr
    document = yaml.safe_load(cloud_config("mmr-dev-docker", ssh_host_key=host_key))
    # The certificates come over SSH; user data is readable from the metadata service by any container.
    assert "CERTIFICATE" not in json.dumps(document) and "EC PRIVATE KEY" not in json.dumps(document)
    assert document["ssh_keys"] == {"ed25519_private": host_key[0], "ed25519_public": host_key[1]}
    deferred = {entry["path"] for entry in document["write_files"] if entry.get("defer")}
    assert deferred == {"/etc/docker/daemon.json", "/etc/default/docker"}


@pytest.fixture(scope="module")
def materials() -> HostMaterials:
    return host_materials(ADDRESS)


@pytest.fixture(scope="module")
def tls_engine(materials: HostMaterials) -> Iterator[docker.APIClient]:
    """A real dockerd started as the droplet's is configured: the rendered daemon.json and TCP host flag."""

    def configured(workdir: Path) -> tuple[Path, list[str]]:
        paths = EnginePaths(data_root=str(workdir / "data"), tls_dir=str(workdir / "tls"))
        tls = Path(paths.tls_dir)
        tls.mkdir(mode=0o700, parents=True)
        for name, text in materials.server_files().items():
            (tls / name).write_text(text)
        config_file = workdir / "daemon.json"
        config_file.write_text(json.dumps(daemon_json(paths)))
        return config_file, engine_hosts(f"{ADDRESS}:{TLS_PORT}")

    with running_engine(build_real_images, configured=configured) as client:
        yield client
        for container in client.containers(all=True):
            client.remove_container(container["Id"], force=True)


def _curl(engine: docker.APIClient, *flags: str) -> subprocess.CompletedProcess[str]:
    """curl to the engine's TCP port from inside its network namespace."""
    return subprocess.run(
        ["nsenter", f"--net=/proc/{engine_pid(engine)}/ns/net", "curl", "-sS", "--max-time", "10", *flags],
        capture_output=True,
        text=True,
    )


@pytest.mark.real_pulumi
def test_the_engine_answers_only_a_client_certificate_of_its_own_ca(
    tls_engine: docker.APIClient, materials: HostMaterials, tmp_path: Path
) -> None:
    mine = materials.write_client(tmp_path / "mine")
    other = host_materials(ADDRESS).write_client(tmp_path / "other")
    url = f"https://{ADDRESS}:{TLS_PORT}/version"
    trusted = ["--cacert", str(mine / "ca.pem")]
    answered = _curl(tls_engine, *trusted, "--cert", str(mine / "cert.pem"), "--key", str(mine / "key.pem"), url)
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["ApiVersion"] == "1.41"
    # No certificate, one from another CA, plain HTTP: each refused before any API call.
    for flags in (
        trusted,
        [*trusted, "--cert", str(other / "cert.pem"), "--key", str(other / "key.pem")],
    ):
        refused = _curl(tls_engine, *flags, url)
        assert refused.returncode != 0 and "ApiVersion" not in refused.stdout, refused
    assert "ApiVersion" not in _curl(tls_engine, f"http://{ADDRESS}:{TLS_PORT}/version").stdout
    # And the client refuses an engine whose certificate another CA signed.
    mine_client = ["--cert", str(mine / "cert.pem"), "--key", str(mine / "key.pem")]
    impostor = _curl(tls_engine, "--cacert", str(other / "ca.pem"), *mine_client, url)
    # (curl's 35: the other CA has the same name, so OpenSSL checks the server's signature with its key, and fails)
    assert impostor.returncode in (35, 60) and "ApiVersion" not in impostor.stdout, impostor
    info = tls_engine.info()
    assert info["DockerRootDir"].endswith("/data") and info["LiveRestoreEnabled"] is True


@pytest.mark.real_pulumi
def test_the_real_cli_deploys_the_dev_stack_over_tcp_with_the_client_certificate(
    tls_engine: docker.APIClient, materials: HostMaterials, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tools = pulumi_bin_dir()
    workdir = tmp_path_factory.mktemp("tls-engine")
    install_plugins(workdir / "pulumi-home", tools)
    # No DOCKER_HOST: only the stack's docker:* settings lead to the engine, as docs/digitalocean-host.md types.
    project = PulumiProject(workdir, tools, workdir / "pulumi-home", None, engine_pid(tls_engine))
    client = materials.write_client(project.directory / "mmr-host-docker")
    project.sh(
        "pulumi stack init dev\n"
        f"pulumi config set docker:host tcp://{ADDRESS}:{TLS_PORT}\n"
        f'pulumi config set docker:caMaterial -- "$(cat {client}/ca.pem)"\n'
        f'pulumi config set docker:certMaterial -- "$(cat {client}/cert.pem)"\n'
        f'pulumi config set --secret docker:keyMaterial -- "$(cat {client}/key.pem)"\n'
    )
    project.pulumi("up")
    assert "smoke test passed for 1 homeserver(s): localhost" in project.outputs()["smokeTest"]
    assert tls_engine.inspect_container("mmr-dev")["State"]["Health"]["Status"] == "healthy"
    key_body = materials.client_key_pem.splitlines()[1]
    assert key_body not in project.state() and key_body not in (project.directory / "Pulumi.dev.yaml").read_text()
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("state", "unprotect", "--all", "--yes")
    project.pulumi("destroy", "--yes")
    assert tls_engine.containers(all=True) == []
