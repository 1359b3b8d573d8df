"""The stream lifecycle: incremental delivery, `[DONE]`, and a clean close."""

from __future__ import annotations

from ..capture.transcript import Ending
from ..scenarios.chat import STREAMS
from ..view import ChatView
from . import specs
from .common import describe_end, no_stream, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["CLOSE_GRACE_MS", "INCREMENTAL"]

#: How long after `[DONE]` the body may stay open.  Clients that wait for the
#: close (curl, many proxies, `requests`) hang for this long.
CLOSE_GRACE_MS = 1000.0


@rule(
    "stream.done",
    level=Level.MUST,
    requirement="The stream ends with `data: [DONE]`.",
    spec=specs.OPENAI_CHUNK_OBJECT,
    hint="Send `data: [DONE]\\n\\n` after the last chunk, also after an error event; a "
    "proxy must keep the upstream stream open until it has passed `[DONE]` on: open "
    "`client.stream(...)` inside the response generator, not in an `async with` around "
    "the `return StreamingResponse(...)` (docs/proxy-lifecycle.md).",
    scenarios=STREAMS,
)
def done(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    if t.done_index() is not None:
        return passed()
    events = t.data_events()
    if events:
        last = events[-1]
        actual = (
            f"last event: data: {preview(last.data, 240)} at byte {last.offset}; {describe_end(t)}"
        )
        return failed("data: [DONE] as the last event", actual, at=last.offset)
    return failed(
        "data: [DONE] as the last event",
        f"no events at all; {describe_end(t)}",
        at=max(0, len(t.body) - 1) if t.body else None,
    )


@rule(
    "stream.after-done",
    level=Level.MUST,
    requirement="No event follows `data: [DONE]`.",
    spec=specs.OPENAI_CHUNK_OBJECT,
    quote="openai-python's Stream stops iterating at the first data that starts with [DONE].",
    breaks=("openai-python (drops the events)", "LangChain (drops the events)"),
    hint="Stop writing after `[DONE]` and end the response; clients stop reading there "
    "and any later event is lost.",
    scenarios=STREAMS,
)
def after_done(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    done = t.done
    if done is None:
        return skipped("no [DONE] to judge after; see stream.done")
    if not t.after_done:
        return passed()
    late = t.after_done[0]
    return failed(
        "no event after data: [DONE]",
        f"{len(t.after_done)} event(s) after [DONE]; the first, at byte {late.offset}: "
        f"data {preview(late.data, 200)!r}",
        at=late.offset,
    )


@rule(
    "stream.after-done-bytes",
    level=Level.SHOULD,
    requirement="Nothing but line ends follows `data: [DONE]`: no comment, no stray bytes.",
    spec=specs.OPENAI_CHUNK_OBJECT,
    quote="Clients stop reading at [DONE], so trailing bytes are never read; a client that "
    "reuses the connection or a strict reader may still trip on them.",
    hint="End the response right after writing `data: [DONE]\\n\\n`.",
    scenarios=STREAMS,
)
def after_done_bytes(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    done = t.done
    if done is None:
        return skipped("no [DONE] to judge after; see stream.done")
    if t.after_done:
        return skipped("events follow [DONE]; see stream.after-done")
    rest = t.body[done.end :]
    if not rest.strip(b"\r\n"):
        return passed()
    return failed(
        "the body ends after data: [DONE]",
        f"{len(rest)} more bytes after [DONE]: {preview(rest.decode('utf-8', 'replace'), 240)!r}",
        at=done.end,
    )


@rule(
    "stream.closes",
    level=Level.MUST,
    requirement=f"The body ends within {CLOSE_GRACE_MS:.0f} ms of `data: [DONE]`.",
    spec=specs.OPENAI_CHUNK_OBJECT,
    hint="Return from the response generator right after yielding `[DONE]`; a proxy must "
    "close its side when the upstream stream ends.",
    scenarios=STREAMS,
)
def closes(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    index = t.done_index()
    if index is None:
        return skipped("no [DONE] to time the close from; see stream.done")
    done_event = t.events[index]
    waited = (t.t_end_ns - done_event.t_ns) / 1e6
    if t.ending not in (Ending.COMPLETE, Ending.RESET):
        return failed(
            f"the body ends within {CLOSE_GRACE_MS:.0f} ms of [DONE]",
            f"still open {waited:.0f} ms after [DONE]; {describe_end(t)}",
            at=done_event.end,
        )
    if waited > CLOSE_GRACE_MS:
        return failed(
            f"the body ends within {CLOSE_GRACE_MS:.0f} ms of [DONE]",
            f"the body ended {waited:.0f} ms after [DONE]",
            at=done_event.end,
        )
    return passed(f"closed {waited:.1f} ms after [DONE]")


class INCREMENTAL:
    """Thresholds of ``stream.incremental``, and why.

    Buffering (nginx proxy_buffering, gzip middleware, a proxy that collects the
    upstream body) delivers most content events in one burst when generation
    ends.  A streaming endpoint spreads them over its generation time.  The
    rule looks at the busiest window of ``WINDOW_SHARE`` of the request's
    duration (at least ``MIN_WINDOW_MS``, about one network round of
    coalescing) and fails when it holds ``BURST_SHARE`` of all content events.
    Streams that finish in under ``MIN_GENERATION_S`` or carry fewer than
    ``MIN_EVENTS`` content events cannot show the difference: they are skipped.
    """

    MIN_GENERATION_S = 1.0
    MIN_EVENTS = 8
    WINDOW_SHARE = 0.05
    MIN_WINDOW_MS = 50.0
    BURST_SHARE = 0.8


def _content_times(t: ChatView) -> list[int]:
    times = []
    for event, chunk in t.chunks():
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
                times.append(event.t_ns)
                break
    return times


def _busiest_window(times: list[int], width_ns: float) -> int:
    """The most events inside any window of ``width_ns`` (times are sorted)."""
    best, lo = 0, 0
    for hi, t_hi in enumerate(times):
        while t_hi - times[lo] > width_ns:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@rule(
    "stream.incremental",
    level=Level.MUST,
    requirement="Content events arrive as they are generated, not in one burst at the end.",
    spec=specs.OPENAI_STREAMING_GUIDE,
    hint="Disable buffering on the path: `X-Accel-Buffering: no` or `proxy_buffering off` "
    "for nginx, no gzip on text/event-stream, and a proxy that yields each upstream "
    "chunk as it arrives (iterate `aiter_raw`/`aiter_bytes` inside the response generator).",
    scenarios=("stream-long",),
)
def incremental(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    times = sorted(_content_times(t))
    if len(times) < INCREMENTAL.MIN_EVENTS:
        return skipped(
            f"only {len(times)} content events; {INCREMENTAL.MIN_EVENTS} needed to judge"
        )
    total_s = times[-1] / 1e9
    if total_s < INCREMENTAL.MIN_GENERATION_S:
        return skipped(
            f"generation took {total_s * 1000:.0f} ms; at least "
            f"{INCREMENTAL.MIN_GENERATION_S:.0f} s is needed to tell streaming "
            "from buffering"
        )
    width = max(INCREMENTAL.MIN_WINDOW_MS * 1e6, INCREMENTAL.WINDOW_SHARE * times[-1])
    busiest = _busiest_window(times, width)
    share = busiest / len(times)
    spread = (times[-1] - times[0]) / 1e6
    summary = (
        f"{busiest} of {len(times)} content events ({share:.0%}) arrived within "
        f"{width / 1e6:.0f} ms; content spread over {spread:.0f} ms of a "
        f"{total_s * 1000:.0f} ms request"
    )
    if share >= INCREMENTAL.BURST_SHARE:
        first = t.chunks()[0][0] if t.chunks() else None
        return failed(
            f"content spread across the generation (under {INCREMENTAL.BURST_SHARE:.0%} "
            "in any burst)",
            summary,
            at=first.offset if first else None,
        )
    return passed(summary)
