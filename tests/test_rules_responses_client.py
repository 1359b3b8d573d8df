"""client.openai-responses: openai-python's responses.stream() reads recorded Responses
streams replayed from a loopback socket, and the rule names what broke it."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from typing import Any

import pytest
from responses_builders import encode, final, renumber, stream_events, transcript

from conformance.capture import Transcript
from conformance.capture.replay import replay_server
from conformance.rules import REGISTRY
from conformance.rules.registry import Verdict
from conformance.scenarios.responses import request_for
from conformance.scenarios.responses_client import (
    SDK_RESPONSES,
    ResponsesSdkRun,
    run_responses_sdk,
)

pytest.importorskip("openai")

RULE = "client.openai-responses"


async def _sdk(t: Transcript) -> ResponsesSdkRun:
    body = request_for("responses-stream")
    assert body is not None
    async with replay_server(t) as url:
        return await run_responses_sdk(url, body, deadline=30)


def _judged(events: list[dict[str, Any] | str]) -> tuple[ResponsesSdkRun, Verdict]:
    t = transcript(events)
    run = asyncio.run(_sdk(t))
    sdk = dataclasses.replace(t, body=run.to_json(), headers=(("content-type", "x"),))
    return run, REGISTRY.get(RULE).judge(dataclasses.replace(t, related=((SDK_RESPONSES, sdk),)))


def test_a_correct_stream_reads_to_the_same_text_and_final_response() -> None:
    run, verdict = _judged(stream_events())  # type: ignore[arg-type]
    assert run.error_type == "" and run.text == " Hello world"
    assert run.final_text == " Hello world"
    assert verdict.outcome == "passed", verdict


@pytest.mark.parametrize(
    "events",
    [
        [*stream_events(), "[DONE]"],
        [e for ev in stream_events() for e in (": ping", ev)],
        stream_events(reasoning=(" think",)),
        stream_events(status="incomplete"),
    ],
    ids=["done-after-terminal", "keep-alive", "reasoning-first", "incomplete"],
)
def test_valid_variants_pass(events: list[dict[str, Any] | str]) -> None:
    _, verdict = _judged(events)
    assert verdict.outcome == "passed", verdict


def test_a_delta_before_its_item_makes_the_sdk_raise() -> None:
    evs = stream_events()
    run, verdict = _judged(renumber([evs[0], evs[1], evs[4], evs[2], evs[3], *evs[5:]]))  # type: ignore[arg-type]
    assert run.error_type == "RuntimeError"
    assert verdict.outcome == "failed" and "output_index 0 was not added" in verdict.actual


def test_a_stream_not_opened_by_created_makes_the_sdk_raise() -> None:
    run, verdict = _judged(renumber(stream_events()[1:]))  # type: ignore[arg-type]
    assert run.error_type == "RuntimeError" and "response.created" in run.error
    assert verdict.outcome == "failed" and "starts from response.created" in verdict.actual


def test_no_terminal_event_fails_get_final_response() -> None:
    run, verdict = _judged(stream_events()[:-1])  # type: ignore[arg-type]
    assert run.error_type == "" and run.final_error_type == "RuntimeError"
    assert verdict.outcome == "failed" and "no terminal event" in verdict.actual


def test_a_final_output_other_than_the_stream_is_what_the_sdk_returns() -> None:
    evs = copy.deepcopy(stream_events())
    final(evs)["output"][0]["content"][0]["text"] = " Hello"
    run, verdict = _judged(evs)  # type: ignore[arg-type]
    assert run.final_text == " Hello"
    assert verdict.outcome == "failed" and "terminal response's own output" in verdict.actual


def test_the_rule_skips_without_an_sdk_run_and_without_the_sdk() -> None:
    t = transcript()
    assert REGISTRY.get(RULE).judge(t).outcome == "skipped"
    missing = ResponsesSdkRun(installed=False)
    sdk = dataclasses.replace(t, body=missing.to_json())
    verdict = REGISTRY.get(RULE).judge(dataclasses.replace(t, related=((SDK_RESPONSES, sdk),)))
    assert verdict.outcome == "skipped" and "not installed" in verdict.message


def test_the_replay_is_what_the_sdk_reads() -> None:
    body = encode(stream_events())
    assert asyncio.run(_sdk(transcript(body))).events > 0


def test_arguments_that_are_not_json_make_the_sdk_raise_for_a_strict_tool() -> None:
    evs = copy.deepcopy(stream_events(call=('{"city":', '"Par')))
    t = transcript(evs, scenario="responses-tools")
    body = request_for("responses-tools")
    assert body is not None

    async def sdk() -> ResponsesSdkRun:
        async with replay_server(t) as url:
            return await run_responses_sdk(url, body, deadline=30)

    run = asyncio.run(sdk())
    assert "JSONDecodeError" in run.error_type
    judged = dataclasses.replace(
        t, related=((SDK_RESPONSES, dataclasses.replace(t, body=run.to_json())),)
    )
    verdict = REGISTRY.get(RULE).judge(judged)
    assert verdict.outcome == "failed" and "arguments that are not JSON" in verdict.actual
