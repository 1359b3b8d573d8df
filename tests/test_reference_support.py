"""Shared helpers for the reference server tests: a raw HTTP/1.1 client and fixtures.

The client speaks HTTP over a plain socket and keeps what a library would hide:
every ``recv`` with its size and time, the chunked framing (one chunk per
server write), and whether the body ended properly.  It holds no tests: the
name only keeps it among the files of the reference tests.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from conformance.reference import MODELS

__all__ = [
    "CLOCK_TOOL",
    "FAST",
    "MODEL",
    "WEATHER_TOOL",
    "Exchange",
    "chat_body",
    "clean_framing",
    "data_events",
    "exchange",
    "json_chunks",
    "stream_text",
]

MODEL = MODELS[0]
FAST = 0.002  # token delay for tests that do not measure timing


@dataclass
class Exchange:
    """One request and everything that came back, byte for byte."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    reads: list[tuple[float, int]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False
    raw: bytes = b""
    t_headers: float = 0.0
    t_eof: float = 0.0

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks) if self.is_chunked else self.raw_body

    @property
    def is_chunked(self) -> bool:
        return self.headers.get("transfer-encoding", "").lower() == "chunked"

    @property
    def raw_body(self) -> bytes:
        return self.raw.partition(b"\r\n\r\n")[2]

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(
    url: str,
    body: dict[str, Any] | bytes | None = None,
    *,
    path: str = "/v1/chat/completions",
    headers: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> Exchange:
    """Send one request with ``Connection: close`` and read until the server closes."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    method = "GET" if payload is None else "POST"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if payload is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + (payload or b"")
    result = Exchange()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        start = time.monotonic()
        sock.sendall(request)
        data = bytearray()
        while piece := _recv(sock):
            now = time.monotonic() - start
            result.reads.append((now, len(piece)))
            data += piece
            if not result.t_headers and b"\r\n\r\n" in data:
                result.t_headers = now
        result.t_eof = time.monotonic() - start
    result.raw = bytes(data)
    _parse(result)
    return result


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _parse(result: Exchange) -> None:
    head, _, rest = result.raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    result.status = int(status_line.split()[1])
    for line in header_lines:
        name, _, value = line.partition(":")
        result.headers[name.strip().lower()] = value.strip()
    if result.is_chunked:
        result.chunks, result.complete = _dechunk(rest)
    else:
        length = int(result.headers.get("content-length", len(rest)))
        result.chunks, result.complete = [rest], len(rest) == length


def _dechunk(data: bytes) -> tuple[list[bytes], bool]:
    chunks: list[bytes] = []
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            return chunks, False
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return chunks, True
        if len(data) < size + 2:
            return [*chunks, data[:size]], False
        chunks.append(data[:size])
        data = data[size + 2 :]


def chat_body(content: str = "Say something.", **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "seed": 7,
    }
    return body | options


def data_events(body: bytes) -> list[str]:
    """The data payloads, for bodies with LF line ends (the default framing)."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        lines = [line[len("data: ") :] for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            events.append("\n".join(lines))
    return events


def json_chunks(body: bytes) -> list[dict[str, Any]]:
    chunks = []
    for event in data_events(body):
        try:
            obj = json.loads(event)
        except ValueError:
            continue
        if isinstance(obj, dict) and "choices" in obj:
            chunks.append(obj)
    return chunks


def stream_text(body: bytes) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in json_chunks(body) if c["choices"]
    )


def clean_framing(clean_body: bytes, faulty_body: bytes) -> bytes:
    """The clean body with the faulty one's ids, so bodies compare byte for byte."""
    clean_id = json_chunks(clean_body)[0]["id"].encode()
    faulty_id = faulty_body.split(b'"id":"', 1)[1].split(b'"', 1)[0]
    clean_created = str(json_chunks(clean_body)[0]["created"]).encode()
    faulty_created = faulty_body.split(b'"created":', 1)[1].split(b",", 1)[0]
    return clean_body.replace(clean_id, faulty_id).replace(
        b'"created":' + clean_created, b'"created":' + faulty_created
    )


#: Function tools for the tool-call cases of the fault and variant tests.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CLOCK_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
