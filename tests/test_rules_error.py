from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from builders import chunk, event, from_bytes, stream_body, stream_transcript
from conftest import ServerFactory

from conformance.capture import Ending, Limits, Transcript, make_client
from conformance.reference.models import MODELS
from conformance.rules import REGISTRY, Verdict
from conformance.scenarios import RecordContext, Target, record_all

JSON = {"content-type": "application/json"}
ENVELOPE = {
    "error": {
        "message": "The model `x` does not exist.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
}
ERROR_EVENT = {"error": {"message": "The generation failed.", "type": "server_error",
                         "param": None, "code": "generation_failed"}}  # fmt: skip


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def answer(status: int, body: Any, scenario: str = "error-unknown-model") -> Transcript:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return from_bytes(raw, status=status, headers=JSON, scenario=scenario)


# -- statuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "scenario"),
    [
        ("error.invalid-json", "error-invalid-json"),
        ("error.missing-messages", "error-missing-messages"),
        ("error.unknown-model", "error-unknown-model"),
    ],
)
def test_status_rules_pass_on_4xx_and_fail_otherwise(rule_id: str, scenario: str) -> None:
    assert judge(rule_id, answer(404, ENVELOPE, scenario)).outcome == "passed"
    swallowed = judge(rule_id, answer(200, ENVELOPE, scenario))
    assert swallowed.outcome == "failed"
    assert "HTTP 200" in swallowed.actual and "swallowed" in swallowed.actual
    assert swallowed.expected.startswith("HTTP 4xx")
    server = judge(rule_id, answer(500, {"detail": "Internal Server Error"}, scenario))
    assert server.outcome == "failed" and "server error" in server.actual


def test_a_200_stream_for_an_invalid_request_names_its_error_event() -> None:
    body = event(ERROR_EVENT) + event("[DONE]")
    t = stream_transcript(body, scenario="error-unknown-model")
    verdict = judge("error.unknown-model", t)
    assert verdict.outcome == "failed"
    assert "an event stream of 2 events, an error event at byte 0" in verdict.actual


def test_status_rules_fail_without_a_response() -> None:
    t = from_bytes(b"", status=200, scenario="error-invalid-json", ending=Ending.REFUSED)
    t = _no_status(t)
    verdict = judge("error.invalid-json", t)
    assert verdict.outcome == "failed" and "no response" in verdict.actual


def _no_status(t: Transcript) -> Transcript:
    return dataclasses.replace(t, status=None, ending_detail="cannot connect")


# -- stream-request --------------------------------------------------------------------


def test_stream_request_passes_on_a_json_error() -> None:
    verdict = judge("error.stream-request", answer(400, ENVELOPE, "error-missing-messages"))
    assert verdict.outcome == "passed" and "HTTP 400" in verdict.message


def test_stream_request_fails_on_a_200_stream() -> None:
    t = stream_transcript(scenario="error-missing-messages")
    verdict = judge("error.stream-request", t)
    assert verdict.outcome == "failed"
    assert verdict.actual.startswith("HTTP 200, an event stream of")


def test_stream_request_fails_on_an_error_status_sent_as_a_stream() -> None:
    t = stream_transcript(event(ERROR_EVENT), status=400, scenario="error-unknown-model")
    verdict = judge("error.stream-request", t)
    assert verdict.outcome == "failed" and "sent as text/event-stream" in verdict.actual


def test_stream_request_fails_on_a_plain_text_error() -> None:
    t = from_bytes(b"Bad Request", status=400, headers={"content-type": "text/plain"},
                   scenario="error-unknown-model")  # fmt: skip
    verdict = judge("error.stream-request", t)
    assert verdict.outcome == "failed"
    assert "text/plain body 'Bad Request'" in verdict.actual


def test_stream_request_fails_without_a_response() -> None:
    """It alone judges the invalid stream requests, so no answer is its failure."""
    t = _no_status(answer(400, ENVELOPE, "error-stream-unknown-model"))
    verdict = judge("error.stream-request", t)
    assert verdict.outcome == "failed" and "no response" in verdict.actual


# -- schema ------------------------------------------------------------------------------


def test_schema_passes_on_the_openai_envelope() -> None:
    verdict = judge("error.schema", answer(404, ENVELOPE))
    assert verdict.outcome == "passed" and "'model_not_found'" in verdict.message


def test_schema_names_the_handler_for_a_fastapi_validation_body() -> None:
    detail = {"detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required"}]}
    verdict = judge("error.schema", answer(422, detail, "error-missing-messages"))
    assert verdict.outcome == "failed"
    assert "RequestValidationError" in verdict.actual and "HTTP 422" in verdict.actual
    assert verdict.offset == 0


