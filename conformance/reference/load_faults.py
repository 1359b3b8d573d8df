"""Faults that only repetition or load reveal: each is right most of the time.

A single recording of each scenario, undisturbed, sees none of them:

- ``done-sometimes`` breaks one stream in four *of the same request*, so only
  asking the same thing again (``--exo-repeat``) shows it;
- ``cross-talk`` and ``cut-under-load`` start only past
  :data:`BUSY_ABOVE` streams in flight, more than the concurrency scenario
  sends (8 by default), so only ``--exo-load`` shows them.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections import Counter
from collections.abc import AsyncIterator

from .transforms import FaultOptions
from .wire import DONE, Data, Item, JsonObject

__all__ = ["BUSY_ABOVE", "EVERY", "cross_talk", "cut_under_load", "done_sometimes"]

Items = AsyncIterator[Item]

#: ``done-sometimes`` drops [DONE] on the EVERY-th stream of each request.
EVERY = 4
#: Streams in flight above which the load faults start.
BUSY_ABOVE = 8
#: Content tokens a stream cut under load sends before it ends.
CUT_AFTER = 3

_NUMBERS = itertools.count()


class _Server:
    """Per event loop (one per server): requests seen and streams in flight."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        #: stream number -> the content tokens it has generated so far
        self.flight: dict[int, list[str]] = {}


_SERVERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Server] = (
    weakref.WeakKeyDictionary()
)


def _server() -> _Server:
    loop = asyncio.get_running_loop()
    found = _SERVERS.get(loop)
    if found is None:
        found = _SERVERS[loop] = _Server()
    return found


def _content_delta(item: Item) -> JsonObject | None:
    """The delta of a chunk's first choice when it carries string content."""
    obj = item.json() if isinstance(item, Data) else None
    choices = obj.get("choices") if isinstance(obj, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    delta = choices[0].get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("content"), str) and delta["content"]:
        return delta
    return None


async def done_sometimes(items: Items, options: FaultOptions) -> Items:
    """Drops ``[DONE]`` on every EVERY-th stream of the same request."""
    server = _server()
    server.seen[options.request_key] += 1
    drop = server.seen[options.request_key] % EVERY == 0
    async for item in items:
        if not (drop and item == DONE):
            yield item


async def cross_talk(items: Items, options: FaultOptions) -> Items:
    """Past BUSY_ABOVE streams in flight, a stream sends the token another stream
    in flight generated at the same position (a shared detokenizer slot)."""
    flight = _server().flight
    me = next(_NUMBERS)
    mine = flight[me] = []
    try:
        async for item in items:
            delta = _content_delta(item)
            if delta is None:
                yield item
                continue
            index = len(mine)
            mine.append(str(delta["content"]))
            other = _neighbour(flight, me, index) if len(flight) > BUSY_ABOVE else None
            if other is None:
                yield item
                continue
            # _content_delta handed back the delta of this chunk's own parse
            yield Data.of(_with_content(item, other))
    finally:
        del flight[me]


def _with_content(item: Item, content: str) -> JsonObject:
    obj = item.json() if isinstance(item, Data) else None
    assert isinstance(obj, dict)  # only called on chunks _content_delta accepted
    obj["choices"][0]["delta"]["content"] = content
    return obj


def _neighbour(flight: dict[int, list[str]], me: int, index: int) -> str | None:
    """Token ``index`` of the nearest other stream in flight that has one."""
    for number in sorted(flight, key=lambda n: abs(n - me)):
        tokens = flight[number]
        if number != me and len(tokens) > index:
            return tokens[index]
    return None


async def cut_under_load(items: Items, options: FaultOptions) -> Items:
    """A stream that starts with more than BUSY_ABOVE others in flight is answered
    200 and cut after CUT_AFTER content tokens: no finish, no error, no [DONE]
    (an overloaded server that should have answered 429 or 503)."""
    flight = _server().flight
    me = next(_NUMBERS)
    busy = len(flight) >= BUSY_ABOVE
    flight[me] = []
    sent = 0
    try:
        async for item in items:
            if busy and sent >= CUT_AFTER:
                return
            sent += _content_delta(item) is not None
            yield item
    finally:
        del flight[me]
