"""Every container a Docker stack declares names its capabilities as a refresh reads them back, so that no
`pulumi refresh` can propose replacing it (issue #36: the import container's "SETUID" came back "CAP_SETUID").

The real provider's Docker client rewrites the names before the engine stores them, and a refresh writes the
engine's list into the state; the stand-in plugin does the same (tests/docker_replay.py
``go_client_capabilities``, which cites both). A name in any other form than that one is a replacement after
every refresh.
"""

from __future__ import annotations

import pytest

from tests.docker_replay import go_client_capabilities
from tests.pulumi_harness import run_program
from tests.variants import PROVIDER_CONFIG, VARIANTS

CONTAINER = "docker:index/container:Container"


def _declared(name: str) -> dict[str, dict[str, list[str]]]:
    run = run_program(VARIANTS[name](), extra_config=PROVIDER_CONFIG.get(name))
    return {c.name: c.inputs.get("capabilities") or {} for c in run.of_type(CONTAINER)}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_container_names_its_capabilities_as_the_engine_stores_them(name: str) -> None:
    for container, capabilities in _declared(name).items():
        for field in ("adds", "drops"):
            declared = capabilities.get(field) or []
            assert sorted(declared) == (go_client_capabilities(declared) or []), (
                f"{container}: capabilities.{field} {declared} is read back by a refresh as "
                f"{go_client_capabilities(declared)}, and a changed capabilities replaces the container"
            )


def test_the_containers_that_add_capabilities_are_checked() -> None:
    """The check above sees the containers that add any: the setup container, and the import's."""
    added = {
        container
        for name in ("dev", "operations")
        for container, capabilities in _declared(name).items()
        if capabilities.get("adds")
    }
    assert {"mmr-dev-setup", "mmr-dev-import"} <= added, added


def test_the_go_client_form() -> None:
    assert go_client_capabilities(["setuid", "CAP_SETGID", "SETUID", "ALL"]) == ["ALL", "CAP_SETGID", "CAP_SETUID"]
    assert go_client_capabilities([]) is None
