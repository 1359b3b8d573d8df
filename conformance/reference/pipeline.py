"""Builds replies stage by stage, applying a fault's hooks where they belong.

Stages, in order: request body -> plan (what is generated, in the server) ->
(error | completion | stream head and items) -> framing -> writes.  The
server and the proxy both call these, so a fault (or a variant) changes them
the same way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from .errors import ApiError, error_event
from .faults import Fault, FaultOptions, JsonReply
from .response import Reply
from .wire import DONE, Head, Item, JsonObject, dump_json, encode, json_head, sse_head

__all__ = [
    "close",
    "completion_reply",
    "error_reply",
    "guarded",
    "json_reply",
    "models_reply",
    "prepare_request",
    "stream_head",
    "stream_reply",
    "stream_writes",
    "transform_writes",
]

log = logging.getLogger(__name__)


def prepare_request(fault: Fault, body: JsonObject, models: Sequence[str]) -> JsonObject:
    return fault.request(body, models) if fault.request else body


async def json_reply(status: int, body: JsonObject | bytes) -> Reply:
    raw = body if isinstance(body, bytes) else dump_json(body).encode()
    yield json_head(status, raw)
    yield raw


def error_reply(fault: Fault, error: ApiError | JsonReply) -> Reply:
    reply = error if isinstance(error, JsonReply) else JsonReply(error.status, error.envelope())
    if fault.error:
        reply = fault.error(reply)
    return json_reply(reply.status, reply.body)


async def completion_reply(fault: Fault, body: JsonObject, status: int = 200) -> Reply:
    reply = json_reply(status, fault.completion(body) if fault.completion else body)
    async for piece in reply:
        if isinstance(piece, Head) and fault.completion_head:
            piece = fault.completion_head(piece)
        yield piece


def models_reply(fault: Fault, listing: JsonObject, status: int = 200) -> Reply:
    return json_reply(status, fault.models(listing) if fault.models else listing)


def stream_head(fault: Fault) -> Head:
    head = sse_head()
    return fault.head(head) if fault.head else head


async def stream_reply(fault: Fault, writes: AsyncIterator[bytes]) -> Reply:
    """The stream's head, then its writes.

    A ``sized`` entry withholds the head until the last write has been made,
    then sends it with a ``Content-Length`` and the whole body in one write.
    """
    head = stream_head(fault)
    try:
        if fault.sized:
            body = b"".join([write async for write in writes])
            yield head.with_header("Content-Length", str(len(body)))
            yield body
            return
        yield head
        async for write in writes:
            yield write
    finally:
        await close(writes)


async def guarded(items: AsyncIterator[Item]) -> AsyncGenerator[Item, None]:
    """Items, ending in an error event and [DONE] if producing them fails."""
    try:
        async for item in items:
            yield item
    except Exception as exc:
        log.exception("generation failed mid-stream")
        yield error_event(f"The generation failed: {exc}")
        yield DONE
    finally:
        await close(items)


async def stream_writes(
    fault: Fault, items: AsyncIterator[Item], options: FaultOptions
) -> AsyncGenerator[bytes, None]:
    """Items through the fault's item hook, its framing, then its writes hook."""
    shaped = fault.items(items, options) if fault.items else items
    encoded = encode(shaped, fault.framing)
    writes = transform_writes(fault, encoded, options)
    stages: list[object] = [items, shaped, encoded, writes]
    try:
        async for write in writes:
            yield write
    finally:
        # A hook that ends early leaves the stages below it suspended; closing
        # them now (not at garbage collection) is what ends the generation.
        for stage in reversed(stages):
            await close(stage)


def transform_writes(
    fault: Fault, writes: AsyncIterator[bytes], options: FaultOptions
) -> AsyncIterator[bytes]:
    return fault.writes(writes, options) if fault.writes else writes


async def close(stage: object) -> None:
    """Closes an async generator now rather than at garbage collection."""
    if isinstance(stage, AsyncGenerator):
        await stage.aclose()
