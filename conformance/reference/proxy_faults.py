"""Faults that real gateways show in front of a streaming endpoint.

Buffering the whole body (``buffered``), gzip without a flush per event
(``gzip``) and dropping ``[DONE]`` (``no-done``) are catalog entries of
``faults.py`` that work in the proxy as in the server; the entries here
complete the set.  ``UPSTREAM_KEPT`` is a code path of the proxy itself
(``proxy.py``), like ``seed-bug``.
"""

from __future__ import annotations

import copy

from .entries import Fault
from .transforms import FaultOptions, Items, Writes, drop_header
from .wire import Data, Head, JsonObject

__all__ = ["BLOCK_BYTES", "PROXY_FAULTS", "UPSTREAM_KEPT"]

UPSTREAM_KEPT = "upstream-kept"
#: Bytes ``block-flush`` holds before writing: a 16 KiB output buffer.
BLOCK_BYTES = 16 * 1024


async def flush_in_blocks(writes: Writes, options: FaultOptions) -> Writes:
    """Writes held until BLOCK_BYTES have gathered, then written as one block."""
    held = bytearray()
    async for write in writes:
        held += write
        if len(held) >= BLOCK_BYTES:
            yield bytes(held)
            held.clear()
    if held:
        yield bytes(held)


def _finish_chunk(template: JsonObject | None) -> Data:
    chunk: JsonObject = copy.deepcopy(template) if template else {"object": "chat.completion.chunk"}
    chunk.pop("usage", None)
    chunk["choices"] = [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    return Data.of(chunk)


async def error_to_finish(items: Items, options: FaultOptions) -> Items:
    """An upstream error event is replaced by a finish chunk (`stop`), as if the answer
    had ended well; the rest (its `[DONE]`) is relayed."""
    last: JsonObject | None = None
    async for item in items:
        value = item.json() if isinstance(item, Data) else None
        if value is not None and value.get("error"):
            yield _finish_chunk(last)
            continue
        if value is not None and value.get("choices"):
            last = value
        yield item


def strip_stream_headers(head: Head) -> Head:
    return drop_header("X-Accel-Buffering")(drop_header("Cache-Control")(head))


PROXY_FAULTS: tuple[Fault, ...] = (
    Fault(
        "block-flush",
        "fault",
        f"Writes are held until {BLOCK_BYTES // 1024} KiB have gathered, then sent as one "
        "block (a stream's tail when it ends).",
        "gateways and HTTP layers with a fixed output buffer that flush only when it fills "
        "(nginx proxy_buffers, WSGI/servlet response buffers)",
        writes=flush_in_blocks,
    ),
    Fault(
        "error-to-finish",
        "fault",
        "An upstream error event is replaced by a finish chunk (`finish_reason: stop`), then "
        "`[DONE]`: the failed answer looks complete.",
        "gateways that rebuild the stream from parsed chunks and close every stream with a "
        "normal finish, dropping what they do not recognise",
        scope="proxy",
        items=error_to_finish,
    ),
    Fault(
        "headers-stripped",
        "fault",
        "The stream lacks both `Cache-Control: no-cache` and `X-Accel-Buffering: no` (only "
        "the content type is kept).",
        "proxies that copy only the content type from the upstream response",
        head=strip_stream_headers,
    ),
    Fault(
        UPSTREAM_KEPT,
        "fault",
        "When the client drops a stream, the proxy keeps reading its upstream stream to the "
        "end in the background instead of closing it.",
        "proxies that decouple the upstream read from the client (a queue fed by a "
        "background task), so a client disconnect never reaches the upstream",
        scope="proxy",
    ),
)
