"""A hostile endpoint as a standalone process, for runs of the plugin in a subprocess.

``python tests/hostile_server.py BEHAVIOUR [--location URL] [--log FILE]``
prints ``listening on http://127.0.0.1:PORT`` as its first stdout line, then
serves until killed.  ``GET /v1/models`` always answers a valid list with the
one model ``m`` (so preflight passes); ``POST /v1/chat/completions`` misbehaves
as ``BEHAVIOUR`` says (see :data:`BEHAVIOURS`); anything else is a JSON 404.

``--log FILE`` appends one line per request: its method, target and
Authorization header, so a test can see what reached this origin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from wire import (
    MB,
    Conn,
    Handler,
    WireServer,
    drip_handler,
    gzip_sse_handler,
    hang_before_headers_handler,
    headers_then_nothing_handler,
    huge_body_handler,
    huge_line_handler,
    invalid_utf8_handler,
    redirect_handler,
    respond_handler,
    sse_events_handler,
    sse_flood_handler,
    sse_forever_handler,
)

__all__ = ["BEHAVIOURS", "MODEL", "XSS_ATTRIBUTE", "XSS_SCRIPT", "chat_events", "main"]

MODEL = "m"
#: Markup a report must escape: a script element, and a value that leaves an
#: attribute and opens an element with an event handler.
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'
#: The drip's pace: one byte per this many seconds.
DRIP_INTERVAL_S = 2.0

MODELS_BODY = json.dumps(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "x"}]}
).encode()
NOT_FOUND_BODY = json.dumps(
    {
        "error": {
            "message": "not found",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
).encode()


def chat_events(contents: list[str]) -> list[bytes]:
    """A well-formed chat stream carrying ``contents`` as deltas, then ``[DONE]``."""
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    out = []
    for i, text in enumerate(contents):
        delta = {"role": "assistant", "content": text} if i == 0 else {"content": text}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        out.append(b"data: " + json.dumps({**base, "choices": [choice]}).encode() + b"\n\n")
    last = {"index": 0, "delta": {}, "finish_reason": "stop"}
    out.append(b"data: " + json.dumps({**base, "choices": [last]}).encode() + b"\n\n")
    return [*out, b"data: [DONE]\n\n"]


def _script_markup() -> Handler:
    events = chat_events([XSS_SCRIPT, XSS_ATTRIBUTE])
    events.insert(1, f"event: {XSS_ATTRIBUTE}\ndata: {XSS_SCRIPT}\n\n".encode())
    return sse_events_handler(events)


def _die_after_models() -> Handler:
    # The first chat request never comes: the process is gone after preflight.
    return hang_before_headers_handler()


BEHAVIOURS: dict[str, Callable[[str], Handler]] = {
    "hang": lambda _: hang_before_headers_handler(),
    "headers-then-nothing": lambda _: headers_then_nothing_handler(),
    "drip": lambda _: drip_handler(b"".join(chat_events(["a", "b"])), DRIP_INTERVAL_S),
    # Paced a little, so a dozen runs at once do not starve each other of CPU.
    "forever": lambda _: sse_forever_handler(0.001),
    # data: {} as fast as the client reads, one chunk each, forever.
    "flood": lambda _: sse_flood_handler(),
    "huge-line": lambda _: huge_line_handler(50 * MB),
    "huge-body": lambda _: huge_body_handler(200 * MB),
    "gzip": lambda _: gzip_sse_handler(chat_events(["Hello", " there"])),
    "reset": lambda _: sse_events_handler(chat_events(["one", " two", " three"])[:2], then="reset"),
    "invalid-utf8": lambda _: invalid_utf8_handler(),
    "redirect": lambda location: redirect_handler(location),
    "script-markup": lambda _: _script_markup(),
    "ok-then-exit": lambda _: _die_after_models(),
    "log": lambda _: respond_handler(404, [("Content-Type", "application/json")], NOT_FOUND_BODY),
}


def _dispatch(behaviour: str, chat: Handler, log: Path | None) -> Handler:
    async def handle(conn: Conn) -> None:
        request = conn.request
        if log is not None:
            with log.open("a", encoding="utf-8") as out:
                auth = request.header("authorization") or "-"
                out.write(f"{request.method} {request.target} {auth}\n")
        path = request.target.split("?", 1)[0]
        if request.method == "GET" and path == "/v1/models":
            head = [("Content-Type", "application/json"), ("Content-Length", str(len(MODELS_BODY)))]
            await conn.send_head(200, head)
            await conn.send(MODELS_BODY)
            if behaviour == "ok-then-exit":
                conn.writer.close()
                await conn.writer.wait_closed()
                os._exit(0)  # the endpoint dies right after preflight
            return
        if request.method == "POST" and path == "/v1/chat/completions":
            await chat(conn)
            return
        await respond_handler(404, [("Content-Type", "application/json")], NOT_FOUND_BODY)(conn)

    return handle


async def _serve(behaviour: str, location: str, log: Path | None) -> None:
    handler = _dispatch(behaviour, BEHAVIOURS[behaviour](location), log)
    async with WireServer(handler) as server:
        print(f"listening on {server.url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("behaviour", choices=sorted(BEHAVIOURS))
    parser.add_argument(
        "--location",
        default="http://127.0.0.1:9/v1/chat/completions",
        help="where 'redirect' points",
    )
    parser.add_argument("--log", type=Path, help="append method, target, Authorization here")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.behaviour, args.location, args.log))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
