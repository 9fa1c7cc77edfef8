"""A fake of MMR's HTTP answers to the smoke test and the transfer, on 127.0.0.1, for ``mmr_admin.sh``.

Each route answers as MMR's handler does at 84bcb70 (the JSON shapes of api/r0/upload_sync.go,
api/custom/purge.go, datastores.go and tasks.go), and ``faults`` makes it fail the way MMR can.
It checks what MMR checks first: a configured Host and the shared-secret token; and, as Go's server
does, whether the client half-closed its side, which cancels MMR's request context.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# MMR's default uploads.minBytes (../shared/upstream/mmr/config-keys.tsv line 54); the program leaves it unset.
UPLOADS_MIN_BYTES = 100


@dataclass
class FakeState:
    token: str
    servers: set[str]
    media: dict[str, bytes] = field(default_factory=dict)
    # Media on the source datastore, by id; a transfer moves them to ``moved``.
    on_source: dict[str, int] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    faults: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    polls: int = 0
    rate_limited: int = 0
    half_closed: int = 0


def _handler(state: FakeState) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self._client_half_closed():
                # Go's server cancels the request's context, and MMR's handler fails with it.
                state.half_closed += 1
                return self._answer(500, {"errcode": "M_UNKNOWN", "error": "context canceled"})
            host = (self.headers.get("Host") or "").split(":")[0]
            state.requests.append((method, self.path, host))
            if match := re.fullmatch(r"/public/([^/]+)", self.path):
                # The bucket's public address (s3.publicBaseUrl): no Host or token check.
                if match.group(1) not in state.media:
                    return self._answer(404, b"NoSuchKey")
                return self._answer(200, state.media[match.group(1)])
            if "rate-limit-once" in state.faults and state.rate_limited == 0:
                state.rate_limited += 1
                return self._answer(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Rate Limited"})
            if host not in state.servers:
                return self._answer(404, {"errcode": "M_NOT_FOUND", "error": "Unknown host"})
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._answer(401, {"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token"})
            path = self.path.split("?")[0]
            if path == "/healthz":
                return self._answer(200, b"OK")
            if method == "POST" and path == "/_matrix/media/v3/upload":
                if "refuse-upload" in state.faults:
                    return self._answer(500, {"errcode": "M_UNKNOWN", "error": "Unexpected Error"})
                if len(body) < UPLOADS_MIN_BYTES:
                    # The real v1.3.8 binary refuses bodies under uploads.minBytes (api/r0/upload_sync.go;
                    # ../shared/upstream/mmr/real-binary.md): the smoke test once sent 89 bytes.
                    return self._answer(
                        500,
                        {
                            "errcode": "M_UNKNOWN",
                            "error": "Body too small or not provided",
                            "mr_errcode": "M_MEDIA_TOO_SMALL",
                        },
                    )
                media_id = hashlib.sha256(body).hexdigest()[:24]
                state.media[media_id] = b"other bytes" if "corrupt" in state.faults else body
                return self._answer(200, {"content_uri": f"mxc://{host}/{media_id}"})
            if match := re.fullmatch(r"/_matrix/client/v1/media/download/([^/]+)/([^/]+)", path):
                if match.group(2) not in state.media:
                    return self._answer(404, {"errcode": "M_NOT_FOUND", "error": "Media not found"})
                if "redirect" in state.faults or "redirect-nowhere" in state.faults:
                    # api/v1/download.go line 20 asks for redirects on this route; with redirectWhenCached MMR
                    # answers 307 to the public URL (api/_routers/98-use-rcontext.go lines 67-71).
                    port = 9 if "redirect-nowhere" in state.faults else self.server.server_address[1]
                    location = f"http://127.0.0.1:{port}/public/{match.group(2)}"
                    return self._answer(307, b"", {"Location": location})
                return self._answer(200, state.media[match.group(2)], {"Content-Type": "text/plain"})
            if match := re.fullmatch(r"/_matrix/media/unstable/admin/purge/([^/]+)/([^/]+)", path):
                state.media.pop(match.group(2), None)
                return self._answer(200, {"purged": True})
            if match := re.fullmatch(r"/_matrix/media/unstable/admin/datastores/([^/]+)/size_estimate", path):
                count = len(state.on_source)
                return self._answer(
                    200,
                    {"media_affected": count, "thumbnails_affected": 0, "total_bytes": sum(state.on_source.values())},
                )
            if re.fullmatch(r"/_matrix/media/unstable/admin/datastores/[^/]+/transfer_to/[^/]+", path):
                if "drop-transfer-start" in state.faults:
                    # The task started, but the answer never came: the connection closes without one.
                    state.tasks[len(state.tasks) + 1] = {"task_id": len(state.tasks) + 1, "end_ts": 0}
                    self.close_connection = True
                    return None
                task_id = len(state.tasks) + 1
                state.tasks[task_id] = {"task_id": task_id, "task_name": "storage_migration", "end_ts": 0}
                return self._answer(200, {"media_affected": len(state.on_source), "task_id": task_id})
            if match := re.fullmatch(r"/_matrix/media/unstable/admin/tasks/(\d+)", path):
                return self._answer(200, self._poll(int(match.group(1))))
            return self._answer(404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"})

        def _client_half_closed(self) -> bool:
            """Whether the client shut its side down after the request, as Go's server would notice."""
            time.sleep(0.05)
            self.connection.setblocking(False)
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                return False
            finally:
                self.connection.setblocking(True)

        def _poll(self, task_id: int) -> dict[str, Any]:
            """Moves one piece of media a poll, then ends the task as the faults say."""
            state.polls += 1
            task = state.tasks[task_id]
            if "stall" in state.faults:
                return {**task, "is_finished": False, "error_message": ""}
            movable = [key for key in state.on_source if "leave-one" not in state.faults or len(state.on_source) > 1]
            if movable:
                state.moved[movable[0]] = state.on_source.pop(movable[0])
                return {**task, "is_finished": False, "error_message": ""}
            error = "error in locate: connection refused" if "task-error" in state.faults else ""
            return {**task, "end_ts": 1, "is_finished": True, "error_message": error}

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


@contextmanager
def fake_mmr(state: FakeState) -> Iterator[int]:
    """Serves ``state`` on a free port of 127.0.0.1 until the block ends; yields the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
