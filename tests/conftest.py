"""Puts the project root on sys.path, so tests import ``config_schema`` and ``components`` as the program does."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# A throwaway PostgreSQL server for the tests that talk to a real one.
pytest_plugins = ["tests.postgres_server", "tests.docker_engine"]


@pytest.fixture(autouse=True, scope="session")
def engine_api_without_an_engine() -> Iterator[None]:
    """The program asks the Docker engine for its API version; see ``tests.pulumi_harness.mock_engine_api``."""
    from tests.pulumi_harness import mock_engine_api

    with pytest.MonkeyPatch.context() as patch:
        mock_engine_api(patch)
        yield
