"""Which provider SDKs a stack needs, and the one command that installs those missing.

``requirements.txt`` holds the core and the Docker platform; each cloud and Kubernetes has a file
of its own, so that a Docker-only stack installs none of them. That matters twice: the cloud SDKs
are hundreds of MB, and Pulumi's Python language host asks the engine for a provider plugin for
every Pulumi package installed in the virtualenv (pulumi/pulumi 1b59498,
sdk/python/cmd/pulumi-language-python/main.go ``listPulumiPackageInfos`` lines 607-650 and
``packageDependencyFromPluginJSON`` lines 652-725), so an installed SDK costs a plugin download
even for a stack that never starts it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config_schema.errors import PROJECT
from config_schema.stack import StackConfig


@dataclass(frozen=True)
class Sdk:
    module: str
    requirements: str
    # The setting that needs it, as the operator wrote it: "s3.provider is aws".
    needed_by: str


def sdks_needed(stack: StackConfig) -> list[Sdk]:
    """Every SDK outside ``requirements.txt`` that this stack imports, with the first setting that needs it."""
    needs: dict[str, Sdk] = {}

    def need(module: str, requirements: str, needed_by: str) -> None:
        needs.setdefault(module, Sdk(module, requirements, needed_by))

    if stack.platform == "kubernetes":
        need("pulumi_kubernetes", "requirements-kubernetes.txt", "platform is kubernetes")
    for key, provider in (("s3.provider", stack.s3.provider), ("database.provider", stack.database.provider)):
        if provider == "aws":
            need("pulumi_aws", "requirements-aws.txt", f"{key} is aws")
        elif provider == "digitalocean":
            need("pulumi_digitalocean", "requirements-digitalocean.txt", f"{key} is digitalocean")
    if stack.host.provider == "digitalocean":
        for module in ("pulumi_digitalocean", "pulumi_tls", "pulumi_command"):
            need(module, "requirements-host-digitalocean.txt", "host.provider is digitalocean")
    return list(needs.values())


def missing_sdks_message(
    stack: StackConfig, is_installed: Callable[[str], bool], python: str, project_dir: str
) -> str | None:
    """One line naming what needs each missing SDK and the command that installs them all; None when none is."""
    missing = [sdk for sdk in sdks_needed(stack) if not is_installed(sdk.module)]
    if not missing:
        return None
    interpreter = Path(python)
    # Relative to the project, where `pulumi up` runs, when the virtualenv is inside it (Pulumi.yaml: venv).
    shown = os.path.relpath(interpreter, project_dir) if interpreter.is_relative_to(project_dir) else python
    needs = "; ".join(f"{PROJECT}:{sdk.needed_by}, which needs the {sdk.module} SDK" for sdk in missing)
    files = " ".join(f"-r {requirements}" for requirements in dict.fromkeys(sdk.requirements for sdk in missing))
    return (
        f"{needs}; this virtualenv does not have it (requirements.txt holds only the core and Docker). "
        f"Fix: {shown} -m pip install {files}"
    )
