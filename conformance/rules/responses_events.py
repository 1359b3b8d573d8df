"""Responses stream events: their names, their numbering, and their schema.

OpenAI's streaming events reference, the Open Responses specification's
"Streaming HTTP Responses" paragraph, and what openai-python reads of each
event (``lib/streaming/responses/_responses.py``).
"""

from __future__ import annotations

from ..scenarios.responses import STREAMS
from ..schemas import validate
from ..view_responses import TERMINAL, ResponsesView
from . import specs
from .common import preview
from .registry import Level, Verdict, failed, passed, rule, skipped
from .responses_common import API, no_answer, no_events, where

__all__: list[str] = []

#: Paths of an event that other rules own: the schema rule leaves them to them.
OWNED = {
    "$.sequence_number": "responses.sequence",
    "$.response.incomplete_details": "responses.incomplete",
}
#: ... and on a terminal event, the status (responses.terminal matches it to the type).
OWNED_ON_TERMINAL = {"$.response.status": "responses.terminal"}


@rule(
    "responses.event-name",
    level=Level.SHOULD,
    requirement="Every event has an `event:` line naming its type.",
    spec=specs.OPEN_RESPONSES_HTTP,
    quote="The `event` field MUST match the `type` in the event body.",
    breaks=("clients that dispatch on the SSE event name (EventSource listeners)",),
    hint="Write `event: <type>` before each `data:` line, as OpenAI does. (openai-python "
    "reads the data's `type`, so this is a SHOULD: the stricter Open Responses "
    "requirement.)",
    scenarios=STREAMS,
    api=API,
)
def event_name(t: ResponsesView) -> Verdict:
    if (skip := no_events(t)) is not None:
        return skip
    unnamed = [e for e in t.read if e.event.type == "message"]
    if not unnamed:
        return passed()
    first = unnamed[0]
    return failed(
        "an `event:` line before every data line",
        f"{len(unnamed)} of {len(t.read)} events have none; first: {where(first)}",
        at=first.offset,
    )


@rule(
    "responses.event-type",
    level=Level.MUST,
    requirement="An event's `event:` line names the same type as its data's `type`.",
    spec=specs.OPEN_RESPONSES_HTTP,
    quote="The `event` field MUST match the `type` in the event body.",
    breaks=(
        "clients that dispatch on the SSE event name read a different event than "
        "openai-python, which reads the data's `type`",
    ),
    hint="Derive the `event:` line from the payload's `type` when writing each event.",
    scenarios=STREAMS,
    api=API,
)
def event_type(t: ResponsesView) -> Verdict:
    if (skip := no_events(t)) is not None:
        return skip
    named = [e for e in t.read if e.event.type != "message" and e.type is not None]
    if not named:
        return skipped("no event carries an `event:` line; see responses.event-name")
    for ev in named:
        if ev.event.type != ev.type:
            return failed(
                f"event: {ev.type}",
                f"event: {ev.event.type} with data type {ev.type!r} ({where(ev)})",
                at=ev.offset,
            )
    return passed()


@rule(
    "responses.sequence",
    level=Level.MUST,
    requirement="Every event carries an integer `sequence_number`, one more than the "
    "previous event's.",
    spec=specs.OPENAI_RESPONSES_STREAMING + "/response/created",
    quote="sequence_number (integer, required): The sequence number for this event.",
    breaks=(
        "async-openai (every event type has a required sequence_number: an event without "
        "one fails to deserialize)",
        "openai-python responses.stream(starting_after=N) (compares sequence_number: "
        "TypeError when it is missing, repeated numbers are dropped)",
    ),
    hint="Keep one counter per stream, starting at 0, and put it on every event, "
    "lifecycle and error events included.",
    scenarios=STREAMS,
    api=API,
)
def sequence(t: ResponsesView) -> Verdict:
    if (skip := no_events(t)) is not None:
        return skip
    previous: int | None = None
    for ev in t.read:
        if ev.value is None:
            continue  # not JSON: responses.schema's
        number = ev.sequence_number
        if number is None:
            shown = ev.data.get("sequence_number", "none")
            return failed(
                "an integer sequence_number on every event",
                f"sequence_number {shown!r} on {where(ev)}",
                at=ev.offset,
            )
        if previous is not None and number != previous + 1:
            return failed(
                f"sequence_number {previous + 1} after {previous}",
                f"sequence_number {number} on {where(ev)}",
                at=ev.offset,
            )
        previous = number
    return passed()


@rule(
    "responses.schema",
    level=Level.MUST,
    requirement="Every event's data is a JSON object that validates against OpenAI's "
    "schema for its type, and so does a non-stream answer (the response object).",
    spec=specs.OPENAI_RESPONSES_STREAMING,
    quote="ResponseTextDeltaEvent: required type, item_id, output_index, content_index, "
    "delta, sequence_number",
    breaks=(
        "async-openai (typed events: a missing or mistyped required field fails to "
        "deserialize the event)",
        "openai-python responses.stream() (looks items and parts up by output_index and "
        "content_index: RuntimeError when one is missing)",
    ),
    hint="Send every field the reference marks required for the event's type, with its "
    "type: for text deltas `item_id`, `output_index`, `content_index` and `delta` (and "
    "`logprobs: []`); lifecycle events carry the whole response object.",
    scenarios=(*STREAMS, "responses-nonstream"),
    api=API,
)
def schema(t: ResponsesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    if t.asked("stream") is not True:
        return _answer_schema(t)
    if (skip := no_events(t)) is not None:
        return skip
    for ev in t.read:
        if ev.value is None or not isinstance(ev.value, dict):
            return failed(
                "a JSON object in every data payload",
                f"{preview(ev.event.data)!r} on {where(ev)}",
                at=ev.offset,
            )
        owned = OWNED | OWNED_ON_TERMINAL if ev.type in TERMINAL else OWNED
        problems = [p for p in validate("responses-event", ev.value) if p.path not in owned]
        if problems:
            return failed(
                f"{ev.type or 'an event'} as OpenAI's schema describes it",
                f"{'; '.join(p.message for p in problems[:3])} ({where(ev)})",
                at=ev.offset,
            )
    return passed()


def _answer_schema(t: ResponsesView) -> Verdict:
    if t.answer is None:
        shown = preview(t.body.decode("utf-8", "replace"), 120)
        return failed("a JSON response object", f"body {shown!r}", at=0)
    problems = validate("responses-response", t.answer)
    if problems:
        return failed(
            "a response object as OpenAI's schema describes it",
            "; ".join(p.message for p in problems[:3]),
            at=0,
        )
    return passed()
