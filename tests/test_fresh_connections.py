"""Each exchange is recorded on a connection of its own.

A server that answers a malformed body with a 500 and then breaks the kept-alive
connection (uvicorn does, behind some mock servers) must not make the next
scenario fail: that scenario is judged on what the server answers it, as a
lone client with a new connection would see it.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MODELS = {"object": "list", "data": [{"id": "m", "object": "model"}]}


class _BreaksAfterError(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; after a 500 the connection resets on its next request."""

    protocol_version = "HTTP/1.1"
    broken = False

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, MODELS)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.broken:
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.close_connection = True
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.broken = True
            self._send(500, {"error": {"message": "malformed"}})
            return
        if "messages" not in body:
            self._send(400, {"error": {"message": "messages is required", "type": "invalid"}})
            return
        self._send(404, {"error": {"message": "no such model", "type": "invalid"}})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def breaks_after_error() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BreaksAfterError)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_connection_broken_by_one_exchange_does_not_fail_the_next(
    pytester: pytest.Pytester, breaks_after_error: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    pytester.runpytest(
        "--exo-url",
        breaks_after_error,
        "--exo-model",
        "m",
        "--exo-rules",
        "error.invalid-json",
        "--exo-rules",
        "error.missing-messages",
        "--exo-json",
        str(report),
    )
    results = {r["rule"]: r for r in json.loads(report.read_text())["results"]}
    # The malformed body really got a 500 ...
    assert results["error.invalid-json"]["outcome"] == "failed"
    # ... and the request after it, on a new connection, its 400.
    assert results["error.missing-messages"]["outcome"] == "passed", results[
        "error.missing-messages"
    ]["message"]
