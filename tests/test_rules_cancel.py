"""The cancel rules on recorded-looking transcripts: a stream, its cancel, an unknown id."""

from __future__ import annotations

import json

from messages_builders import MESSAGE_STOP, block_start, body, delta, start, stop, text

from conformance.capture import Transcript
from conformance.capture.build import from_bytes
from conformance.rules import REGISTRY

NOT_FOUND = {"error": {"message": "Command not found or already completed"}}


def answer(status: int, value: object, t_end_ns: int = 1_000_000) -> Transcript:
    import dataclasses

    t = from_bytes(
        json.dumps(value).encode(), status=status, headers={"content-type": "application/json"}
    )
    return dataclasses.replace(t, t_end_ns=t_end_ns)


def cancelled(
    events: list[dict[str, object]],
    *,
    cancel: Transcript | None = None,
    unknown: Transcript | None = None,
    step_ns: int = 1_000_000,
) -> Transcript:
    related = {
        "cancel": cancel or answer(200, {"message": "Command cancelled."}),
        "cancel-unknown": unknown or answer(404, NOT_FOUND),
    }
    return from_bytes(
        body(events),
        scenario="messages-cancel",
        headers={"content-type": "text/event-stream"},
        request_json={"model": "m", "max_tokens": 400, "stream": True, "messages": []},
        related=related,
        step_ns=step_ns,
    )


CUT = [start(), block_start(0), text(0, "Once"), stop(0), delta(None, 1), MESSAGE_STOP]


def outcome(rule: str, t: Transcript) -> str:
    return REGISTRY.get(rule).judge(t, "messages").outcome


def test_a_stream_stopped_at_once_with_a_null_stop_reason_passes() -> None:
    t = cancelled(CUT)
    assert [outcome(r, t) for r in ("cancel.ends", "cancel.marked", "cancel.unknown-id")] == [
        "passed"
    ] * 3


def test_a_stream_that_ends_late_fails_ends_and_marked_leaves_it() -> None:
    t = cancelled([*CUT[:3], *[text(0, " w")] * 5, *CUT[3:]], step_ns=2_000_000_000)
    assert outcome("cancel.ends", t) == "failed"
    assert outcome("cancel.marked", t) == "skipped"


def test_a_stream_that_ends_as_finished_fails_marked() -> None:
    events = [*CUT[:4], delta("end_turn", 1), MESSAGE_STOP]
    t = cancelled(events)
    assert outcome("cancel.ends", t) == "passed"
    assert outcome("cancel.marked", t) == "failed"


def test_an_unknown_id_needs_404_with_a_message() -> None:
    assert outcome("cancel.unknown-id", cancelled(CUT, unknown=answer(200, {}))) == "failed"
    assert outcome("cancel.unknown-id", cancelled(CUT, unknown=answer(404, {}))) == "failed"
    assert (
        outcome("cancel.unknown-id", cancelled(CUT, unknown=answer(404, {"detail": "gone"})))
        == "passed"
    )


def test_every_rule_skips_when_the_cancel_is_not_served() -> None:
    t = cancelled(CUT, cancel=answer(404, {"detail": "Not Found"}))
    for rule in ("cancel.ends", "cancel.marked", "cancel.unknown-id"):
        verdict = REGISTRY.get(rule).judge(t, "messages")
        assert verdict.outcome == "skipped" and "does not serve" in verdict.message
