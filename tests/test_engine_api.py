"""How the program asks a Docker engine for its API version (components/docker/engine_api.py), over TCP.

The unix-socket path runs in the Docker tier, where the program asks the tests' own dockerd
(tests/test_docker_engine.py::test_the_program_sends_only_what_this_engine_takes).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pulumi
import pytest

from components.docker import engine_api


class _Engine(BaseHTTPRequestHandler):
    api_version = "1.41"

    def do_GET(self) -> None:
        body = json.dumps({"ApiVersion": self.api_version, "Version": "20.10.24+dfsg1"}).encode()
        self.send_response(200 if self.path == "/version" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None: ...


@pytest.fixture
def engine() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    engine_api._asked.cache_clear()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        engine_api._asked.cache_clear()


def test_an_api_1_41_engine_gets_no_start_interval(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine_api._asked(engine) == (1, 41)
    monkeypatch.setattr(engine_api, "engine_api_version", lambda: engine_api._asked(engine))
    assert engine_api.healthcheck_start_interval(2) is None


def test_an_api_1_44_engine_gets_it(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Engine, "api_version", "1.44")
    monkeypatch.setattr(engine_api, "engine_api_version", lambda: engine_api._asked(engine))
    assert engine_api.healthcheck_start_interval(2) == "2s"


def test_no_engine_is_one_line_naming_docker_host() -> None:
    engine_api._asked.cache_clear()
    # A port nothing listens on: the connection is refused at once.
    with pytest.raises(pulumi.RunError) as failure:
        engine_api._asked("tcp://127.0.0.1:9")
    message = str(failure.value)
    assert message.startswith("docker:host: no Docker engine answered at tcp://127.0.0.1:9: ")
    assert "pulumi config set docker:host" in message and "\n" not in message
