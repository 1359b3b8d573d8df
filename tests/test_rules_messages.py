"""The Messages rules on transcripts built from bytes: each passes a correct stream,
fails the deviation it owns, and leaves the others to their owners."""

from __future__ import annotations

import json

import pytest
from messages_builders import (
    MESSAGE_STOP,
    TOOL,
    block_start,
    body,
    delta,
    event,
    good_events,
    json_piece,
    messages_answer,
    messages_stream,
    start,
    stop,
    text,
    tool_events,
)

from conformance.capture import Transcript
from conformance.rules import REGISTRY, Verdict
from conformance.view_messages import MessagesView

STREAM_RULES = [
    r.id for r in REGISTRY if r.id.startswith("messages.") and "messages-stream" in r.scenarios
]


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def tripped(t: Transcript) -> set[str]:
    rules = [r for r in REGISTRY if "messages" in r.apis and t.scenario in r.scenarios]
    return {r.id for r in rules if r.judge(t).outcome == "failed"}


def test_a_correct_stream_passes_every_rule() -> None:
    t = messages_stream(body(good_events()))
    assert tripped(t) == set()
    assert judge("messages.stop-reason", t).outcome == "passed"


def test_a_correct_tool_stream_passes_and_its_input_is_the_joined_pieces() -> None:
    t = messages_stream(body(tool_events()), "messages-tools")
    assert tripped(t) == set()
    view = MessagesView(t)
    message = view.final_message()
    assert message is not None
    assert message["content"][1]["input"] == {"city": "Paris"}
    assert judge("messages.tool-input", t).outcome == "passed"


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(b'event: ping\ndata: {"type": "ping"}\n\n', id="ping"),
        pytest.param(b": keep-alive\n\n", id="comment"),
    ],
)
def test_pings_and_comments_between_events_trip_nothing(extra: bytes) -> None:
    raw = extra.join(event(e) for e in good_events())
    assert tripped(messages_stream(raw)) == set()


def test_a_thinking_block_before_the_text_trips_nothing() -> None:
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    events = [
        start(),
        block_start(0, thinking),
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Hm."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "s"},
        },
        stop(0),
        block_start(1),
        text(1, "Hi"),
        stop(1),
        delta(),
        MESSAGE_STOP,
    ]
    t = messages_stream(body(events))
    assert tripped(t) == set()
    assert MessagesView(t).text() == "Hi"


def test_a_reused_block_index_fails_blocks_alone() -> None:
    events = tool_events()
    for i, e in enumerate(events):
        if e.get("index") == 1:
            events[i] = {**e, "index": 0}
    t = messages_stream(body(events), "messages-tools")
    assert tripped(t) == {"messages.blocks"}
    assert "position 1" in judge("messages.blocks", t).actual


def test_interleaved_blocks_fail_block_order_alone() -> None:
    events = [
        start(),
        block_start(0),
        text(0, "Call"),
        block_start(1, TOOL),
        text(0, "ing"),
        stop(0),
        json_piece(1, '{"city": "Paris"}'),
        stop(1),
        delta("tool_use"),
        MESSAGE_STOP,
    ]
    t = messages_stream(body(events), "messages-tools")
    assert tripped(t) == {"messages.block-order"}


def test_a_delta_to_a_block_never_started_fails_blocks() -> None:
    events = [start(), block_start(0), text(1, "x"), stop(0), delta(), MESSAGE_STOP]
    assert tripped(messages_stream(body(events))) == {"messages.blocks"}


def test_a_first_event_other_than_message_start_fails_start() -> None:
    events = good_events()[1:]
    t = messages_stream(body(events))
    verdict = judge("messages.start", t)
    assert verdict.outcome == "failed" and "content_block_start" in verdict.actual
    assert judge("messages.blocks", t).outcome == "skipped"


def test_message_start_with_content_fails_start() -> None:
    events = good_events()
    events[0] = start({"content": [{"type": "text", "text": "x"}]})
    assert tripped(messages_stream(body(events))) == {"messages.start"}


def test_an_unnamed_event_fails_event_type() -> None:
    raw = b"".join(
        event(e, None if e["type"] == "content_block_delta" else "") for e in good_events()
    )
    t = messages_stream(raw)
    assert tripped(t) == {"messages.event-type"}
    # anthropic-python drops unnamed events: the text is lost.
    assert MessagesView(t).text() == ""


def test_an_error_without_event_error_fails_event_type_and_others_skip() -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    raw = body(good_events()[:3]) + event(error, None)
    t = messages_stream(raw)
    assert tripped(t) == {"messages.event-type"}
    assert "raises nothing" in judge("messages.event-type", t).actual
    assert MessagesView(t).untyped_errors
    assert "messages.event-type" in judge("messages.error-event", t).message


def test_a_typed_error_event_passes_error_event_and_its_schema() -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    t = messages_stream(body(good_events()[:3]) + event(error))
    assert tripped(t) == set()
    assert judge("messages.error-event", t).outcome == "passed"
    assert judge("messages.error-schema", t).outcome == "passed"
    assert judge("messages.stop-reason", t).outcome == "skipped"


