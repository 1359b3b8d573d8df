"""The transformations faults are made of, one per stage of a reply.

Every function here is written against the stage's data (a request body, a
head, a sequence of items, a sequence of writes, an error, a completion) and
knows nothing of where it came from, so the server and the proxy share them.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from .chunks import new_completion_id
from .errors import ApiError, error_event
from .wire import DONE, Comment, Data, Head, Item, JsonObject, dump_json

__all__ = [
    "FaultOptions",
    "JsonReply",
    "accept_any_key",
    "add_content_encoding",
    "add_role_everywhere",
    "answer_errors_with_200",
    "break_model_entries",
    "break_stream",
    "buffer_writes",
    "bury_usage",
    "chunk_after_done",
    "comment_between_events",
    "content_after_finish",
    "content_as_parts",
    "corrupt_utf8",
    "detail_errors",
    "drop_done",
    "drop_header",
    "drop_last_token",
    "drop_max_tokens",
    "drop_role",
    "edit_chunks",
    "empty_body",
    "error_body",
    "fail_completion",
    "gzip_writes",
    "hold_open",
    "insert_after_first",
    "midstream_error",
    "mint_ids",
    "mix_batches",
    "null_finish_reason",
    "refuse_head",
    "repeat_finish",
    "serve_unknown_models",
    "set_choice_index",
    "set_content_type",
    "set_finish_reason",
    "set_object",
    "set_status",
    "skew_usage",
    "skew_usage_in_chunks",
    "split_bytes",
    "unterminate_last",
]


@dataclass(frozen=True, slots=True)
class FaultOptions:
    """Knobs a fault reads: how long to hold a body open, where to break a stream,
    and which batch a stream joins (its sampling parameters, for ``mix_batches``)."""

    hold_open: float = 5.0
    break_after: int = 3
    batch: str = ""


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


def set_status(status: int) -> Callable[[Head], Head]:
    """The same headers (so the same Content-Type and Content-Length) with another status."""
    return lambda head: replace(head, status=status)


def refuse_head(head: Head) -> Head:
    """A 500 with a JSON body instead of the stream (see ``error_body``)."""
    return Head(500, (("Content-Type", "application/json"),))


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


def set_choice_index(value: int) -> ChunkEdit:
    return _edit_choices(lambda c: c.update(index=value))


def _as_parts(choice: JsonObject) -> None:
    delta = choice.get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("content"), str) and delta["content"]:
        delta["content"] = [{"type": "text", "text": delta["content"]}]


content_as_parts = _edit_choices(_as_parts)


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


#: Content token (0-based) from which ``mix_batches`` sends another stream's tokens.
MIX_FROM = 2
#: How long a stream waits for its partner's token before sending its own.
MIX_WAIT_S = 1.0
_POLL_S = 0.005
#: (event loop, batch) -> stream number -> the content tokens it generated so far.
_BATCHES: dict[tuple[int, str], dict[int, list[str]]] = {}
_STREAM_NUMBERS = itertools.count()


def _content(chunk: JsonObject) -> str:
    """The non-empty string content of a chunk's first choice, or ""."""
    for choice in _choices(chunk):
        delta = choice.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            return str(delta["content"])
    return ""


async def _token_of(batch: dict[int, list[str]], partner: int, index: int) -> str | None:
    """The partner's token ``index``, waiting a little for it; None once it has gone."""
    waited = 0.0
    while (tokens := batch.get(partner)) is not None and len(tokens) <= index:
        if waited >= MIX_WAIT_S:
            return None
        await asyncio.sleep(_POLL_S)
        waited += _POLL_S
    return tokens[index] if tokens is not None else None


async def mix_batches(items: Items, options: FaultOptions) -> Items:
    """Streams of one batch share a token table, and read the wrong row of it.

    Streams in flight with the same sampling parameters (``options.batch``) form
    a batch.  From content token ``MIX_FROM`` on, each stream sends the token
    its partner (the oldest other stream of the batch) generated at the same
    position; a stream alone in its batch sends its own, so answers asked one
    at a time stay right, and identical answers swap identical tokens.
    """
    key = (id(asyncio.get_running_loop()), options.batch)
    batch = _BATCHES.setdefault(key, {})
    me = next(_STREAM_NUMBERS)
    mine = batch[me] = []
    partner: int | None = None
    try:
        async for item in items:
            chunk = _chunk(item)
            text = _content(chunk) if chunk is not None else ""
            if chunk is None or not text:
                yield item
                continue
            index = len(mine)
            mine.append(text)
            if index >= MIX_FROM and partner is None:
                partner = next((n for n in sorted(batch) if n != me), None)
            theirs = await _token_of(batch, partner, index) if partner is not None else None
            if theirs is None or theirs == text:
                yield item
                continue
            for choice in _choices(chunk):
                delta = choice.get("delta")
                if isinstance(delta, dict) and delta.get("content") == text:
                    delta["content"] = theirs
            yield Data.of(chunk)
    finally:
        del batch[me]
        if not batch:
            _BATCHES.pop(key, None)


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


async def corrupt_utf8(writes: Writes, options: FaultOptions) -> Writes:
    """Puts one 0xFF byte (never valid in UTF-8) into the first non-empty content."""
    marker = b'"content":"'
    corrupted = False
    async for write in writes:
        at = write.find(marker) + len(marker) if not corrupted else -1
        if at >= len(marker) and write[at : at + 1] != b'"':
            write = write[:at] + b"\xff" + write[at:]
            corrupted = True
        yield write


async def unterminate_last(writes: Writes, options: FaultOptions) -> Writes:
    """The last write loses its final line end: the last event has no blank line."""
    last: bytes | None = None
    async for write in writes:
        if last is not None:
            yield last
        last = write
    if last is not None:
        yield last[:-1] if last.endswith(b"\n\n") else last


async def error_body(writes: Writes, options: FaultOptions) -> Writes:
    """An error envelope instead of the stream; the stream is never read."""
    error = ApiError(500, "The server failed to start the stream.", "server_error")
    yield dump_json(error.envelope()).encode()


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


def fail_completion(body: JsonObject) -> JsonObject | bytes:
    """An error envelope instead of the answer (its status comes from ``set_status``)."""
    return ApiError(500, "The server failed to build the answer.", "server_error").envelope()


def skew_usage(body: JsonObject) -> JsonObject | bytes:
    skew_usage_in_chunks(body, 0)
    return body


# -- credentials --------------------------------------------------------------


def accept_any_key(verdict: bool) -> bool:
    """Every request is let in, whatever key it sent (or none)."""
    return True


# -- model lists --------------------------------------------------------------


def break_model_entries(listing: JsonObject) -> JsonObject:
    """Entries keep their ``id`` but lose ``object`` and ``owned_by``; ``created`` is a string."""
    data = listing.get("data")
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    broken = []
    for entry in entries:
        rest = {k: v for k, v in entry.items() if k not in ("object", "owned_by")}
        if "created" in rest:
            rest["created"] = str(rest["created"])
        broken.append(rest)
    return {**listing, "data": broken}
