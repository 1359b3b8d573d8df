"""The stream lifecycle: incremental delivery, `[DONE]`, and a clean close."""

from __future__ import annotations

from ..capture.transcript import Ending
from ..scenarios.chat import SHORT_TWIN, STREAMS
from ..view import ChatView
from . import specs
from .common import describe_end, no_stream, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["CLOSE_GRACE_MS", "INCREMENTAL", "token_times"]

#: How long after `[DONE]` the body may stay open.  Clients that wait for the
#: close (curl, many proxies, `requests`) hang for this long.
CLOSE_GRACE_MS = 1000.0


@rule(
    "stream.done",
    level=Level.MUST,
    requirement="The stream ends with `data: [DONE]`.",
    spec=specs.OPENAI_STREAM_PARAM,
    quote="OpenAI API reference (stream): tokens will be sent as data-only server-sent events "
    "as they become available, with the stream terminated by a data: [DONE] message.",
    breaks=(
        "async-openai over reqwest-eventsource (`EventSource::poll_next`: a body that ends "
        "without [DONE] is `Error::StreamEnded`, passed to the caller as a StreamError, and "
        "the request is sent again)",
    ),
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
    spec=specs.OPENAI_STREAM_PARAM,
    quote="openai-python `src/openai/_streaming.py` `Stream.__stream__` stops at the first "
    "data that starts with [DONE] (`break`); nothing after it is read.",
    breaks=(
        "openai-python (drops the events)",
        "openai-node (`Stream.fromSSEResponse` skips everything after [DONE])",
    ),
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
    spec=specs.OPENAI_STREAM_PARAM,
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
    spec=specs.OPENAI_STREAM_PARAM,
    quote="openai-node `src/core/streaming.ts` `Stream.fromSSEResponse` keeps reading after "
    "[DONE] (`if (done) continue;`) until the body ends, so its loop ends only when the server "
    "closes.",
    breaks=("openai-node (the `for await` over the stream hangs until the body closes)",),
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
    """The method and thresholds of ``stream.incremental``.

    Token events are the chunks that add generated text: content, reasoning
    (``reasoning_content``, ``reasoning``), refusal or tool-call fragments.
    Their *spread* is the time from the first to the last.  The endpoint's
    decode rate comes from the scenario's short twin (same prompt, fewer
    tokens, recorded just before): the difference of the two end times is
    the time it took to generate the extra tokens, whatever the prefill,
    a queue before generation, or a proxy holding events back (a buffer
    releases at the end, so end times stay true).  The expected spread is
    that rate times the long stream's token events.

    - **One burst**: the spread is under ``MIN_SPREAD_SHARE`` of the expected
      spread (headers withheld to the end, nginx buffering, gzip that
      flushes at the end).
    - **Several bursts**: some window of ``WINDOW_SHARE`` of the expected
      spread (at least ``MIN_WINDOW_MS``) holds ``BURST_SHARE`` of the token
      events; an honest stream puts about ``WINDOW_SHARE`` in any such window.
    - Skipped, with the numbers, when there are fewer than ``MIN_EVENTS``
      token events or the expected spread is under ``MIN_EXPECTED_MS``: too
      short to tell streaming from buffering.

    A slow first token, reasoning before the content, keep-alive comments
    during prefill and a queue before generation leave the spread and the
    windows as they are, so they pass.
    """

    MIN_EVENTS = 8
    MIN_EXPECTED_MS = 300.0
    MIN_SPREAD_SHARE = 0.25
    WINDOW_SHARE = 0.05
    MIN_WINDOW_MS = 50.0
    BURST_SHARE = 0.2


_TOKEN_FIELDS = ("content", "reasoning_content", "reasoning", "refusal", "tool_calls")


def token_times(t: ChatView) -> list[int]:
    """Arrival times of the chunks that add generated text, in order."""
    times = []
    for event, chunk in t.chunks():
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and any(delta.get(k) for k in _TOKEN_FIELDS):
                times.append(event.t_ns)
                break
    return sorted(times)


def _busiest_window(times: list[int], width_ns: float) -> int:
    """The most events inside any window of ``width_ns`` (times are sorted)."""
    best, lo = 0, 0
    for hi, t_hi in enumerate(times):
        while t_hi - times[lo] > width_ns:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _decode_ns_per_token(t: ChatView, long_tokens: int) -> tuple[float | None, str]:
    """The decode time per token from the short twin, or None and why not."""
    twin = t.other(SHORT_TWIN)
    if twin is None or twin.status != 200 or not twin.ended_cleanly:
        return None, "no usable short twin to measure the decode rate"
    extra = long_tokens - len(token_times(twin))
    took = t.t_end_ns - twin.t_end_ns
    if extra < INCREMENTAL.MIN_EVENTS or took <= 0:
        return None, (
            f"the short twin gave no decode rate ({extra} extra token events, "
            f"{took / 1e6:.0f} ms longer)"
        )
    return took / extra, ""


@rule(
    "stream.incremental",
    level=Level.MUST,
    requirement="Token events arrive as they are generated, not held back and released in bursts.",
    spec=specs.OPENAI_STREAM_PARAM,
    quote="OpenAI API reference (stream): if set to true, the model response data will be "
    "streamed to the client as it is generated using server-sent events.",
    breaks=(
        "chat UIs (nothing shows until the end)",
        "clients that time out waiting for the first token",
    ),
    hint="Disable buffering on the path: `X-Accel-Buffering: no` or `proxy_buffering off` "
    "for nginx, no gzip on text/event-stream, and a proxy that yields each upstream "
    "chunk as it arrives (iterate `aiter_raw`/`aiter_bytes` inside the response generator).",
    scenarios=("stream-long",),
)
def incremental(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    times = token_times(t)
    if len(times) < INCREMENTAL.MIN_EVENTS:
        return skipped(f"only {len(times)} token events; {INCREMENTAL.MIN_EVENTS} needed to judge")
    per_token, why = _decode_ns_per_token(t, len(times))
    if per_token is None:
        return skipped(why)
    expected = per_token * (len(times) - 1)
    spread = times[-1] - times[0]
    rate = f"decode {per_token / 1e6:.1f} ms per token (from the short twin)"
    if expected / 1e6 < INCREMENTAL.MIN_EXPECTED_MS:
        return skipped(
            f"the generation is too fast to tell streaming from buffering: {rate}, "
            f"{expected / 1e6:.0f} ms expected for {len(times)} token events"
        )
    first = t.chunks()[0][0].offset
    summary = (
        f"{len(times)} token events spread over {spread / 1e6:.0f} ms; "
        f"{expected / 1e6:.0f} ms expected at {rate}"
    )
    if spread < INCREMENTAL.MIN_SPREAD_SHARE * expected:
        return failed(
            f"token events spread over about {expected / 1e6:.0f} ms (at least "
            f"{INCREMENTAL.MIN_SPREAD_SHARE:.0%} of it)",
            f"{summary}: they were held back and released together",
            at=first,
        )
    width = max(INCREMENTAL.MIN_WINDOW_MS * 1e6, INCREMENTAL.WINDOW_SHARE * expected)
    busiest = _busiest_window(times, width)
    share = busiest / len(times)
    if share >= INCREMENTAL.BURST_SHARE:
        return failed(
            f"under {INCREMENTAL.BURST_SHARE:.0%} of the token events in any "
            f"{width / 1e6:.0f} ms window",
            f"{busiest} of {len(times)} token events ({share:.0%}) arrived within "
            f"{width / 1e6:.0f} ms; {summary}: released in bursts",
            at=first,
        )
    return passed(f"{summary}; at most {share:.0%} in any {width / 1e6:.0f} ms window")
