"""The transformations faults are made of, one per stage of a reply.

Every function here is written against the stage's data (a request body, a
head, a sequence of items, a sequence of writes, an error, a completion) and
knows nothing of where it came from, so the server and the proxy share them.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from .chunks import new_completion_id
from .errors import error_event
from .wire import DONE, Comment, Data, Head, Item, JsonObject

__all__ = [
    "FaultOptions",
    "JsonReply",
    "add_content_encoding",
    "add_role_everywhere",
    "answer_errors_with_200",
    "break_stream",
    "buffer_writes",
    "bury_usage",
    "chunk_after_done",
    "comment_between_events",
    "content_after_finish",
    "detail_errors",
    "drop_done",
    "drop_header",
    "drop_last_token",
    "drop_max_tokens",
    "drop_role",
    "edit_chunks",
    "empty_body",
    "gzip_writes",
    "hold_open",
    "insert_after_first",
    "midstream_error",
    "mint_ids",
    "null_finish_reason",
    "repeat_finish",
    "serve_unknown_models",
    "set_content_type",
    "set_finish_reason",
    "set_object",
    "skew_usage",
    "skew_usage_in_chunks",
    "split_bytes",
]


@dataclass(frozen=True, slots=True)
class FaultOptions:
    """Knobs a fault reads: how long to hold a body open, where to break a stream."""

    hold_open: float = 5.0
    break_after: int = 3


@dataclass(frozen=True, slots=True)
class JsonReply:
    """A complete JSON answer: an error or a non-stream completion."""

    status: int
    body: JsonObject


Items = AsyncIterator[Item]
Writes = AsyncIterator[bytes]
ChunkEdit = Callable[[JsonObject, int], None]


# -- requests -----------------------------------------------------------------


def drop_max_tokens(body: JsonObject, models: Sequence[str]) -> JsonObject:
    return {k: v for k, v in body.items() if k not in ("max_tokens", "max_completion_tokens")}


def serve_unknown_models(body: JsonObject, models: Sequence[str]) -> JsonObject:
    model = body.get("model")
    if isinstance(model, str) and models and model not in models:
        return {**body, "model": models[0]}
    return body


# -- heads --------------------------------------------------------------------


def drop_header(name: str) -> Callable[[Head], Head]:
    return lambda head: head.without(name)


def set_content_type(value: str) -> Callable[[Head], Head]:
    return lambda head: head.with_header("Content-Type", value)


def add_content_encoding(head: Head) -> Head:
    return head.with_header("Content-Encoding", "gzip")


# -- items --------------------------------------------------------------------


def _chunk(item: Item) -> JsonObject | None:
    obj = item.json() if isinstance(item, Data) else None
    return obj if obj is not None and isinstance(obj.get("choices"), list) else None


def _choices(chunk: JsonObject) -> list[JsonObject]:
    return [c for c in chunk["choices"] if isinstance(c, dict)]


def _finishes(chunk: JsonObject) -> bool:
    return any(c.get("finish_reason") is not None for c in _choices(chunk))


def _has_content(chunk: JsonObject) -> bool:
    return any(
        isinstance(c.get("delta"), dict) and c["delta"].get("content") for c in _choices(chunk)
    )


def edit_chunks(edit: ChunkEdit) -> Callable[[Items, FaultOptions], Items]:
    """An items transform that edits every chunk in place (given its index)."""

    async def transform(items: Items, options: FaultOptions) -> Items:
        index = 0
        async for item in items:
            chunk = _chunk(item)
            if chunk is None:
                yield item
                continue
            edit(chunk, index)
            index += 1
            yield Data.of(chunk)

    return transform


def _edit_choices(edit: Callable[[JsonObject], None]) -> ChunkEdit:
    def each(chunk: JsonObject, index: int) -> None:
        for choice in _choices(chunk):
            edit(choice)

    return each


def drop_role(chunk: JsonObject, index: int) -> None:
    for choice in _choices(chunk):
        delta = choice.get("delta")
        if isinstance(delta, dict):
            delta.pop("role", None)


add_role_everywhere = _edit_choices(
    lambda c: c.update(delta={"role": "assistant", **(c.get("delta") or {})})
)
null_finish_reason = _edit_choices(lambda c: c.update(finish_reason=None))


def set_finish_reason(value: str) -> ChunkEdit:
    def edit(choice: JsonObject) -> None:
        if choice.get("finish_reason") is not None:
            choice["finish_reason"] = value

    return _edit_choices(edit)


def set_object(value: str) -> ChunkEdit:
    return lambda chunk, index: chunk.update(object=value)


def mint_ids(chunk: JsonObject, index: int) -> None:
    if index > 0:
        chunk["id"] = new_completion_id()


def skew_usage_in_chunks(chunk: JsonObject, index: int) -> None:
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        usage["total_tokens"] += 1


async def drop_done(items: Items, options: FaultOptions) -> Items:
    async for item in items:
        if item != DONE:
            yield item


async def bury_usage(items: Items, options: FaultOptions) -> Items:
    """Drops the usage chunk and every ``usage`` key, as if include_usage were unread."""
    async for item in items:
        chunk = _chunk(item)
        if chunk is None or "usage" not in chunk:
            yield item
        elif chunk["choices"]:
            del chunk["usage"]
            yield Data.of(chunk)


def _late_chunk(template: JsonObject) -> Data:
    late = copy.deepcopy(template)
    late["choices"] = [{"index": 0, "delta": {"content": " late"}, "logprobs": None,
                        "finish_reason": None}]  # fmt: skip
    return Data.of(late)


async def repeat_finish(items: Items, options: FaultOptions) -> Items:
    async for item in items:
        yield item
        chunk = _chunk(item)
        if chunk is not None and _finishes(chunk):
            yield item


async def content_after_finish(items: Items, options: FaultOptions) -> Items:
    async for item in items:
        yield item
        chunk = _chunk(item)
        if chunk is not None and _finishes(chunk):
            yield _late_chunk(chunk)


async def chunk_after_done(items: Items, options: FaultOptions) -> Items:
    last: JsonObject | None = None
    async for item in items:
        yield item
        chunk = _chunk(item)
        if chunk is not None and chunk["choices"]:
            last = chunk
        if item == DONE and last is not None:
            yield _late_chunk(last)


def insert_after_first(extra: Item) -> Callable[[Items, FaultOptions], Items]:
    async def transform(items: Items, options: FaultOptions) -> Items:
        inserted = False
        async for item in items:
            yield item
            if not inserted and isinstance(item, Data):
                inserted = True
                yield extra

    return transform


def break_stream(*tail: Item) -> Callable[[Items, FaultOptions], Items]:
    """Ends the stream with ``tail`` after a few content chunks (or before the finish)."""

    async def transform(items: Items, options: FaultOptions) -> Items:
        seen = 0
        async for item in items:
            chunk = _chunk(item)
            ending = item == DONE or (chunk is not None and _finishes(chunk))
            if ending or seen >= options.break_after:
                for extra in tail:
                    yield extra
                return
            yield item
            if chunk is not None and _has_content(chunk):
                seen += 1

    return transform


def midstream_error(code: str) -> Data:
    return error_event("The generation failed partway through.", code)


async def comment_between_events(items: Items, options: FaultOptions) -> Items:
    first = True
    async for item in items:
        if isinstance(item, Data) and not first:
            yield Comment("ping")
        first = first and not isinstance(item, Data)
        yield item


# -- writes -------------------------------------------------------------------


async def buffer_writes(writes: Writes, options: FaultOptions) -> Writes:
    yield b"".join([w async for w in writes])


async def gzip_writes(writes: Writes, options: FaultOptions) -> Writes:
    yield gzip.compress(b"".join([w async for w in writes]))


async def split_bytes(writes: Writes, options: FaultOptions) -> Writes:
    async for write in writes:
        for i in range(len(write)):
            yield write[i : i + 1]


async def hold_open(writes: Writes, options: FaultOptions) -> Writes:
    async for write in writes:
        yield write
    await asyncio.sleep(options.hold_open)


# -- errors -------------------------------------------------------------------


def answer_errors_with_200(reply: JsonReply) -> JsonReply:
    return JsonReply(200, reply.body)


def detail_errors(reply: JsonReply) -> JsonReply:
    """FastAPI's shapes: 422 with a ``loc`` list for a bad body, ``detail`` text otherwise."""
    error = reply.body.get("error")
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message", reply.body))
    if reply.status in (400, 422):
        param = error.get("param")
        loc = ["body", param] if isinstance(param, str) else ["body"]
        detail = [{"type": "value_error", "loc": loc, "msg": message, "input": None}]
        return JsonReply(422, {"detail": detail})
    return JsonReply(reply.status, {"detail": message})


# -- completions --------------------------------------------------------------


def _message(body: JsonObject) -> JsonObject | None:
    choices = body.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    return message if isinstance(message, dict) else None


def drop_last_token(body: JsonObject) -> JsonObject | bytes:
    message = _message(body)
    if message is not None and isinstance(message.get("content"), str):
        head, _, _ = message["content"].rpartition(" ")
        message["content"] = head
    return body


def empty_body(body: JsonObject) -> JsonObject | bytes:
    return b""


def skew_usage(body: JsonObject) -> JsonObject | bytes:
    skew_usage_in_chunks(body, 0)
    return body