def test_a_null_stop_reason_after_a_failure_fails_error_event_alone() -> None:
    events = [start(), block_start(0), text(0, "Hel"), stop(0), delta(None), MESSAGE_STOP]
    t = messages_stream(body(events))
    assert tripped(t) == {"messages.error-event"}
    assert "null stop_reason" in judge("messages.error-event", t).actual


def test_a_stream_cut_silently_fails_error_event_alone() -> None:
    t = messages_stream(body(good_events()[:3]))
    assert tripped(t) == {"messages.error-event"}


def test_an_invented_stop_reason_fails_stop_reason() -> None:
    events = good_events()
    events[5] = delta("finished")
    assert tripped(messages_stream(body(events))) == {"messages.stop-reason"}


def test_events_after_message_stop_fail_stop_reason() -> None:
    events = [*good_events(), text(0, "late")]
    assert tripped(messages_stream(body(events))) == {"messages.stop-reason"}


def test_several_message_deltas_are_allowed() -> None:
    events = good_events()
    events.insert(5, delta(None, 1))
    assert tripped(messages_stream(body(events))) == set()


def test_a_cut_answer_must_say_max_tokens() -> None:
    events = [
        start(),
        block_start(0),
        *[text(0, " w") for _ in range(8)],
        stop(0),
        delta("end_turn", 8),
        MESSAGE_STOP,
    ]
    t = messages_stream(body(events), "messages-max-tokens")
    assert tripped(t) == {"messages.stop-reason"}
    events[-2] = delta("max_tokens", 8)
    assert tripped(messages_stream(body(events), "messages-max-tokens")) == set()
    events[-2] = delta("max_tokens", 9)
    assert (
        "at most max_tokens=8"
        in judge(
            "messages.stop-reason", messages_stream(body(events), "messages-max-tokens")
        ).expected
    )


def test_tool_input_that_is_not_an_object_fails_tool_input() -> None:
    events = tool_events()
    events[6] = json_piece(1, '"Paris"')
    t = messages_stream(body(events), "messages-tools")
    assert tripped(t) == {"messages.tool-input"}


def test_zero_input_tokens_fail_usage_alone() -> None:
    events = good_events()
    events[0] = start(input_tokens=0)
    t = messages_stream(body(events))
    assert tripped(t) == {"messages.usage"}


def test_a_non_stream_message_passes_and_a_broken_one_fails_schema() -> None:
    good = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    assert tripped(messages_answer(good)) == set()
    assert tripped(messages_answer({**good, "content": "Hi"})) == {"messages.schema"}


@pytest.mark.parametrize(
    "scenario", ["messages-missing-max-tokens", "messages-unknown-model", "messages-invalid-json"]
)
def test_invalid_requests_need_a_4xx_and_the_error_body(scenario: str) -> None:
    error = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
    assert tripped(messages_answer(error, scenario, 400)) == set()
    assert tripped(messages_answer({"detail": [{"msg": "x"}]}, scenario, 422)) == {
        "messages.error-schema"
    }
    assert tripped(messages_answer(b"Internal Server Error", scenario, 500)) == {
        "messages.error-status"
    }
    served = messages_answer({"id": "msg_1"}, scenario, 200)
    if scenario == "messages-missing-max-tokens":
        # A default max_tokens filled in is lenient, not broken: the rule skips.
        assert judge("messages.error-status", served).outcome == "skipped"
    else:
        assert tripped(served) == {"messages.error-status"}


def test_a_wrong_content_type_fails_content_type() -> None:
    t = messages_stream(body(good_events()), headers={"content-type": "application/json"})
    assert "messages.content-type" in tripped(t)


def test_the_view_reads_as_the_sdk_does() -> None:
    raw = body(good_events())
    view = MessagesView(messages_stream(raw))
    assert next(m.type for m in view.dispatched) == "message_start"
    assert view.stop_reason == "end_turn" and view.output_tokens == 2 and view.input_tokens == 5
    message = view.final_message()
    assert message is not None and message["content"] == [{"type": "text", "text": "Hello there"}]
    assert json.loads(json.dumps(message))["usage"]["output_tokens"] == 2


def test_the_curl_reproducer_reads_the_anthropic_key_from_the_environment() -> None:
    from conformance.capture.transcript import Request
    from conformance.report.curl import curl_command

    request = Request(
        "POST",
        "http://127.0.0.1:1/v1/messages",
        (("authorization", "***"), ("x-api-key", "***"), ("anthropic-version", "2023-06-01")),
        b"{}",
    )
    command = curl_command(request, with_key=True)
    assert '"x-api-key: $EXO_API_KEY"' in command and "'x-api-key: ***'" not in command
    assert "anthropic-version: 2023-06-01" in command


def test_an_event_nested_past_the_stack_is_judged_not_crashed_on() -> None:
    raw = body(good_events()[:2]) + b"event: content_block_delta\ndata: " + b"[" * 100_000 + b"\n\n"
    t = messages_stream(raw)
    assert judge("messages.event-type", t).outcome == "failed"
    outcomes = {judge(r, t).outcome for r in STREAM_RULES}  # none raises
    assert outcomes <= {"passed", "failed", "skipped"}
