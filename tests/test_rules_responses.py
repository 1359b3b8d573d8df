"""The Responses rules: each passes a correct stream, fails the deviation it owns,
and is not tripped by the legitimate variants (keep-alive comments, a reasoning
item first, ``[DONE]`` after the terminal event, CRLF, unknown event types)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from responses_builders import (
    JSON_HEADERS,
    answer,
    encode,
    final,
    renumber,
    response,
    stream_events,
    transcript,
)

from conformance.capture import Transcript
from conformance.rules import REGISTRY
from conformance.rules.registry import Verdict
from conformance.scenarios.responses import INVALID_JSON

Events = list[dict[str, Any]]
RULES = sorted(r.id for r in REGISTRY if r.id.startswith("responses."))
STREAM_RULES = [
    r
    for r in RULES
    if "responses-stream" in REGISTRY.get(r).scenarios
    and r not in ("responses.incomplete", "responses.consistency")
]


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def outcome(rule_id: str, t: Transcript) -> str:
    return judge(rule_id, t).outcome


def edited(change: Callable[[Events], None], events: Events | None = None) -> Transcript:
    evs = copy.deepcopy(events if events is not None else stream_events())
    change(evs)
    return transcript(evs)  # type: ignore[arg-type]


def test_every_responses_rule_declares_the_responses_api() -> None:
    assert RULES and all(REGISTRY.get(r).apis == ("responses",) for r in RULES)
    for r in RULES:
        rule = REGISTRY.get(r)
        assert rule.spec and rule.quote and rule.breaks and rule.hint, r


# -- valid streams trip nothing ----------------------------------------------------------


def _keepalive(events: Events) -> list[dict[str, Any] | str]:
    out: list[dict[str, Any] | str] = []
    for ev in events:
        out += [": keep-alive", ev]
    return out


VALID: dict[str, Callable[[], Transcript]] = {
    "plain": lambda: transcript(),
    "keep-alive comments": lambda: transcript(_keepalive(stream_events())),
    "reasoning item first": lambda: transcript(stream_events(reasoning=(" think", " more"))),
    "[DONE] after the terminal event": lambda: transcript([*stream_events(), "[DONE]"]),
    "CRLF line ends": lambda: transcript(encode(stream_events(), eol="\r\n")),  # type: ignore[arg-type]
    "a function call": lambda: transcript(stream_events(call=('{"city":', '"Paris"}'))),
    "an unknown event type": lambda: transcript(
        renumber([*stream_events()[:2], {"type": "response.custom.progress"}, *stream_events()[2:]])
    ),
    "sequence numbers from 1": lambda: transcript(renumber(stream_events(), start=1)),
    "extra fields everywhere": lambda: edited(
        lambda evs: [ev.update(obfuscation="xyz") for ev in evs]  # type: ignore[func-returns-value]
    ),
}


@pytest.mark.parametrize("variant", sorted(VALID))
@pytest.mark.parametrize("rule_id", STREAM_RULES)
def test_valid_streams_pass_every_stream_rule(rule_id: str, variant: str) -> None:
    verdict = judge(rule_id, VALID[variant]())
    assert verdict.outcome == "passed", verdict


def test_the_cut_stream_passes_incomplete_and_the_stream_rules() -> None:
    t = transcript(
        stream_events(tuple(f" w{i}" for i in range(16)), status="incomplete"),
        scenario="responses-max-output-tokens",
    )
    for rule_id in [*STREAM_RULES, "responses.incomplete"]:
        assert outcome(rule_id, t) == "passed", rule_id


# -- headers and status --------------------------------------------------------------------


def test_status_fails_a_non_200() -> None:
    v = judge("responses.status", transcript(status=404))
    assert v.outcome == "failed" and "404" in v.actual
    assert outcome("responses.item-lifecycle", transcript(status=404)) == "skipped"


def test_content_type_stream_and_answer() -> None:
    assert outcome("responses.content-type", transcript(headers=JSON_HEADERS)) == "failed"
    ok = answer(response("completed", []))
    assert outcome("responses.content-type", ok) == "passed"
    wrong = answer(response("completed", []), headers={"content-type": "text/plain"})
    assert outcome("responses.content-type", wrong) == "failed"


# -- event names, numbering, schema ------------------------------------------------------


def test_event_name_warns_without_event_lines_and_event_type_then_skips() -> None:
    t = transcript(encode(stream_events(), names=False))  # type: ignore[arg-type]
    assert outcome("responses.event-name", t) == "failed"
    assert outcome("responses.event-type", t) == "skipped"
    assert outcome("responses.schema", t) == "passed"


def test_event_type_fails_a_line_that_names_another_type() -> None:
    body = encode(stream_events()).replace(  # type: ignore[arg-type]
        b"event: response.output_text.delta", b"event: response.text.delta", 1
    )
    v = judge("responses.event-type", transcript(body))
    assert v.outcome == "failed" and "response.text.delta" in v.actual
    assert outcome("responses.event-name", transcript(body)) == "passed"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda evs: evs[3].pop("sequence_number"), "an integer sequence_number"),
        (lambda evs: evs[3].update(sequence_number="3"), "an integer sequence_number"),
        (lambda evs: evs[3].update(sequence_number=2), "sequence_number 3 after 2"),
        (lambda evs: evs[3].update(sequence_number=9), "sequence_number 3 after 2"),
    ],
)
def test_sequence_fails_missing_repeated_or_skipped_numbers(
    change: Callable[[Events], Any], expected: str
) -> None:
    t = edited(change)
    v = judge("responses.sequence", t)
    assert v.outcome == "failed" and expected in v.expected
    assert outcome("responses.schema", t) == "passed"  # the number is sequence's alone


def test_schema_fails_a_delta_without_its_indexes_and_a_non_json_payload() -> None:
    t = edited(lambda evs: evs[4].pop("content_index"))
    v = judge("responses.schema", t)
    assert v.outcome == "failed" and "$.content_index" in v.actual
    # logprobs is typed, not required: no client breaks without it.
    assert outcome("responses.schema", edited(lambda evs: evs[4].pop("logprobs"))) == "passed"
    body = encode([*stream_events()[:3], "not json", *stream_events()[3:]])
    assert outcome("responses.schema", transcript(body)) == "failed"


def test_schema_fails_a_response_object_of_the_wrong_shape() -> None:
    t = edited(lambda evs: final(evs).update(object="chat.completion"))
    v = judge("responses.schema", t)
    assert v.outcome == "failed" and "$.response.object" in v.actual
    assert outcome("responses.schema", answer(response("completed", []))) == "passed"
    bad = answer({"id": "x", "object": "response"})
    v = judge("responses.schema", bad)
    assert v.outcome == "failed" and "created_at" in v.actual
    assert outcome("responses.schema", answer(b"<html>")) == "failed"


# -- lifecycle --------------------------------------------------------------------------


def test_created_first() -> None:
    t = transcript(renumber(stream_events()[1:]))
    v = judge("responses.created-first", t)
    assert v.outcome == "failed" and "response.in_progress" in v.actual


def test_terminal_fails_a_missing_extra_or_mismatched_terminal_event() -> None:
    missing = transcript(stream_events()[:-1])
    assert outcome("responses.terminal", missing) == "failed"
    for rule_id in ("responses.output", "responses.incomplete", "responses.failed"):
        assert outcome(rule_id, missing) == "skipped", rule_id
    evs = stream_events()
    twice = transcript(renumber([*evs, evs[-1]]))
    v = judge("responses.terminal", twice)
    assert v.outcome == "failed" and "after the terminal" in v.expected
    mismatched = edited(lambda e: final(e).update(status="incomplete"))
    assert outcome("responses.terminal", mismatched) == "failed"
    assert outcome("responses.schema", mismatched) == "passed"
    after_done = transcript([*stream_events(), "[DONE]", ": x", "[DONE]"])
    assert outcome("responses.terminal", after_done) == "failed"


def _cut(status: str, tokens: int, *, usage: int | None = None) -> Transcript:
    evs = stream_events(tuple(f" w{i}" for i in range(tokens)), status=status)
    if usage is not None:
        final(evs)["usage"]["output_tokens"] = usage
    return transcript(evs, scenario="responses-max-output-tokens")


def test_incomplete_fails_a_cut_answer_that_ends_completed() -> None:
    v = judge("responses.incomplete", _cut("completed", 16))
    assert v.outcome == "failed" and "response.completed" in v.actual
    assert outcome("responses.incomplete", _cut("completed", 20)) == "failed"  # over the limit
    # Ended on its own before the limit: nothing to judge.
    assert outcome("responses.incomplete", _cut("completed", 5)) == "skipped"


def test_incomplete_needs_the_reason() -> None:
    assert outcome("responses.incomplete", _cut("incomplete", 16)) == "passed"
    evs = stream_events(tuple(f" w{i}" for i in range(16)), status="incomplete")
    final(evs)["incomplete_details"] = {"reason": "length"}
    v = judge("responses.incomplete", transcript(evs, scenario="responses-max-output-tokens"))
    assert v.outcome == "failed" and "max_output_tokens" in v.expected


def _with_error(events: Events, terminal: str) -> Events:
    error = {"type": "error", "code": "server_error", "message": "boom", "param": None}
    evs = [*events[:5], error, *events[5:]]
    if terminal == "response.failed":
        end = final(evs)
        end.update(status="failed", error={"code": "server_error", "message": "boom"})
        evs[-1]["type"] = terminal
    return renumber(evs)


def test_failed_fails_an_error_that_ends_completed() -> None:
    bad = transcript(_with_error(stream_events(), "response.completed"))
    v = judge("responses.failed", bad)
    assert v.outcome == "failed" and "error" in v.actual
    good = transcript(_with_error(stream_events(), "response.failed"))
    assert outcome("responses.failed", good) == "passed"
    assert outcome("responses.output", good) == "skipped"
    no_reason = copy.deepcopy(_with_error(stream_events(), "response.failed"))
    final(no_reason)["error"] = None
    assert outcome("responses.failed", transcript(no_reason)) == "failed"


def test_usage_warns_when_absent_or_inconsistent() -> None:
    assert outcome("responses.usage", edited(lambda e: final(e).update(usage=None))) == "failed"
    wrong = edited(lambda e: final(e)["usage"].update(total_tokens=1))
    assert outcome("responses.usage", wrong) == "failed"
    good = response("completed", [], usage={"input_tokens": 3, "output_tokens": 2,
                                            "total_tokens": 5})  # fmt: skip
    assert outcome("responses.usage", answer(good)) == "passed"


# -- items ------------------------------------------------------------------------------


def test_item_lifecycle_fails_a_delta_before_its_item() -> None:
    evs = stream_events()
    moved = renumber([evs[0], evs[1], evs[4], evs[2], evs[3], *evs[5:]])
    v = judge("responses.item-lifecycle", transcript(moved))
    assert v.outcome == "failed" and "was not added" in v.actual
    assert outcome("responses.output", transcript(moved)) == "skipped"


def test_item_lifecycle_fails_a_delta_before_its_part() -> None:
    evs = stream_events()
    moved = renumber([evs[0], evs[1], evs[2], evs[4], evs[3], *evs[5:]])
    v = judge("responses.item-lifecycle", transcript(moved))
    assert v.outcome == "failed" and "content_index 0 was not added" in v.actual


def test_item_lifecycle_fails_repeats_gaps_unfinished_and_changed_items() -> None:
    evs = stream_events()
    twice = renumber([*evs[:3], evs[2], *evs[3:]])
    assert "again" in judge("responses.item-lifecycle", transcript(twice)).actual
    gap = edited(lambda e: [ev.update(output_index=1) for ev in e if "output_index" in ev])  # type: ignore[func-returns-value]
    assert "output_index 1" in judge("responses.item-lifecycle", gap).actual
    unfinished = transcript(
        renumber([ev for ev in evs if ev["type"] != "response.output_item.done"])
    )
    v = judge("responses.item-lifecycle", unfinished)
    assert v.outcome == "failed" and "before response.completed" in v.expected
    changed = edited(lambda e: e[-2]["item"].update(id="msg_2"))
    assert "done as" in judge("responses.item-lifecycle", changed).actual


def test_output_fails_a_terminal_output_that_differs_from_the_stream() -> None:
    def drop_word(evs: Events) -> None:
        final(evs)["output"][0]["content"][0]["text"] = " Hello"

    v = judge("responses.output", edited(drop_word))
    assert v.outcome == "failed" and "deltas joined" in v.actual
    empty = edited(lambda e: final(e).update(output=[]))
    v = judge("responses.output", empty)
    assert v.outcome == "failed" and "output holds 0" in v.actual
    calls = stream_events(call=('{"city":', '"Paris"}'))
    final(calls)["output"][0]["arguments"] = "{}"
    assert outcome("responses.output", transcript(calls)) == "failed"


# -- errors and consistency -----------------------------------------------------------------


ERROR_BODY = {"error": {"message": "no", "type": "invalid_request_error", "param": "input",
                        "code": "missing_required_parameter"}}  # fmt: skip


@pytest.mark.parametrize(
    "scenario", ["responses-missing-input", "responses-unknown-model", "responses-invalid-json"]
)
def test_error_rules(scenario: str) -> None:
    good = answer(ERROR_BODY, scenario=scenario, status=400)
    assert outcome("responses.error-status", good) == "passed"
    assert outcome("responses.error-schema", good) == "passed"
    streamed = transcript(scenario=scenario)
    assert outcome("responses.error-status", streamed) == "failed"
    assert outcome("responses.error-schema", streamed) == "skipped"
    detail = answer({"detail": "Not Found"}, scenario=scenario, status=422)
    assert outcome("responses.error-status", detail) == "passed"
    assert outcome("responses.error-schema", detail) == "failed"


def test_the_invalid_json_scenario_sends_invalid_json() -> None:
    with pytest.raises(ValueError):
        json.loads(INVALID_JSON)


def test_consistency_compares_the_answer_with_its_streamed_twin() -> None:
    twin = transcript(stream_events(), scenario="responses-nonstream")
    same = response("completed", final(stream_events())["output"])
    t = answer(same, related={"stream": twin})
    assert outcome("responses.consistency", t) == "passed"
    other = copy.deepcopy(same)
    other["output"][0]["content"][0]["text"] = "Bye"
    assert outcome("responses.consistency", answer(other, related={"stream": twin})) == "failed"
    assert outcome("responses.consistency", answer(same)) == "skipped"


def test_consistency_leaves_a_twin_streamed_out_of_order_to_item_lifecycle() -> None:
    evs = stream_events()
    moved = renumber([evs[0], evs[1], evs[4], evs[2], evs[3], *evs[5:]])
    twin = transcript(moved, scenario="responses-nonstream")
    same = response("completed", final(stream_events())["output"])
    v = judge("responses.consistency", answer(same, related={"stream": twin}))
    assert v.outcome == "skipped" and "responses.item-lifecycle" in v.message


def _tools(call: tuple[str, ...] | None, **change: Any) -> Transcript:
    evs = stream_events(call=call)
    if change and call is not None:
        final(evs)["output"][0].update(change)
    return transcript(evs, scenario="responses-tools")


def test_tool_call_passes_a_call_of_a_declared_tool() -> None:
    assert outcome("responses.tool-call", _tools(('{"city":', '"Paris"}'))) == "passed"
    assert outcome("responses.tool-call", _tools(('{"city":"Paris"}',))) == "passed"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"arguments": '{"city":'}, "do not parse"),
        ({"arguments": '["Paris"]'}, "do not parse"),
        ({"name": "get_time"}, "not one of the request's tools"),
        ({"call_id": ""}, "call_id"),
    ],
)
def test_tool_call_fails_a_broken_call(change: dict[str, Any], expected: str) -> None:
    v = judge("responses.tool-call", _tools(('{"city":', '"Paris"}'), **change))
    assert v.outcome == "failed" and expected in v.actual


def test_tool_call_fails_a_text_answer_to_a_required_tool_choice() -> None:
    v = judge("responses.tool-call", _tools(None))
    assert v.outcome == "failed" and "message" in v.actual
