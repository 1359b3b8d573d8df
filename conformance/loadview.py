"""The reading of a load run: one small record of facts per stream, and the view rules read.

A load run may send thousands of streams; keeping every transcript would
grow without bound.  Each stream is read once, as it ends, through the same
:class:`~conformance.view.ChatView` every rule reads, into a
:class:`StreamFacts` (what a rule needs: status, how it ended, the nonce
codes it carried, its timings); its transcript is kept only as evidence,
for the first few streams that look wrong.  Facts are facts, not verdicts:
the ``load.*`` rules judge them.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

from .capture.transcript import Ending, Transcript
from .scenarios.nonce import nonces_in
from .view import ChatView

__all__ = [
    "MAX_GAP_SAMPLES",
    "MAX_STREAM_FACTS",
    "LoadRecord",
    "LoadView",
    "StreamFacts",
    "digest",
    "percentiles",
]

#: Inter-token gaps kept for the percentiles (a uniform sample past this).
MAX_GAP_SAMPLES = 200_000
#: Streams whose facts are kept; past this, streams are still sent and
#: counted, and the first facts stand for the rest.
MAX_STREAM_FACTS = 100_000
#: Text of one answer searched for nonce codes.
MAX_TEXT_CHARS = 64 * 1024
#: Nonce codes kept per stream (a stream full of codes needs only a few as evidence).
MAX_NONCES = 8
#: Streams drawn in the report's latency-over-time plot (evenly sampled past this).
MAX_TIMELINE = 2000
#: Length of the texts (error event, ending) kept per stream.
DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """What one stream under load did, read the way the SDK reads it."""

    number: int
    #: seconds from the opening of the load window to the request
    started_s: float
    nonce: str
    status: int | None
    ending: Ending
    ending_detail: str = ""
    done: bool = False
    finished: bool = False
    #: the first error event's data (the SDK raises on it), "" when none
    error_event: str = ""
    #: data payloads (before [DONE]) that are not JSON objects
    not_json: int = 0
    #: a non-200 answer whose body is a JSON error object
    error_body: bool = False
    #: the nonce codes found in the answer's text, in order
    nonces: tuple[str, ...] = ()
    ttfc_ms: float | None = None
    e2e_ms: float = 0.0
    #: completion tokens: usage.completion_tokens when sent, else content events
    tokens: int = 0
    tokens_from_usage: bool = False
    #: the name of its transcript in the load view's ``related``, "" if not kept
    kept: str = ""

    @property
    def foreign(self) -> tuple[str, ...]:
        """Codes in this answer other than its own."""
        return tuple(n for n in self.nonces if n != self.nonce)

    @property
    def looks_wrong(self) -> bool:
        """Whether its transcript is worth keeping as evidence."""
        return (
            self.status != 200
            or bool(self.error_event)
            or not (self.done and self.finished)
            or self.ending is not Ending.COMPLETE
            or self.not_json > 0
            or self.nonce not in self.nonces
            or bool(self.foreign)
        )


def _text(view: ChatView) -> str:
    parts: list[str] = []
    size = 0
    for _, chunk in view.chunks():
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and size < MAX_TEXT_CHARS:
                parts.append(content)
                size += len(content)
    return "".join(parts)[:MAX_TEXT_CHARS]


def _content_times(view: ChatView) -> list[int]:
    """Arrival times (ns) of the events that carry content, in order."""
    times = []
    for event, chunk in view.chunks():
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and delta.get("content"):
                times.append(event.t_ns)
                break
    return times


def _usage_tokens(view: ChatView) -> int | None:
    for _, chunk in reversed(view.chunks()):
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            value = usage.get("completion_tokens")
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return None


def _error_body(t: Transcript) -> bool:
    value: Any = t.json() if t.status not in (None, 200) else None
    return isinstance(value, dict) and bool(value.get("error"))


def digest(
    t: Transcript, *, number: int, started_s: float, nonce: str
) -> tuple[StreamFacts, list[float]]:
    """The facts of one stream and its inter-token gaps (ms)."""
    view = ChatView(t)
    times = _content_times(view)
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(times)]
    usage = _usage_tokens(view)
    done = view.done_index() is not None
    not_json = sum(1 for _, value in view.payloads() if not isinstance(value, dict))
    finished = any(
        isinstance(c, dict) and c.get("finish_reason") is not None
        for _, chunk in view.chunks()
        for c in chunk.get("choices") or []
    )
    facts = StreamFacts(
        number=number,
        started_s=started_s,
        nonce=nonce,
        status=t.status,
        ending=t.ending,
        ending_detail=t.ending_detail[:DETAIL_CHARS],
        done=done,
        finished=finished,
        error_event=view.errors[0].event.data[:DETAIL_CHARS] if view.errors else "",
        not_json=not_json,
        error_body=_error_body(t),
        nonces=tuple(nonces_in(_text(view))[:MAX_NONCES]),
        ttfc_ms=times[0] / 1e6 if times else None,
        e2e_ms=t.t_end_ns / 1e6,
        tokens=usage if usage is not None else len(times),
        tokens_from_usage=usage is not None,
    )
    return facts, gaps


@dataclass
class LoadRecord:
    """Everything a load run keeps: facts per stream, sampled gaps, evidence."""

    streams: int
    duration_s: float
    #: the lone stream sent before the load, to compare with
    alone: StreamFacts | None = None
    alone_gaps: list[float] = field(default_factory=list)
    facts: list[StreamFacts] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    #: streams sent (facts may stop at MAX_STREAM_FACTS)
    sent: int = 0
    requested_tokens: int = 0
    generated_tokens: int = 0
    #: how long the load window really lasted, to its last stream's end
    elapsed_s: float = 0.0
    _seen_gaps: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def add(self, facts: StreamFacts, gaps: list[float]) -> None:
        self.sent += 1
        self.generated_tokens += facts.tokens
        if len(self.facts) < MAX_STREAM_FACTS:
            self.facts.append(facts)
        for gap in gaps:
            # Reservoir sampling: every gap has the same chance to be kept.
            self._seen_gaps += 1
            if len(self.gaps) < MAX_GAP_SAMPLES:
                self.gaps.append(gap)
            elif (slot := self._random.randrange(self._seen_gaps)) < MAX_GAP_SAMPLES:
                self.gaps[slot] = gap

    @property
    def issued(self) -> frozenset[str]:
        """Every nonce the load sent (and the lone stream's)."""
        found = {f.nonce for f in self.facts}
        return frozenset(found | ({self.alone.nonce} if self.alone else set()))

    def latency(self) -> dict[str, Any]:
        """The figures every report shows: percentiles under load and alone."""
        done = [f for f in self.facts if f.status == 200 and f.done]
        ttfc = [f.ttfc_ms for f in done if f.ttfc_ms is not None]
        out: dict[str, Any] = {
            "streams": self.streams,
            "duration_s": round(self.duration_s, 3),
            "requests": self.sent,
            "completed": len(done),
            "ttft_ms": percentiles(ttfc),
            "itl_ms": percentiles(self.gaps),
            "e2e_ms": percentiles([f.e2e_ms for f in done]),
            "tokens_per_s": round(self.generated_tokens / self.elapsed_s, 1)
            if self.elapsed_s > 0
            else 0.0,
        }
        step = max(1, math.ceil(len(self.facts) / MAX_TIMELINE))
        out["timeline"] = [
            [round(f.started_s, 3), _rounded(f.ttfc_ms), round(f.e2e_ms, 2)]
            for f in self.facts[::step]
        ]
        if self.alone is not None:
            a = self.alone
            out["alone"] = {
                "ttft_ms": round(a.ttfc_ms, 2) if a.ttfc_ms is not None else None,
                "itl_ms": percentiles(self.alone_gaps),
                "e2e_ms": round(a.e2e_ms, 2),
                "tokens_per_s": round(a.tokens / (a.e2e_ms / 1000), 1) if a.e2e_ms > 0 else 0.0,
            }
        return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and p99 (linear between closest ranks); None without values."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)
    return {f"p{q}": round(_quantile(ordered, q / 100), 2) for q in (50, 95, 99)}


def _quantile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class LoadView(ChatView):
    """The view of a load run: its lone stream (the transcript), the kept
    evidence (``related``), and the facts of every stream (``record``)."""

    def __init__(self, transcript: Transcript, record: LoadRecord) -> None:
        super().__init__(transcript)
        self.record = record
