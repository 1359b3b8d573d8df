"""Paced generation, and the counters that show whether it stopped when asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from .chunks import Answer
from .text import Completion
from .wire import DONE, Comment, Data, Item, JsonObject

__all__ = ["GenerationTracker", "generate", "stream_items"]


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
) -> AsyncIterator[Item]:
    """The correct event sequence of one streamed answer, one token per chunk.

    A tool call opens with its id, type and name, then streams its arguments
    in pieces, as OpenAI does.
    """
    yield Comment()
    yield Data.of(answer.chunk(answer.opening(completion), include_usage=include_usage))
    with tracker.track():
        for token in completion.tokens:
            await asyncio.sleep(delay)
            delta = answer.piece(completion, token)
            yield Data.of(answer.chunk(delta, include_usage=include_usage))
    final = answer.chunk({}, completion.finish_reason, include_usage=include_usage)
    yield Data.of(final)
    if include_usage:
        yield Data.of(answer.usage_chunk(completion))
    yield DONE


async def generate(completion: Completion, *, delay: float, tracker: GenerationTracker) -> None:
    """Takes the time the stream would, so both paths cost the same."""
    with tracker.track():
        await asyncio.sleep(delay * completion.completion_tokens)
