"""Transcripts made from a body alone, without a network exchange.

For fixtures, tests and captures made elsewhere (``curl -N``): the body is
decoded with the same SSE decoder the recorder uses.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .sse import SSEDecoder
from .transcript import Ending, Read, Request, Transcript

__all__ = ["from_bytes"]


def from_bytes(
    body: bytes,
    *,
    status: int = 200,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    scenario: str = "stream-basic",
    request_json: Any = None,
    ending: Ending = Ending.COMPLETE,
    step_ns: int = 1_000_000,
    related: dict[str, Transcript] | None = None,
) -> Transcript:
    """A transcript made from a body, as if it arrived one read per event.

    For tests and fixtures: the body is decoded with the same SSE decoder the
    recorder uses, and each event is stamped ``step_ns`` after the previous.
    """
    if headers is None:
        headers = {"content-type": "text/event-stream", "cache-control": "no-cache"}
    pairs = tuple(headers.items()) if isinstance(headers, dict) else tuple(headers)
    decoder = SSEDecoder()
    raw = decoder.feed(body) + decoder.close()
    events = tuple(dataclasses.replace(e, t_ns=(i + 1) * step_ns) for i, e in enumerate(raw))
    comments = tuple(dataclasses.replace(c, t_ns=step_ns) for c in decoder.comments)
    reads: list[Read] = []
    start = 0
    for e in events:
        reads.append(Read(e.t_ns, start, e.end - start, e.end - start))
        start = e.end
    if start < len(body):  # bytes after the last dispatched event
        tail = len(body) - start
        reads.append(Read((len(events) + 1) * step_ns, start, tail, tail))
    body_json = json.dumps(request_json).encode() if request_json is not None else b""
    return Transcript(
        scenario=scenario,
        target="http://127.0.0.1:0",
        request=Request("POST", "http://127.0.0.1:0/v1/chat/completions", (), body_json),
        status=status,
        http_version="HTTP/1.1",
        headers=pairs,
        body=body,
        reads=tuple(reads),
        events=events,
        comments=comments,
        diagnostics=tuple(decoder.diagnostics),
        ending=ending,
        t_headers_ns=step_ns // 2,
        t_end_ns=(len(events) + 1) * step_ns,
        related=tuple((related or {}).items()),
    )
