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
import math
import secrets
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from .chunks import new_completion_id
from .errors import ApiError, error_event, typed_error_event
from .wire import DONE, Comment, Data, Head, Item, JsonObject, dump_json

__all__ = [
    "BURSTS",
    "OPENAI_FINGERPRINT",
    "FaultOptions",
    "JsonReply",
    "accept_any_key",
    "add_content_encoding",
    "add_null_fields",
    "add_null_message_fields",
    "add_role_everywhere",
    "announce_arrival",
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
    "cut_when_another_arrives",
    "detail_errors",
    "drop_done",
    "drop_header",
    "drop_last_token",
    "drop_max_tokens",
    "drop_role",
    "drop_tool_index",
    "edit_chunks",
    "empty_body",
    "error_body",
    "fail_completion",
    "gzip_writes",
    "hold_open",
    "insert_after_first",
    "keepalive_during_pause",
    "midstream_error",
    "mint_ids",
    "mix_batches",
    "null_finish_reason",
    "one_at_a_time",
    "openai_completion_extras",
    "openai_extras",
    "pause_before_first_chunk",
    "rechunk",
    "refuse_head",
    "release_in_bursts",
    "repeat_finish",
    "serve_unknown_models",
    "set_choice_index",
    "set_content_type",
    "set_finish_reason",
    "set_object",
    "set_status",
    "share_tool_index",
    "skew_usage",
    "skew_usage_in_chunks",
    "split_bytes",
    "stall_after_a_few_tokens",
    "typed_error_on_long_prompts",
    "unterminate_last",
    "usage_on_a_choice",
]


@dataclass(frozen=True, slots=True)
class FaultOptions:
    """Knobs a fault or variant reads.

    Set by the server's settings: how long to hold a body open, where to break
    a stream, how long a prefill pause lasts (``pause``), how often keep-alive
    comments go out (``keepalive_every``) and how long a stalled stream stays
    open at most (``stall_cap``).  Set per request: which batch a stream joins
    (its sampling parameters, for ``mix_batches``), whether its prompt asks
    for a long answer (``long_prompt``), and how many writes the stream will
    have when nothing changes it (``writes_expected``, 0 when unknown), and
    the request itself (``request_key``).
    """

    hold_open: float = 5.0
    break_after: int = 3
    batch: str = ""
    pause: float = 1.5
    keepalive_every: float = 0.2
    stall_cap: float = 60.0
    long_prompt: bool = False
    writes_expected: int = 0
    #: the request itself (messages and sampling parameters), for faults that
    #: count how often the same request came
    request_key: str = ""


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


def announce_arrival(body: JsonObject, models: Sequence[str]) -> JsonObject:
    """Tells every stream in flight here (``cut_when_another_arrives``) that a request came."""
    for arrived in _running_streams().values():
        arrived.set()
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


def usage_on_a_choice(chunk: JsonObject, index: int) -> None:
    """The usage chunk keeps an empty choice, as LiteLLM's proxy sends it."""
    if isinstance(chunk.get("usage"), dict) and chunk.get("choices") == []:
        chunk["choices"] = [{"index": 0, "delta": {}}]


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


async def _aclose(items: Items) -> None:
    if isinstance(items, AsyncGenerator):
        await items.aclose()


#: event loop (one per server) -> stream number -> set when another chat request arrives
_RUNNING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Event]] = (
    weakref.WeakKeyDictionary()
)


def _running_streams() -> dict[int, asyncio.Event]:
    return _RUNNING.setdefault(asyncio.get_running_loop(), {})


async def cut_when_another_arrives(items: Items, options: FaultOptions) -> Items:
    """Ends the stream with a bare ``[DONE]`` as soon as another chat request arrives
    (or another stream starts).

    The cut comes at the next event the stream would send, which is dropped:
    no finish chunk, no usage, no error.
    """
    streams = _running_streams()
    # A stream that starts interrupts those already running, as a request that
    # arrives does: requests that arrive together (before any stream runs) still
    # cut each other, whatever the scheduling.
    for running in streams.values():
        running.set()
    me = next(_STREAM_NUMBERS)
    arrived = streams[me] = asyncio.Event()
    try:
        async for item in items:
            if arrived.is_set():
                yield DONE
                return
            yield item
    finally:
        del streams[me]