def test_schema_names_the_handler_for_a_fastapi_http_exception() -> None:
    verdict = judge("error.schema", answer(404, {"detail": "Model not found"}))
    assert verdict.outcome == "failed" and "StarletteHTTPException" in verdict.actual


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"error": "boom"}, '$.error: expected type object, got "boom"'),
        ({"error": {"message": "m"}}, "$.error.type"),
        ([1, 2], "$: expected type object"),
        (b"<html>oops</html>", "not JSON"),
        (b"", "an empty body"),
        (b"\xff\xfe" * 5000, "not JSON"),
    ],
)
def test_schema_fails_on_other_shapes_without_crashing(body: Any, says: str) -> None:
    verdict = judge("error.schema", answer(400, body))
    assert verdict.outcome == "failed"
    assert says in verdict.actual


def test_schema_skips_when_there_is_no_error_answer() -> None:
    verdict = judge("error.schema", answer(200, ENVELOPE, "error-invalid-json"))
    assert verdict.outcome == "skipped" and "see error.invalid-json" in verdict.message


# -- errors inside a stream ------------------------------------------------------------------


def _broken(*tail: bytes, words: tuple[str, ...] = (" Hello",)) -> bytes:
    parts = [event(chunk({"role": "assistant", "content": ""}))]
    parts += [event(chunk({"content": w})) for w in words]
    return b"".join([*parts, *tail])


def test_stream_event_passes_with_no_failure_to_report() -> None:
    verdict = judge("error.stream-event", stream_transcript())
    assert verdict.outcome == "passed"
    assert verdict.message.startswith("no failure to report")
    assert "'stop'" in verdict.message


def test_stream_event_passes_a_finished_stream_without_done_and_points_to_stream_done() -> None:
    verdict = judge("error.stream-event", stream_transcript(stream_body(done=False)))
    assert verdict.outcome == "passed"
    assert verdict.message.endswith("(but no [DONE]: see stream.done)")


def test_stream_event_passes_on_a_well_formed_error_event() -> None:
    body = _broken(event(ERROR_EVENT), event("[DONE]"))
    verdict = judge("error.stream-event", stream_transcript(body))
    assert verdict.outcome == "passed"
    assert "reported its failure at byte" in verdict.message
    assert "see error.schema" not in verdict.message


def test_stream_event_notes_envelope_problems_of_a_readable_event() -> None:
    body = _broken(event({"error": {"message": "out of memory"}}), event("[DONE]"))
    verdict = judge("error.stream-event", stream_transcript(body))
    assert verdict.outcome == "passed" and "see error.schema" in verdict.message


def test_stream_event_fails_on_a_silent_close() -> None:
    body = _broken()
    verdict = judge("error.stream-event", stream_transcript(body))
    assert verdict.outcome == "failed"
    assert "no error event" in verdict.actual
    assert "closed the body after" in verdict.actual
    assert verdict.offset == body.rindex(b"data: ")


def test_stream_event_fails_on_a_reset() -> None:
    t = stream_transcript(_broken(), ending=Ending.RESET)
    verdict = judge("error.stream-event", t)
    assert verdict.outcome == "failed" and "reset" in verdict.actual


def test_stream_event_fails_on_done_without_a_finish_reason() -> None:
    verdict = judge("error.stream-event", stream_transcript(_broken(event("[DONE]"))))
    assert verdict.outcome == "failed"
    assert "came without any finish_reason" in verdict.actual


def test_stream_event_fails_on_an_unreadable_error_event() -> None:
    body = _broken(event({"error": "boom"}), event("[DONE]"))
    verdict = judge("error.stream-event", stream_transcript(body))
    assert verdict.outcome == "failed"
    assert "`error` is str" in verdict.actual
    assert verdict.offset == body.index(b'data: {"error"')


def test_stream_event_skips_when_the_harness_cut_the_stream() -> None:
    t = stream_transcript(_broken(), ending=Ending.DEADLINE)
    assert judge("error.stream-event", t).outcome == "skipped"
    assert judge("error.stream-event", answer(503, ENVELOPE, "stream-basic")).outcome == "skipped"


def test_stream_event_done() -> None:
    good = _broken(event(ERROR_EVENT), event("[DONE]"))
    assert judge("error.stream-event-done", stream_transcript(good)).outcome == "passed"
    cut = _broken(event(ERROR_EVENT))
    verdict = judge("error.stream-event-done", stream_transcript(cut))
    assert verdict.outcome == "failed"
    assert "nothing after the error event" in verdict.actual
    assert verdict.offset == cut.index(b'data: {"error"')


