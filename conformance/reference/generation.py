"""Paced generation, and the counters that show whether it stopped when asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext

from .chunks import Answer
from .text import Completion
from .wire import DONE, Comment, Data, Item, JsonObject

__all__ = ["Gate", "GenerationTracker", "generate", "item_count", "stream_items"]

#: What a generation runs inside (the ``queued`` variant's turn), entered per generation.
Gate = Callable[[], AbstractAsyncContextManager[None]]


def _no_gate() -> AbstractAsyncContextManager[None]:
    return nullcontext()


class GenerationTracker:
    """Counts generations; a dropped client must move one from active to cancelled."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.cancelled = 0

    @property
    def active(self) -> int:
        return self.started - self.finished - self.cancelled

    def snapshot(self) -> JsonObject:
        return {
            "active": self.active,
            "started": self.started,
            "finished": self.finished,
            "cancelled": self.cancelled,
        }

    @contextmanager
    def track(self) -> Iterator[None]:
        self.started += 1
        try:
            yield
        except BaseException:
            # CancelledError (client gone) or GeneratorExit (reply cut short).
            self.cancelled += 1
            raise
        self.finished += 1


async def stream_items(
    answer: Answer,
    completion: Completion,
    *,
    include_usage: bool,
    delay: float,
    tracker: GenerationTracker,
    gate: Gate | None = None,
) -> AsyncIterator[Item]:
    """The correct event sequence of one streamed answer, one token per chunk.

    A tool call opens with its id, type and name, then streams its arguments
    in pieces, as OpenAI does; further calls follow it, each opened the same
    way under the next index.  Reasoning tokens, if any, come first, as
    ``reasoning_content`` deltas.  The opening comment goes out at once (and
    the head with it); the rest waits for ``gate``.
    """

    def chunk(delta: JsonObject) -> Data:
        return Data.of(answer.chunk(delta, include_usage=include_usage))

    yield Comment()
    async with (gate or _no_gate)():
        yield chunk(answer.opening(completion))
        with tracker.track():
            for token in completion.reasoning:
                await asyncio.sleep(delay)
                yield chunk({"reasoning_content": token})
            if completion.reasoning and completion.tool_name is not None:
                yield chunk({"tool_calls": [answer.call_opening(completion)]})
            for token in completion.tokens:
                await asyncio.sleep(delay)
                yield chunk(answer.piece(completion, token))
            for index, call in enumerate(completion.more_calls, 1):
                yield chunk({"tool_calls": [answer.call_opening(completion, index)]})
                for token in call.tokens:
                    await asyncio.sleep(delay)
                    yield chunk(answer.piece(completion, token, index))
        final = answer.chunk({}, completion.finish_reason, include_usage=include_usage)
        yield Data.of(final)
        if include_usage:
            yield Data.of(answer.usage_chunk(completion))
    yield DONE


def item_count(completion: Completion, *, include_usage: bool) -> int:
    """How many items (so writes, unchanged) ``stream_items`` makes for ``completion``."""
    # The opening comment, the opening chunk, the finish chunk and [DONE].
    count = 4 + len(completion.reasoning) + len(completion.tokens) + include_usage
    if completion.reasoning and completion.tool_name is not None:
        count += 1  # the call opens after the reasoning
    return count + sum(1 + len(call.tokens) for call in completion.more_calls)


async def generate(
    completion: Completion,
    *,
    delay: float,
    tracker: GenerationTracker,
    gate: Gate | None = None,
) -> None:
    """Takes the time the stream would (in its turn), so both paths cost the same."""
    async with (gate or _no_gate)():
        with tracker.track():
            await asyncio.sleep(delay * completion.completion_tokens)
