"""Streams under load (``--exo-load N``): each complete or properly refused, none
carrying another's text, and the latency figures.

The rules judge the facts of every stream the load sent (``LoadView.record``),
not a sample; the evidence shown is the first stream that failed, kept whole.
A deviation the lone stream shows too belongs to the stream rules, which
judge it without load: the load rules then skip, naming them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..capture.transcript import Ending
from ..loadview import LoadView, StreamFacts
from ..scenarios.load import LOAD
from . import specs
from .common import preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["REFUSALS", "stream_problem"]

#: The statuses that refuse work under load, which clients retry with backoff.
REFUSALS = (429, 503)

RFC9110_503 = "https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4"
OPENAI_ERROR_CODES = "https://platform.openai.com/docs/guides/error-codes#api-errors"


def stream_problem(f: StreamFacts) -> str | None:
    """Why a stream under load is neither complete nor properly refused, or None."""
    if f.status is None:
        return f"no response ({f.ending}: {preview(f.ending_detail)})"
    if f.status in REFUSALS:
        return None
    if f.status != 200:
        return f"HTTP {f.status}: a stream refused under load must be 429 or 503"
    if f.error_event:
        return None  # the SDK raises on it: the client knows the answer failed
    if f.not_json:
        return f"{f.not_json} data payload(s) that are not JSON objects"
    if not f.done:
        detail = f": {preview(f.ending_detail)}" if f.ending_detail else ""
        return f"no [DONE], no error event; the body ended {f.ending}{detail}"
    if not f.finished:
        return "[DONE] without any finish_reason: the answer was cut and looks complete"
    if f.ending is not Ending.COMPLETE:
        return f"the body ended {f.ending}: {preview(f.ending_detail)}"
    return None


def _where(f: StreamFacts) -> str:
    return f"stream {f.number} (sent {f.started_s:.1f} s into the load)"


def _evidence(found: Sequence[StreamFacts]) -> tuple[int | None, str]:
    """Offset and source of the first kept transcript among ``found``."""
    kept = next((f for f in found if f.kept), None)
    return (0, kept.kept) if kept is not None else (None, "")


def _lone_problem(t: LoadView) -> Verdict | None:
    alone = t.record.alone
    if alone is not None and (problem := stream_problem(alone)) is not None:
        return skipped(
            f"the lone stream before the load fails too ({problem}): the stream rules "
            "(headers.status, stream.done, chunk.finish-reason) judge that without load"
        )
    if not t.record.facts:
        return skipped("no stream ended within the load window")
    return None


@rule(
    "load.complete",
    level=Level.MUST,
    requirement="Every stream under load ends well-formed and complete (a finish_reason, "
    "then [DONE]), or is refused properly: 429 or 503, or an error event.",
    spec=RFC9110_503,
    quote="The 503 (Service Unavailable) status code indicates that the server is currently "
    "unable to handle the request due to a temporary overload",
    breaks=(
        "openai-python (retries 429 and 5xx with backoff, but returns a 200 stream cut "
        "short as a complete, shorter answer)",
        "every client that cannot tell a truncated answer from a finished one",
    ),
    hint="When the endpoint cannot take more work, answer new requests 429 or 503 with a "
    "JSON error (and Retry-After); never accept a stream and end it early without an "
    "error event.",
    scenarios=[LOAD],
)
def complete(t: LoadView) -> Verdict:
    if (skip := _lone_problem(t)) is not None:
        return skip
    facts = t.record.facts
    bad = [(f, p) for f in facts if (p := stream_problem(f)) is not None]
    refused = sum(1 for f in facts if f.status in REFUSALS)
    if not bad:
        note = f", {refused} refused with 429/503" if refused else ""
        return passed(f"{len(facts)} streams under load, all complete{note}")
    first, problem = bad[0]
    at, source = _evidence([f for f, _ in bad])
    return failed(
        f"{len(facts)} streams under {t.record.streams} at once, each complete or refused "
        "with 429/503 or an error event",
        f"{len(bad)} of {len(facts)} streams: {_where(first)}: {problem}",
        at=at,
        source=source,
        message=f"failed on {len(bad)} of {len(facts)} streams: {_where(first)}: {problem}",
    )


@rule(
    "load.isolation",
    level=Level.MUST,
    requirement="No stream under load carries another stream's nonce code: every answer "
    "is generated for its own request.",
    spec=specs.OPENAI_CHUNK_ID,
    quote="Each request gets its own completion: a stream that carries the code another "
    "request asked for was generated, at least in part, for that request, and no client "
    "can tell (openai-python `Stream.__stream__` yields whatever chunks arrive).",
    breaks=(
        "every multi-user application: text generated for one user's request reaches another user",
    ),
    hint="Keep per-request state (sampling, KV cache slot, detokenizer, output queue) per "
    "request when batching; look for state shared past the engine's batch size.",
    scenarios=[LOAD],
)
def isolation(t: LoadView) -> Verdict:
    if not t.record.facts:
        return skipped("no stream ended within the load window")
    alone = t.record.alone
    if alone is not None and alone.nonce not in alone.nonces:
        return skipped(
            f"the lone stream did not repeat its code {alone.nonce!r}: this endpoint's "
            "answers cannot prove which request they were generated for"
        )
    issued = t.record.issued
    owner = {f.nonce: f for f in t.record.facts}
    mixed = [f for f in t.record.facts if set(f.foreign) & issued]
    missing = sum(1 for f in t.record.facts if f.status == 200 and f.nonce not in f.nonces)
    if not mixed:
        note = f"; {missing} answered without their own code" if missing else ""
        return passed(f"{len(t.record.facts)} streams, none with another's code{note}")
    first = mixed[0]
    code = next(n for n in first.foreign if n in issued)
    whose = owner.get(code)
    from_whom = f"stream {whose.number}" if whose is not None else "the lone stream"
    at, source = _evidence(mixed)
    actual = (
        f"{len(mixed)} of {len(t.record.facts)} streams carry another's code: "
        f"{_where(first)} carries {code!r}, the code of {from_whom}"
    )
    return failed(
        "each stream's text holds its own code and no other stream's",
        actual,
        at=at,
        source=source,
    )


@rule(
    "load.error-body",
    level=Level.SHOULD,
    requirement="A stream refused under load (429 or 503) carries a JSON error object, "
    'as every other error: `{"error": {"message", ...}}`.',
    spec=OPENAI_ERROR_CODES,
    quote="429 - Rate limit reached for requests ... 503 - The engine is currently "
    "overloaded, please try again later",
    breaks=("openai-python (its RateLimitError message is read from the error body)",),
    hint='Send `{"error": {"message": "...", "type": "...", "code": ...}}` with the 429 '
    "or 503 status.",
    scenarios=[LOAD],
)
def error_body(t: LoadView) -> Verdict:
    refused = [f for f in t.record.facts if f.status in REFUSALS]
    if not refused:
        return skipped("no stream was refused under load")
    bare = [f for f in refused if not f.error_body]
    if not bare:
        return passed(f"{len(refused)} refusals, each with a JSON error body")
    at, source = _evidence(bare)
    return failed(
        'a JSON `{"error": {...}}` body with each 429/503',
        f"{len(bare)} of {len(refused)} refusals without one: {_where(bare[0])}, "
        f"HTTP {bare[0].status}",
        at=at,
        source=source,
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


@rule(
    "load.latency",
    level=Level.MAY,
    requirement="Time to first content, inter-token latency and end-to-end latency under "
    "load, with the figures of a lone stream (informational).",
    spec=OPENAI_ERROR_CODES,
    hint="Compare the figures under load with the lone stream's: the gap is what "
    "concurrency costs each client.",
    scenarios=[LOAD],
)
def latency(t: LoadView) -> Verdict:
    figures = t.record.latency()
    if not figures["completed"]:
        return skipped("no stream under load completed: nothing to time")
    ttft, itl, e2e = figures["ttft_ms"], figures["itl_ms"], figures["e2e_ms"]
    alone = figures.get("alone") or {}
    return passed(
        f"{figures['completed']} streams at {figures['streams']} at once: "
        f"TTFT p50 {_ms(ttft['p50'])} / p95 {_ms(ttft['p95'])} / p99 {_ms(ttft['p99'])} ms, "
        f"ITL p50 {_ms(itl['p50'])} / p99 {_ms(itl['p99'])} ms, "
        f"end-to-end p50 {_ms(e2e['p50'])} ms, {figures['tokens_per_s']} tokens/s; "
        f"alone: TTFT {_ms(alone.get('ttft_ms'))} ms, end-to-end {_ms(alone.get('e2e_ms'))} ms"
    )
