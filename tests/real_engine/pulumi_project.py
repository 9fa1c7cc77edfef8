"""A clone of this project, driven by the real Pulumi CLI as an operator drives it.

- The CLI and the Python language host are the real ones, built from Go modules (tests/real_tools).
- The provider plugins are this tier's own (tests/real_engine/provider_server.py says why), installed into a
  ``PULUMI_HOME`` of the test's with ``pulumi plugin install --file`` under the names and versions the SDKs
  ask for, with ``PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true``: nothing is downloaded.
- The backend is a ``file://`` directory, secrets encrypted with a passphrase.
- The clone holds the project's tracked files, as ``git clone`` gives them, and a ``venv`` that is the
  project's own (the dev virtualenv, a superset of requirements.txt), so no run installs from PyPI.
- Every command runs in the network namespace of the tier's dockerd (``nsenter --net``), where the ports the
  stack publishes on 127.0.0.1 are, so that ``curl "$(pulumi stack output healthUrl)"`` works as typed; for a
  Kubernetes stack, with no dockerd, in the tests' own.
- For a Kubernetes stack the pulumi-kubernetes plugin is the real one (``install_kubernetes_plugin``).

The language host built here is v3.68.0's (the newest the proxy serves, see tests/real_tools/versions.env). It
takes its virtualenv from a command-line flag, which CLI v3.274.0 no longer passes (it sends Pulumi.yaml's
``runtime.options`` over gRPC), so the clone's ``venv/bin`` leads PATH: the same interpreter ``virtualenv:
venv`` names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pulumi_docker
import pulumi_kubernetes
import pulumi_random

ROOT = Path(__file__).resolve().parent.parent.parent
PROVIDERS = {
    "docker": ("tests.real_engine.docker_provider", pulumi_docker),
    "random": ("tests.real_engine.random_provider", pulumi_random),
}
PASSPHRASE = "real-engine-tier"
COMMAND_TIMEOUT_SECONDS = 20 * 60


def sdk_plugin_version(sdk: Any) -> str:
    """The plugin version the SDK asks the engine for (its pulumi-plugin.json)."""
    return json.loads((Path(sdk.__file__).parent / "pulumi-plugin.json").read_text())["version"]


def install_plugins(pulumi_home: Path, tools: Path) -> None:
    """Each provider plugin as a launcher script, ``pulumi plugin install``ed from its file."""
    launchers = pulumi_home / "launchers"
    launchers.mkdir(parents=True, exist_ok=True)
    python = ROOT / "venv" / "bin" / "python"
    for name, (module, sdk) in PROVIDERS.items():
        launcher = launchers / f"pulumi-resource-{name}"
        # -P: the clone's own tests/ (the cwd) must not shadow this checkout's.
        launcher.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {python} -P -m {module} "$@"\n')
        launcher.chmod(0o755)
        subprocess.run(
            [str(tools / "pulumi"), "plugin", "install", "resource", name, sdk_plugin_version(sdk), "--file", launcher],
            check=True,
            capture_output=True,
            env={**os.environ, "PULUMI_HOME": str(pulumi_home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
        )


def install_kubernetes_plugin(pulumi_home: Path, tools: Path, provider_bin: Path) -> None:
    """The real pulumi-kubernetes provider (tests/real_tools/versions.env says which), as the SDK's version."""
    subprocess.run(
        [
            str(tools / "pulumi"),
            "plugin",
            "install",
            "resource",
            "kubernetes",
            sdk_plugin_version(pulumi_kubernetes),
            "--file",
            str(provider_bin / "pulumi-resource-kubernetes"),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PULUMI_HOME": str(pulumi_home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )


class PulumiProject:
    def __init__(
        self, workdir: Path, tools: Path, pulumi_home: Path, docker_host: str | None, engine_pid: int | None
    ) -> None:
        """``engine_pid``: the dockerd whose network namespace the commands run in; None runs them in the tests' own."""
        self.directory = workdir / "matrix-media-repo"
        # The working tree as a clone would have it once committed: tracked files and new ones git does not ignore.
        tracked = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split("\0")
        for name in filter(None, tracked):
            if not os.path.lexists(ROOT / name):
                continue  # deleted in the working tree
            target = self.directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target, follow_symlinks=False)
        (self.directory / "venv").symlink_to(ROOT / "venv")
        backend = workdir / "backend"
        backend.mkdir()
        self.engine_pid = engine_pid
        self.env = {
            **os.environ,
            "PATH": f"{self.directory / 'venv' / 'bin'}:{tools}:{os.environ['PATH']}",
            "PULUMI_HOME": str(pulumi_home),
            "PULUMI_BACKEND_URL": f"file://{backend}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # The operator's "yes" at the prompt, so that `pulumi up` runs as the README types it.
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PULUMI_COLOR": "never",
        }
        if docker_host is not None:
            self.env["DOCKER_HOST"] = docker_host

    def sh(self, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``script`` as bash runs it in the clone, in the engine's network namespace; output combined."""
        namespace = [] if self.engine_pid is None else ["nsenter", f"--net=/proc/{self.engine_pid}/ns/net"]
        result = subprocess.run(
            [*namespace, "bash", "-euo", "pipefail", "-c", script],
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{script!r} exited {result.returncode}:\n{result.stdout[-6000:]}")
        return result

    def pulumi(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.sh(" ".join(["pulumi", *map(_quoted, arguments)]), check=check)

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        flags = ["--json", "--show-secrets"] if show_secrets else ["--json"]
        return json.loads(self.pulumi("stack", "output", *flags).stdout)

    def state(self) -> str:
        """``pulumi stack export``: the state file as the backend holds it."""
        return self.pulumi("stack", "export").stdout


def _quoted(argument: str) -> str:
    return "'" + argument.replace("'", "'\\''") + "'"


def docker_project(engine: Any, workdir: Path) -> PulumiProject:
    """A clone in ``workdir`` whose commands reach ``engine`` (a docker.APIClient on a dockerd of the tier's own,
    tests/docker_engine.py): the real CLI built once (tests/real_tools), our plugins installed."""
    from tests.docker_engine import engine_pid
    from tests.real_tools.tools import pulumi_bin_dir

    tools = pulumi_bin_dir()
    install_plugins(workdir / "pulumi-home", tools)
    socket_path = engine.get_adapter("http+docker://localhost").socket_path
    return PulumiProject(workdir, tools, workdir / "pulumi-home", f"unix://{socket_path}", engine_pid(engine))
