"""completion.* rules: each passes a valid answer and fails the answer that breaks it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from builders import from_bytes

from conformance.capture import Ending, Transcript
from conformance.rules import REGISTRY, Verdict

JSON = {"content-type": "application/json"}
COMPLETION_RULES = [r.id for r in REGISTRY if r.group == "completion"]


def completion(
    content: str = "Hello world.", finish: str = "stop", completion_tokens: int = 3, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": completion_tokens,
            "total_tokens": 12 + completion_tokens,
        },
    }
    body.update(extra)
    return body


def answer(
    body: Any = None, *, scenario: str = "nonstream-basic", raw: bytes | None = None, **kw: Any
) -> Transcript:
    kw.setdefault("headers", JSON)
    data = raw if raw is not None else json.dumps(completion() if body is None else body).encode()
    return from_bytes(data, scenario=scenario, **kw)


def cut(**kw: Any) -> Transcript:
    """The nonstream-max-tokens answer, cut at five tokens."""
    kw.setdefault("finish", "length")
    kw.setdefault("completion_tokens", 5)
    return answer(completion("Once upon a time,", **kw), scenario="nonstream-max-tokens")


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def failure(rule_id: str, t: Transcript, *facts: str) -> Verdict:
    verdict = judge(rule_id, t)
    assert verdict.outcome == "failed", verdict
    text = f"{verdict.expected} | {verdict.actual}"
    for fact in facts:
        assert fact in text, (fact, text)
    return verdict


@pytest.mark.parametrize("scenario", ["nonstream-basic", "nonstream-max-tokens"])
def test_a_valid_answer_passes_every_rule_of_its_scenario(scenario: str) -> None:
    t = cut() if scenario == "nonstream-max-tokens" else answer()
    for rule in REGISTRY:
        if rule.group == "completion" and scenario in rule.scenarios:
            assert judge(rule.id, t).outcome == "passed", (rule.id, judge(rule.id, t))


def test_exo_answer_passes_every_rule() -> None:
    """docs/exo.md: nulls dropped (no logprobs, refusal or fingerprint), a bare UUID id,
    reasoning_content, usage details, application/json without charset."""
    body = completion("Hi there.", completion_tokens=4, id="0f1d3c1e-6a43-4f55-9a0b-5b8d7c3e2a10")
    choice = body["choices"][0]
    del choice["logprobs"], choice["message"]["refusal"]
    choice["message"]["reasoning_content"] = "The user greets me."
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
    for rule in REGISTRY:
        if rule.group == "completion" and "nonstream-basic" in rule.scenarios:
            verdict = judge(rule.id, answer(body))
            assert verdict.outcome == "passed", (rule.id, verdict)


@pytest.mark.parametrize("rule_id", [r for r in COMPLETION_RULES if r != "completion.status"])
def test_a_non_200_answer_is_left_to_completion_status(rule_id: str) -> None:
    scenario = REGISTRY.get(rule_id).scenarios[0]
    verdict = judge(rule_id, answer({"error": {}}, status=500, scenario=scenario))
    assert verdict.outcome == "skipped" and "completion.status" in verdict.message


def test_status() -> None:
    t = answer({"error": {"message": "boom"}}, status=502)
    verdict = failure("completion.status", t, "HTTP 200", "HTTP 502", "boom")
    assert verdict.offset == 0
    refused = answer(raw=b"", status=None, ending=Ending.REFUSED)
    failure("completion.status", refused, "no response", "refused")


def test_content_type() -> None:
    charset = answer(headers={"content-type": "application/json; charset=utf-8"})
    assert judge("completion.content-type", charset).outcome == "passed"
    t = answer(headers={"content-type": "text/event-stream"})
    failure("completion.content-type", t, "application/json", "text/event-stream")
    failure("completion.content-type", answer(headers={}), "0 Content-Type headers")


def test_schema_names_path_expected_type_and_value() -> None:
    raw = json.dumps(completion(created="1700000000")).encode()
    t = answer(raw=raw)
    verdict = failure("completion.schema", t, "$.created", "type integer", '"1700000000"')
    assert verdict.offset == raw.index(b'"created"')


def test_schema_fails_a_stream_sent_for_a_non_stream_request() -> None:
    raw = b'data: {"id": "chatcmpl-1"}\n\ndata: [DONE]\n\n'
    verdict = failure("completion.schema", answer(raw=raw), "not JSON", "data:")
    assert verdict.offset == 0


def test_schema_fails_a_body_cut_short_after_200() -> None:
    raw = json.dumps(completion()).encode()[:40]
    t = replace(answer(raw=raw, ending=Ending.RESET), ending_detail="connection reset")
    verdict = failure("completion.schema", t, "not JSON", "reset", "40 bytes")
    assert "Unterminated string starting at byte 31" in verdict.actual
    assert verdict.offset == raw.rindex(b'"') == 31


def test_schema_fails_a_null_finish_reason() -> None:
    raw = json.dumps(completion(finish=None)).encode()  # type: ignore[arg-type]
    t = answer(raw=raw)
    verdict = failure("completion.schema", t, "$.choices[0].finish_reason", "null")
    assert verdict.offset == raw.index(b'"finish_reason"')


def test_max_tokens_fails_a_stop_past_the_limit() -> None:
    t = cut(finish="stop", completion_tokens=40)
    verdict = failure("completion.max-tokens", t, '"length"', '"stop"', "completion_tokens 40")
    assert verdict.offset == t.body.index(b'"finish_reason"')


def test_max_tokens_fails_more_tokens_than_asked() -> None:
    t = cut(completion_tokens=9)
    verdict = failure("completion.max-tokens", t, "at most 5", "completion_tokens 9")
    assert verdict.offset == t.body.index(b'"completion_tokens"')


def test_max_tokens_without_usage_judges_the_finish_reason_only() -> None:
    body = completion("Once upon a time,", "length")
    del body["usage"]
    verdict = judge("completion.max-tokens", answer(body, scenario="nonstream-max-tokens"))
    assert verdict.outcome == "passed" and "no usage" in verdict.message


def test_max_tokens_skips_a_model_that_stopped_early() -> None:
    verdict = judge("completion.max-tokens", cut(finish="stop", completion_tokens=2))
    assert verdict.outcome == "skipped" and "after 2 tokens" in verdict.message


def test_max_tokens_fails_an_answer_without_choices() -> None:
    t = answer(completion(choices=[]), scenario="nonstream-max-tokens")
    failure("completion.max-tokens", t, '"length"', "choices []")


@pytest.mark.parametrize(
    ("usage", "fact", "key"),
    [
        (None, "no usage", b'"usage"'),
        ({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 4}, "1 + ", b'"total'),
        ({"prompt_tokens": 1, "completion_tokens": 2.0, "total_tokens": 3}, "2.0", b'"compl'),
    ],
)
def test_usage(usage: Any, fact: str, key: bytes) -> None:
    raw = json.dumps(completion(usage=usage)).encode()
    verdict = failure("completion.usage", answer(raw=raw), "total = prompt + completion", fact)
    assert verdict.offset == raw.index(key)
