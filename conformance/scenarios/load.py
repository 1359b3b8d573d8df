"""The load scenario (``--exo-load N``): N streams at once, a new request as each
ends, for the load duration, each request asking for its own nonce code.

One lone stream goes first, so every figure under load has its counterpart
for a client alone.  Each stream keeps the run's exchange deadline and its
own caps; it is read into facts as it ends and its transcript dropped unless
it is evidence (see ``conformance.loadview``), so memory stays bounded
however long the load runs.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx

from ..capture.recorder import Limits, make_client, record
from ..capture.transcript import Transcript
from .base import RecordContext, Scenario, chat_body
from .nonce import make_nonce, nonce_prompt

if TYPE_CHECKING:
    from ..loadview import LoadRecord, StreamFacts

__all__ = [
    "KEEP_EVIDENCE",
    "LOAD",
    "LOAD_MAX_TOKENS",
    "SCENARIOS",
    "Progress",
    "load_body",
    "record_load",
]

LOAD = "load"
#: Tokens asked of each stream under load: enough for a dozen gaps each.
LOAD_MAX_TOKENS = 32
#: Each stream's body cap: an answer of LOAD_MAX_TOKENS is a few KiB.
LOAD_MAX_BODY = 1024 * 1024
LOAD_MAX_EVENTS = 10_000
#: Transcripts kept as evidence (the first streams that look wrong).
KEEP_EVIDENCE = 4
#: Seconds between two progress lines.
PROGRESS_EVERY_S = 1.0

#: Called with one line of progress while the load runs.
Progress = Callable[[str], None]


def load_body(model: str, nonce: str) -> dict[str, object]:
    """What each stream under load asks: its nonce back, with usage counted."""
    return chat_body(
        model,
        nonce_prompt(nonce),
        max_tokens=LOAD_MAX_TOKENS,
        stream_options={"include_usage": True},
    )


class _Load:
    """The state of one load run: its record, its evidence, its clock."""

    def __init__(self, ctx: RecordContext, streams: int, duration_s: float) -> None:
        # Imported here: the reading of streams (a view) sits above the scenarios.
        from ..loadview import LoadRecord

        self.ctx = ctx
        self.record = LoadRecord(streams=streams, duration_s=duration_s)
        self.evidence: list[tuple[str, Transcript]] = []
        self.numbers = itertools.count()
        self.limits = Limits(
            deadline_s=ctx.limits.deadline_s,
            max_body_bytes=min(LOAD_MAX_BODY, ctx.limits.max_body_bytes),
            max_events=LOAD_MAX_EVENTS,
        )
        self.opened = 0.0
        self.running = 0
        self.bad = 0

    async def one(
        self, client: httpx.AsyncClient, number: int
    ) -> tuple[StreamFacts, list[float], Transcript]:
        nonce = make_nonce()
        started = time.monotonic() - self.opened if self.opened else 0.0
        body = load_body(self.ctx.target.model, nonce)
        self.record.requested_tokens += LOAD_MAX_TOKENS
        self.running += 1
        try:
            t = await record(
                client,
                "POST",
                self.ctx.target.endpoint("/v1/chat/completions"),
                scenario=f"{LOAD}-{number}",
                target=self.ctx.target.url,
                json=body,
                limits=self.limits,
                secrets=self.ctx.secrets,
            )
        finally:
            self.running -= 1
        from ..loadview import digest

        facts, gaps = digest(t, number=number, started_s=started, nonce=nonce)
        return facts, gaps, t

    def keep(self, facts: StreamFacts, t: Transcript) -> StreamFacts:
        if not facts.looks_wrong:
            return facts
        self.bad += 1
        if len(self.evidence) >= KEEP_EVIDENCE:
            return facts
        name = f"stream-{facts.number}"
        self.evidence.append((name, t))
        return replace(facts, kept=name)

    def line(self) -> str:
        r = self.record
        elapsed = min(time.monotonic() - self.opened, r.duration_s)
        return (
            f"exo-conformance load: {elapsed:4.0f}/{r.duration_s:g} s, "
            f"{self.running} streams open, {r.sent} ended, {self.bad} look wrong"
        )


async def record_load(
    ctx: RecordContext, streams: int, duration_s: float, progress: Progress | None = None
) -> tuple[Transcript, LoadRecord]:
    """Run the load; the lone stream's transcript (evidence in ``related``) and the record."""
    load = _Load(ctx, streams, duration_s)
    async with make_client(
        api_key=ctx.target.api_key, limits=load.limits, connections=streams + 1
    ) as client:
        alone_facts, alone_gaps, alone = await load.one(client, next(load.numbers))
        load.record.alone, load.record.alone_gaps = alone_facts, alone_gaps
        load.opened = time.monotonic()
        closes = load.opened + duration_s

        async def stream_after_stream() -> None:
            while time.monotonic() < closes:
                facts, gaps, t = await load.one(client, next(load.numbers))
                load.record.add(load.keep(facts, t), gaps)
                load.record.elapsed_s = time.monotonic() - load.opened

        async def report() -> None:
            while progress is not None:
                await asyncio.sleep(PROGRESS_EVERY_S)
                progress(load.line())

        ticker = asyncio.create_task(report())
        try:
            await asyncio.gather(*(stream_after_stream() for _ in range(streams)))
        finally:
            ticker.cancel()
        if progress is not None:
            progress(load.line())
    main = replace(alone, scenario=LOAD, related=tuple(load.evidence))
    return main, load.record


async def _not_alone(ctx: RecordContext) -> Transcript:
    raise RuntimeError("the load scenario is recorded by ConformanceRun.record_load")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        LOAD,
        "--exo-load N streams at once for --exo-load-duration seconds, a new request as "
        "each ends, each asking for its own nonce code (after one lone stream)",
        _not_alone,
        exclusive=True,
    ),
)
