"""Puts the project root on sys.path, so tests import ``config_schema`` and ``components`` as the program does."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# A throwaway PostgreSQL server for the tests that talk to a real one.
pytest_plugins = ["tests.postgres_server", "tests.docker_engine"]
