"""The scenario catalog: every request the suite sends, in one explicit list.

A scenario says what to send and how to record it; its transcript carries the
request, so rules read what was asked from the transcript.  The catalog is
built here, once, from the lists each module declares: nothing registers
itself on import, and nothing changes it at run time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from ..capture.transcript import Transcript
from . import (
    cancel,
    chat,
    client,
    consistency,
    load,
    messages,
    ollama,
    proxy,
    responses,
    sessions,
)
from .base import SEED, UNKNOWN_MODEL, RecordContext, Recorder, Scenario, Target, chat_body
from .chat import STREAMS

__all__ = [
    "CATALOG",
    "SEED",
    "STREAMS",
    "UNKNOWN_MODEL",
    "RecordContext",
    "Recorder",
    "Scenario",
    "Target",
    "chat_body",
    "record_all",
]


def _catalog(*groups: Iterable[Scenario]) -> Mapping[str, Scenario]:
    out: dict[str, Scenario] = {}
    for scenario in (s for group in groups for s in group):
        if scenario.id in out:
            raise ValueError(f"duplicate scenario {scenario.id!r}")
        out[scenario.id] = scenario
    return MappingProxyType(out)


#: Every scenario by ID, in the order the suite lists them.
CATALOG: Mapping[str, Scenario] = _catalog(
    chat.SCENARIOS,
    consistency.SCENARIOS,
    client.SCENARIOS,
    sessions.SCENARIOS,
    responses.SCENARIOS,
    proxy.SCENARIOS,
    messages.SCENARIOS,
    ollama.SCENARIOS,
    cancel.SCENARIOS,
    load.SCENARIOS,
)


async def record_all(
    ctx: RecordContext, ids: Iterable[str], *, parallel: int = 1
) -> dict[str, Transcript]:
    """Record the named scenarios, exclusive ones last and alone.

    At most ``parallel`` independent scenarios are in flight at once (one by
    default): an endpoint's timing, determinism and correctness are judged on
    what it does for a lone client, so the harness never causes what it
    reports (a server that cuts a running stream when another request
    arrives, batching that changes an answer).  Only the scenarios that exist
    to test concurrency send requests at once.
    """
    ctx = ctx.fresh_round()
    wanted = [CATALOG[i] for i in dict.fromkeys(ids)]
    shared = [s for s in wanted if not s.exclusive]
    gate = asyncio.Semaphore(max(1, parallel))

    async def one(scenario: Scenario) -> Transcript:
        async with gate:
            return await scenario.record(ctx)

    results = await asyncio.gather(*(one(s) for s in shared))
    out = {s.id: t for s, t in zip(shared, results, strict=True)}
    for scenario in (s for s in wanted if s.exclusive):
        out[scenario.id] = await scenario.record(ctx)
    return out