async def pause_before_first_chunk(items: Items, options: FaultOptions) -> Items:
    """Waits ``options.pause`` before the first chunk (head and opening comment go at once)."""
    paused = False
    async for item in items:
        if not paused and isinstance(item, Data):
            paused = True
            await asyncio.sleep(options.pause)
        yield item


async def keepalive_during_pause(items: Items, options: FaultOptions) -> Items:
    """The same pause, with a ``: keep-alive`` comment every ``options.keepalive_every``."""
    paused = False
    async for item in items:
        if not paused and isinstance(item, Data):
            paused = True
            async for comment in _keepalives(options.pause, options.keepalive_every):
                yield comment
        yield item


async def _keepalives(duration: float, every: float) -> AsyncGenerator[Comment, None]:
    """A keep-alive comment every ``every`` seconds, for ``duration`` seconds (none at the end)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    while (left := end - loop.time()) > 0:
        await asyncio.sleep(min(every, left))
        if loop.time() < end:
            yield Comment("keep-alive")


async def typed_error_on_long_prompts(items: Items, options: FaultOptions) -> Items:
    """For a prompt that asks for a long answer, the generation fails after a few tokens,
    reported as ``event: error`` with the error envelope, then ``[DONE]``."""
    if options.long_prompt:
        failure = typed_error_event("The generation failed partway through.")
        items = break_stream(failure, DONE)(items, options)
    async for item in items:
        yield item


async def stall_after_a_few_tokens(items: Items, options: FaultOptions) -> Items:
    """After ``break_after`` content chunks the generation stops, and the body stays
    open with keep-alive comments for ``options.stall_cap`` seconds, then ends."""
    seen = 0
    async for item in items:
        chunk = _chunk(item)
        if item == DONE or (chunk is not None and _finishes(chunk)) or seen >= options.break_after:
            break
        yield item
        if chunk is not None and _has_content(chunk):
            seen += 1
    await _aclose(items)
    async for comment in _keepalives(options.stall_cap, options.keepalive_every):
        yield comment


def _plain_text(chunk: JsonObject | None) -> str | None:
    """The content of a chunk that carries content only (one choice, no role, no finish)."""
    if chunk is None or len(chunk["choices"]) != 1:
        return None
    choice = chunk["choices"][0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict) or choice.get("finish_reason") is not None:
        return None
    text = delta.get("content")
    if set(delta) != {"content"} or not isinstance(text, str) or not text:
        return None
    return text


def _with_text(chunk: JsonObject, text: str) -> Data:
    copied = copy.deepcopy(chunk)
    copied["choices"][0]["delta"]["content"] = text
    return Data.of(copied)


async def rechunk(items: Items, options: FaultOptions) -> Items:
    """Content deltas cut differently, in turn: two tokens merged into one delta, one
    token split over two deltas (at a code point, so every piece is valid UTF-8),
    one token as it was.  Everything else passes as it was, usage included."""
    held: tuple[JsonObject, str] | None = None
    step = 0
    async for item in items:
        chunk = _chunk(item)
        text = _plain_text(chunk)
        if chunk is None or text is None:
            if held is not None:
                yield _with_text(*held)
                held = None
            yield item
            continue
        if held is not None:
            yield _with_text(held[0], held[1] + text)
            held = None
            step += 1
        elif step % 3 == 0:
            held = (chunk, text)
        elif step % 3 == 1 and len(text) >= 2:
            step += 1
            cut = len(text) // 2
            yield _with_text(chunk, text[:cut])
            yield _with_text(chunk, text[cut:])
        else:
            step += 1
            yield item
    if held is not None:
        yield _with_text(*held)


def add_null_fields(chunk: JsonObject, index: int) -> None:
    """The null fields real servers send: ``usage`` and ``error`` on every chunk,
    ``logprobs`` on every choice, ``refusal``, ``tool_calls`` and ``function_call``
    on every delta (a field that has a value keeps it)."""
    chunk.setdefault("usage", None)
    chunk.setdefault("error", None)
    for choice in _choices(chunk):
        choice.setdefault("logprobs", None)
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for key in ("refusal", "tool_calls", "function_call"):
                delta.setdefault(key, None)


#: The fingerprint ``openai_extras`` sends, shaped like api.openai.com's.
OPENAI_FINGERPRINT = "fp_7c2a9e41b3"


def _obfuscation() -> str:
    """Random padding of random length, as api.openai.com puts on each chunk."""
    return secrets.token_urlsafe(12)[: 1 + secrets.randbelow(16)]


def _usage_details(usage: JsonObject) -> None:
    usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
    usage["completion_tokens_details"] = {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }


def openai_extras(chunk: JsonObject, index: int) -> None:
    """``service_tier``, an ``fp_`` fingerprint and ``obfuscation`` on every chunk; the
    token details in the usage chunk (the others keep ``usage: null`` when asked)."""
    chunk["service_tier"] = "default"
    chunk["system_fingerprint"] = OPENAI_FINGERPRINT
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        _usage_details(usage)
    chunk["obfuscation"] = _obfuscation()


def _tool_fragments(chunk: JsonObject) -> list[JsonObject]:
    fragments = []
    for choice in _choices(chunk):
        delta = choice.get("delta")
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        if isinstance(calls, list):
            fragments += [call for call in calls if isinstance(call, dict)]
    return fragments


def drop_tool_index(chunk: JsonObject, index: int) -> None:
    for fragment in _tool_fragments(chunk):
        fragment.pop("index", None)


def share_tool_index(chunk: JsonObject, index: int) -> None:
    for fragment in _tool_fragments(chunk):
        if "index" in fragment:
            fragment["index"] = 0


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


#: How many bursts ``release_in_bursts`` cuts a stream into.
BURSTS = 4
#: Writes per burst when the stream's length is unknown.
_BURST_FALLBACK = 8


async def release_in_bursts(writes: Writes, options: FaultOptions) -> Writes:
    """Writes held back and released together, a quarter of the stream at a time
    (``options.writes_expected``; every 8 writes when it is unknown)."""
    expected = options.writes_expected
    size = max(1, math.ceil(expected / BURSTS)) if expected else _BURST_FALLBACK
    held: list[bytes] = []
    async for write in writes:
        held.append(write)
        if len(held) >= size:
            yield b"".join(held)
            held = []
    if held:
        yield b"".join(held)


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


def add_null_message_fields(body: JsonObject) -> JsonObject | bytes:
    """The non-stream side of ``add_null_fields``: null ``refusal``, ``tool_calls``,
    ``function_call`` in the message (a field that has a value keeps it)."""
    message = _message(body)
    if message is not None:
        for key in ("refusal", "tool_calls", "function_call"):
            message.setdefault(key, None)
    return body


def openai_completion_extras(body: JsonObject) -> JsonObject | bytes:
    """The non-stream side of ``openai_extras``: ``service_tier``, the fingerprint, the
    token details, and ``refusal: null`` and ``annotations: []`` in the message."""
    body["service_tier"] = "default"
    body["system_fingerprint"] = OPENAI_FINGERPRINT
    if isinstance(body.get("usage"), dict):
        _usage_details(body["usage"])
    message = _message(body)
    if message is not None:
        message.setdefault("refusal", None)
        message.setdefault("annotations", [])
    return body


# -- generations --------------------------------------------------------------

#: event loop (one per server) -> the lock whose holder is generating
_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def one_at_a_time() -> AsyncGenerator[None, None]:
    """A generation's turn: one at a time per server, in order of arrival."""
    lock = _TURNS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        yield


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
