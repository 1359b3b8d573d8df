"""Hand-made SSE bodies for rule tests: a valid chat stream and ways to break it."""

from __future__ import annotations

import json
from typing import Any

from conformance.capture import Transcript
from conformance.capture import from_bytes as bare_from_bytes
from conformance.scenarios.chat import request_for

__all__ = ["chunk", "event", "from_bytes", "stream_body", "stream_transcript"]

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    body.update(extra)
    return body


def event(value: Any) -> bytes:
    data = value if isinstance(value, str) else json.dumps(value)
    return f"data: {data}\n\n".encode()


def stream_body(words: tuple[str, ...] = (" Hello", " world"), *, done: bool = True) -> bytes:
    parts = [event(chunk({"role": "assistant", "content": ""}))]
    parts += [event(chunk({"content": w})) for w in words]
    parts.append(event(chunk({}, "stop")))
    if done:
        parts.append(event("[DONE]"))
    return b"".join(parts)


def from_bytes(body: bytes, *, scenario: str = "stream-basic", **kw: Any) -> Transcript:
    """A transcript of ``body`` carrying the request its scenario sends (rules read it)."""
    kw.setdefault("request_json", request_for(scenario))
    return bare_from_bytes(body, scenario=scenario, **kw)


def stream_transcript(body: bytes | None = None, **kw: Any) -> Transcript:
    kw.setdefault("headers", SSE_HEADERS)
    return from_bytes(stream_body() if body is None else body, **kw)
