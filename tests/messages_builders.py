"""Messages and Ollama transcripts built from bytes, for the rule tests."""

from __future__ import annotations

import json
from typing import Any

from conformance.capture import Transcript
from conformance.capture.build import from_bytes
from conformance.scenarios.messages import request_for as messages_request
from conformance.scenarios.ollama import request_for as ollama_request

MODEL = "m"
SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}
NDJSON = {"content-type": "application/x-ndjson"}


def event(value: dict[str, Any], name: str | None = "") -> bytes:
    """One SSE event; ``name`` "" means the data's type, None no event: line."""
    kind = value.get("type") if name == "" else name
    head = f"event: {kind}\n" if kind is not None else ""
    return f"{head}data: {json.dumps(value)}\n\n".encode()


def start(message: dict[str, Any] | None = None, input_tokens: int = 5) -> dict[str, Any]:
    shell = {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": MODEL,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    return {"type": "message_start", "message": {**shell, **(message or {})}}


def block_start(index: int, block: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "content_block_start",
        "index": index,
        "content_block": block or {"type": "text", "text": ""},
    }


def text(index: int, piece: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": piece},
    }


def json_piece(index: int, piece: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": piece},
    }


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def delta(reason: str | None = "end_turn", output: int = 2) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": {"output_tokens": output},
    }


MESSAGE_STOP = {"type": "message_stop"}
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}


def good_events() -> list[dict[str, Any]]:
    return [
        start(),
        block_start(0),
        text(0, "Hello"),
        text(0, " there"),
        stop(0),
        delta(),
        MESSAGE_STOP,
    ]


def tool_events() -> list[dict[str, Any]]:
    return [
        start(),
        block_start(0),
        text(0, "Calling"),
        stop(0),
        block_start(1, TOOL),
        json_piece(1, '{"city": '),
        json_piece(1, '"Paris"}'),
        stop(1),
        delta("tool_use", 4),
        MESSAGE_STOP,
    ]


def body(events: list[dict[str, Any]]) -> bytes:
    return b"".join(event(e) for e in events)


def messages_stream(raw: bytes, scenario: str = "messages-stream", **kw: Any) -> Transcript:
    kw.setdefault("headers", SSE)
    return from_bytes(raw, scenario=scenario, request_json=messages_request(scenario, MODEL), **kw)


def messages_answer(
    value: Any, scenario: str = "messages-nonstream", status: int = 200
) -> Transcript:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return from_bytes(
        raw,
        scenario=scenario,
        status=status,
        headers={"content-type": "application/json"},
        request_json=messages_request(scenario, MODEL)
        if scenario != "messages-invalid-json"
        else None,
    )


def line(content: str = "", done: bool = False, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": MODEL,
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    out.update(extra)
    return out


def ndjson(values: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(v, ensure_ascii=False).encode() + b"\n" for v in values)


def good_lines() -> list[dict[str, Any]]:
    return [line(" Hi"), line(" there"), line("", True, done_reason="stop", eval_count=2)]


def ollama_stream(raw: bytes, scenario: str = "ollama-stream", **kw: Any) -> Transcript:
    kw.setdefault("headers", NDJSON)
    return from_bytes(raw, scenario=scenario, request_json=ollama_request(scenario, MODEL), **kw)
