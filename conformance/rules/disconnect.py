"""A client that drops a stream: the endpoint stops that work and serves the next request."""

from __future__ import annotations

from ..capture.transcript import Ending
from ..scenarios.sessions import (
    DISCONNECT,
    GENERATIONS_PATH,
    POLL_INTERVAL_S,
    POLL_WINDOW_S,
    generation_counter,
    generation_stopped,
)
from ..view import ChatView
from . import specs
from .common import describe_end, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["ASGI_DISCONNECT"]

ASGI_DISCONNECT = specs.ASGI_DISCONNECT  # kept for importers; the link lives in specs
Counter = dict[str, int]


def _not_dropped(t: ChatView) -> Verdict | None:
    """A skip when there was no stream for the harness to drop; None when there was."""
    if t.status != 200:
        got = f"HTTP {t.status}" if t.status is not None else describe_end(t)
        return skipped(f"no stream to drop ({got}); see headers.status on stream-long")
    if t.ending is not Ending.DROPPED:
        return skipped(f"the stream was not dropped: {describe_end(t)}")
    return None


# -- the next request -------------------------------------------------------------------


def _served_problem(t: ChatView) -> str | None:
    """Why ``t`` was not served, or None when it was.

    Served means answered: HTTP 200 and a body the server ended, holding at
    least one chunk or ``[DONE]`` (or, for a non-stream answer, a JSON object
    that is not an error).  How well-formed that answer is ([DONE], finish
    reasons, error events) is judged on every stream by the rules made for
    it; a fault that breaks every stream must not be blamed on the drop.
    """
    if t.status is None:
        return f"no response: {describe_end(t)}"
    if t.status != 200:
        shown = preview(t.body.decode("utf-8", "replace")) if t.body else "an empty body"
        return f"HTTP {t.status}: {shown!r}"
    if t.ending is not Ending.COMPLETE:
        return f"HTTP 200, but {describe_end(t)}"
    if t.chunks() or t.done_index() is not None:
        return None
    if t.events:
        events = f"{len(t.events)} event{'s' * (len(t.events) != 1)}"
        return f"HTTP 200, but no chunk and no [DONE] in {events}"
    body = t.json()
    if isinstance(body, dict) and "error" not in body:
        return None
    shown = preview(t.body.decode("utf-8", "replace")) if t.body else "an empty body"
    return f"HTTP 200, but no chunk, no [DONE] and no answer: {shown!r}"


@rule(
    "disconnect.recovers",
    level=Level.MUST,
    requirement="After a client drops a stream partway, the next request is served: HTTP 200 "
    "and a body the server ends, with at least one chunk or `[DONE]`, within the deadline.",
    spec=specs.ASGI_DISCONNECT,
    quote="A dropped stream (ASGI http.disconnect) must not take the server down: every later "
    "client depends on it.",
    breaks=(
        "every client: the next request fails (openai-python: APITimeoutError or "
        "APIConnectionError after its retries)",
    ),
    hint="Let a client disconnect end the work it started: in the stream generator, catch "
    "asyncio.CancelledError (or poll `await request.is_disconnected()`), stop the generation "
    "and close the upstream stream in a `finally`, so no worker, lock or pooled connection "
    "stays taken by the dropped request.",
    scenarios=(DISCONNECT,),
)
def recovers(t: ChatView) -> Verdict:
    if (skip := _not_dropped(t)) is not None:
        return skip
    following = t.other("next")
    if following is None:
        return skipped("no next request was recorded")
    problem = _served_problem(following)
    if problem is not None:
        at = 0 if following.body else None
        return failed(
            "the next request served: HTTP 200 and a body the server ends, with a chunk or [DONE]",
            f"after the drop ({t.ending_detail}), the next request got {problem}",
            at=at,
            source="next",
        )
    first = following.ttfb_ms or 0.0
    return passed(
        f"after the drop, the next request was served in {following.duration_ms:.0f} ms "
        f"(first byte after {first:.0f} ms)"
    )


# -- the dropped generation ---------------------------------------------------------------


def _readings(t: ChatView) -> list[tuple[str, ChatView]]:
    """The counter readings taken after the drop, in order."""
    found = [(name, x) for name, x in t.others("generations-")]
    after = [(name, x) for name, x in found if name != "generations-0"]
    return sorted(after, key=lambda item: int(item[0].rsplit("-", 1)[1]))


def _elapsed_ms(readings: list[tuple[str, ChatView]]) -> float:
    """About how long after the drop the last of ``readings`` was answered."""
    pauses = len(readings) * POLL_INTERVAL_S * 1000  # one before each reading
    return pauses + sum(x.t_end_ns for _, x in readings) / 1e6


def _change(before: Counter, now: Counter) -> str:
    keys = ("active", "cancelled", "finished")
    return ", ".join(f"{k} {before[k]}\u2192{now[k]}" for k in keys)


@rule(
    "disconnect.cancels",
    level=Level.SHOULD,
    requirement=f"When a client drops a stream, its generation stops within {POLL_WINDOW_S:g} s "
    "(judged where the endpoint exposes its generation counters).",
    spec=specs.ASGI_DISCONNECT,
    hint="Cancel the generation when the client goes away: a generator cut off by "
    "CancelledError or GeneratorExit must tell the engine to stop (EXO sends TaskCancelled), "
    "and a proxy must close its upstream stream so the upstream sees the disconnect too.",
    scenarios=(DISCONNECT,),
)
def cancels(t: ChatView) -> Verdict:
    first = t.other("generations-0")
    before = generation_counter(first.transcript) if first is not None else None
    if first is None or before is None:
        shown = f"HTTP {first.status}" if first is not None and first.status else "no answer"
        return skipped(
            f"the endpoint exposes no generation counter (GET {GENERATIONS_PATH}: {shown}); "
            "cannot tell whether the generation stopped"
        )
    if (skip := _not_dropped(t)) is not None:
        return skip
    return _judge_readings(before, _readings(t))


def _judge_readings(before: Counter, readings: list[tuple[str, ChatView]]) -> Verdict:
    for k in range(1, len(readings) + 1):
        name, reading = readings[k - 1]
        now = generation_counter(reading.transcript)
        if now is None:
            return skipped(
                f"the generation counter stopped answering ({name}: HTTP {reading.status})"
            )
        if generation_stopped(before, now):
            return passed(
                f"the dropped generation stopped within about {_elapsed_ms(readings[:k]):.0f} ms "
                f"of the drop: {_change(before, now)}"
            )
    if not readings:
        return skipped("no counter reading was taken after the drop")
    name, reading = readings[-1]
    now = generation_counter(reading.transcript)
    assert now is not None  # every reading was checked above
    ran_on = now["finished"] > before["finished"] and now["cancelled"] == before["cancelled"]
    how = "it ran to its end instead" if ran_on else "still not cancelled"
    return failed(
        f"the cancelled counter up and active back to {before['active']} within "
        f"{POLL_WINDOW_S:g} s of the drop",
        f"{how}, {_elapsed_ms(readings):.0f} ms after the drop: {_change(before, now)} "
        f"({len(readings)} readings of GET {GENERATIONS_PATH})",
        at=0,
        source=name,
    )