def test_stream_event_done_fails_when_chunks_follow_the_error() -> None:
    body = _broken(event(ERROR_EVENT), event(chunk({"content": " more"})), event("[DONE]"))
    verdict = judge("error.stream-event-done", stream_transcript(body))
    assert verdict.outcome == "failed" and "a [DONE] later" in verdict.actual


def test_stream_event_done_skips_without_an_error_event() -> None:
    verdict = judge("error.stream-event-done", stream_transcript(stream_body()))
    assert verdict.outcome == "skipped"


def test_a_200_answer_without_an_error_says_the_request_was_served() -> None:
    verdict = judge("error.unknown-model", stream_transcript(scenario="error-unknown-model"))
    assert verdict.outcome == "failed"
    assert verdict.actual.endswith("the invalid request was served as if it were valid")


# -- against the reference server ----------------------------------------------------------

ERROR_RULES = {
    "error-invalid-json": ("error.invalid-json", "error.schema"),
    "error-missing-messages": ("error.missing-messages", "error.stream-request", "error.schema"),
    "error-unknown-model": ("error.unknown-model", "error.stream-request", "error.schema"),
    "stream-basic": ("error.stream-event", "error.stream-event-done"),
}


async def _record_all(url: str) -> dict[str, Transcript]:
    limits = Limits(deadline_s=20)
    async with make_client(limits=limits) as client:
        ctx = RecordContext(client, Target(url, MODELS[0]), limits)
        return await record_all(ctx, ERROR_RULES)


def outcomes(server: ServerFactory, *args: str) -> dict[tuple[str, str], Verdict]:
    recorded = asyncio.run(_record_all(server("--token-delay", "0.005", *args)))
    return {
        (rule_id, scenario): judge(rule_id, recorded[scenario])
        for scenario, rule_ids in ERROR_RULES.items()
        for rule_id in rule_ids
    }


@pytest.mark.slow
def test_the_reference_server_passes_every_error_rule(reference_server: ServerFactory) -> None:
    verdicts = outcomes(reference_server)
    skipped = {("error.stream-event-done", "stream-basic")}  # no error event to follow
    assert {k: v.outcome for k, v in verdicts.items()} == {
        k: "skipped" if k in skipped else "passed" for k in verdicts
    }


@pytest.mark.slow
def test_fastapi_detail_errors_fail_error_schema_with_the_handler_to_add(
    reference_server: ServerFactory,
) -> None:
    verdicts = outcomes(reference_server, "--fault", "detail-errors")
    assert verdicts["error.invalid-json", "error-invalid-json"].outcome == "passed"
    for scenario in ("error-invalid-json", "error-missing-messages"):
        verdict = verdicts["error.schema", scenario]
        assert verdict.outcome == "failed" and "RequestValidationError" in verdict.actual
    verdict = verdicts["error.schema", "error-unknown-model"]
    assert verdict.outcome == "failed" and "StarletteHTTPException" in verdict.actual


@pytest.mark.slow
def test_errors_answered_with_200_fail_the_status_rules(reference_server: ServerFactory) -> None:
    verdicts = outcomes(reference_server, "--fault", "error-as-200-json")
    for key in (("error.unknown-model", "error-unknown-model"),
                ("error.stream-request", "error-unknown-model")):  # fmt: skip
        assert verdicts[key].outcome == "failed"
        assert "HTTP 200" in verdicts[key].actual and "swallowed" in verdicts[key].actual
    assert verdicts["error.schema", "error-unknown-model"].outcome == "skipped"


@pytest.mark.slow
def test_a_silent_close_fails_stream_event(reference_server: ServerFactory) -> None:
    verdict = outcomes(reference_server, "--fault", "silent-close")[
        "error.stream-event", "stream-basic"
    ]
    assert verdict.outcome == "failed"
    assert "no error event" in verdict.actual and "closed the body" in verdict.actual


@pytest.mark.slow
def test_an_error_event_without_done_fails_only_stream_event_done(
    reference_server: ServerFactory,
) -> None:
    verdicts = outcomes(reference_server, "--fault", "error-no-done")
    assert verdicts["error.stream-event", "stream-basic"].outcome == "passed"
    assert verdicts["error.stream-event-done", "stream-basic"].outcome == "failed"


@pytest.mark.slow
def test_the_seed_bug_proxy_fails_stream_event(reference_server: ServerFactory) -> None:
    upstream = reference_server("--token-delay", "0.005")
    proxy = reference_server("--proxy-to", upstream, "--fault", "seed-bug")
    t = asyncio.run(_record_all(proxy))["stream-basic"]
    verdict = judge("error.stream-event", t)
    assert verdict.outcome == "failed"
    assert verdict.actual.startswith("0 chunks, no error event: no finish_reason and no [DONE]")
