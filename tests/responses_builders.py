"""Hand-made Responses streams for rule tests: a valid stream and ways to break it.

:func:`stream_events` writes the events of a correct stream as OpenAI sends
them (numbered, each with its ``event:`` line when encoded); tests edit the
list, and :func:`transcript` encodes it and decodes it through the recorder's
SSE decoder.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from conformance.capture import Transcript
from conformance.capture import from_bytes as bare_from_bytes
from conformance.scenarios.responses import request_for

__all__ = [
    "JSON_HEADERS",
    "SSE_HEADERS",
    "answer",
    "encode",
    "final",
    "renumber",
    "response",
    "stream_events",
    "transcript",
]

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
JSON_HEADERS = {"content-type": "application/json"}


def response(status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": "m",
        "output": output,
        "error": None,
        "incomplete_details": None,
        "usage": None,
    }
    body.update(extra)
    return body


def _message(status: str, text: str | None) -> dict[str, Any]:
    content = [] if text is None else [
        {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    ]  # fmt: skip
    return {"id": "msg_1", "type": "message", "status": status, "role": "assistant",
            "content": content}  # fmt: skip


def _reasoning(status: str, text: str | None) -> dict[str, Any]:
    content = [] if text is None else [{"type": "reasoning_text", "text": text}]
    return {"id": "rs_1", "type": "reasoning", "summary": [], "content": content, "status": status}


def _call(status: str, arguments: str) -> dict[str, Any]:
    return {"id": "fc_1", "type": "function_call", "status": status, "call_id": "call_1",
            "name": "get_weather", "arguments": arguments}  # fmt: skip


def _text_item(
    index: int, deltas: tuple[str, ...], reasoning: bool = False
) -> list[dict[str, Any]]:
    make, item_id = (_reasoning, "rs_1") if reasoning else (_message, "msg_1")
    kind = "reasoning_text" if reasoning else "output_text"
    text = "".join(deltas)
    at = {"item_id": item_id, "output_index": index, "content_index": 0}
    extra: dict[str, Any] = {} if reasoning else {"logprobs": []}
    part: dict[str, Any] = {"type": kind, "text": ""}
    if not reasoning:
        part |= {"annotations": [], "logprobs": []}
    added = make("in_progress", None)
    out = [
        {"type": "response.output_item.added", "output_index": index, "item": added},
        {"type": "response.content_part.added", **at, "part": part},
    ]
    out += [{"type": f"response.{kind}.delta", **at, "delta": d, **extra} for d in deltas]
    done = make("completed", text)
    out += [
        {"type": f"response.{kind}.done", **at, "text": text, **extra},
        {"type": "response.content_part.done", **at, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": index, "item": done},
    ]
    return out


def stream_events(
    deltas: tuple[str, ...] = (" Hello", " world"),
    *,
    reasoning: tuple[str, ...] = (),
    call: tuple[str, ...] | None = None,
    status: str = "completed",
) -> list[dict[str, Any]]:
    """A correct stream: created, in_progress, the items, one terminal event."""
    out: list[dict[str, Any]] = [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.in_progress", "response": response("in_progress", [])},
    ]
    output: list[dict[str, Any]] = []
    index = 0
    if reasoning:
        out += _text_item(index, reasoning, reasoning=True)
        output.append(_reasoning("completed", "".join(reasoning)))
        index += 1
    if call is None:
        out += _text_item(index, deltas)
        output.append(_message("completed", "".join(deltas)))
    else:
        at = {"item_id": "fc_1", "output_index": index}
        out.append({"type": "response.output_item.added", "output_index": index,
                    "item": _call("in_progress", "")})  # fmt: skip
        out += [{"type": "response.function_call_arguments.delta", **at, "delta": d} for d in call]
        out.append({"type": "response.function_call_arguments.done", **at,
                    "arguments": "".join(call)})  # fmt: skip
        out.append({"type": "response.output_item.done", "output_index": index,
                    "item": _call("completed", "".join(call))})  # fmt: skip
        output.append(_call("completed", "".join(call)))
    usage = {"input_tokens": 5, "output_tokens": len(deltas) + len(reasoning), "total_tokens": 0}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    details = {"reason": "max_output_tokens"} if status == "incomplete" else None
    end = response(status, output, usage=usage, incomplete_details=details)
    out.append({"type": f"response.{status}", "response": end})
    return renumber(out)


def renumber(events: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """The events (copied) numbered from ``start`` in list order."""
    out = copy.deepcopy(events)
    for i, ev in enumerate(out):
        ev["sequence_number"] = start + i
    return out


def final(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The response object of the last event (to edit the terminal response)."""
    found: dict[str, Any] = events[-1]["response"]
    return found


def encode(events: list[dict[str, Any] | str], *, names: bool = True, eol: str = "\n") -> bytes:
    """SSE bytes: each dict as ``event: <type>`` + ``data: <json>``; a str is sent as a
    raw data payload (``[DONE]``) or, starting with ``:``, as a comment."""
    out = []
    for ev in events:
        if isinstance(ev, str):
            out.append(f"{ev}{eol}{eol}" if ev.startswith(":") else f"data: {ev}{eol}{eol}")
            continue
        head = f"event: {ev.get('type')}{eol}" if names else ""
        out.append(f"{head}data: {json.dumps(ev)}{eol}{eol}")
    return "".join(out).encode()


def transcript(
    body: bytes | list[dict[str, Any] | str] | None = None,
    *,
    scenario: str = "responses-stream",
    **kw: Any,
) -> Transcript:
    """A transcript of the body (or events) with the request its scenario sends."""
    if body is None:
        body = stream_events()  # type: ignore[assignment]
    raw = body if isinstance(body, bytes) else encode(body)  # type: ignore[arg-type]
    kw.setdefault("request_json", request_for(scenario))
    kw.setdefault("headers", SSE_HEADERS)
    return bare_from_bytes(raw, scenario=scenario, **kw)


def answer(value: Any, *, scenario: str = "responses-nonstream", **kw: Any) -> Transcript:
    """A non-stream transcript: ``value`` as a JSON body."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    kw.setdefault("request_json", request_for(scenario))
    kw.setdefault("headers", JSON_HEADERS)
    return bare_from_bytes(raw, scenario=scenario, **kw)
