"""chunk.* rules: each passes a valid stream and fails the stream that breaks it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from builders import from_bytes

from conformance.capture import Transcript
from conformance.rules import REGISTRY, Verdict
from conformance.view import ChatView

SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
CHUNK_RULES = [r.id for r in REGISTRY if r.group == "chunk"]


def chunk(delta: Any = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """An OpenAI-shaped chunk with one choice; ``extra`` overrides top-level fields."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "system_fingerprint": "fp",
        "choices": [{"index": 0, "delta": {} if delta is None else delta, "finish_reason": finish}],
    }
    body.update(extra)
    return body


def usage_chunk(usage: Any = USAGE) -> dict[str, Any]:
    return chunk(choices=[], usage=usage)


def sse(*values: Any, done: bool = True) -> bytes:
    parts = [f"data: {v if isinstance(v, str) else json.dumps(v)}\n\n" for v in values]
    return "".join([*parts, "data: [DONE]\n\n" if done else ""]).encode()


def openai_chunks(usage: bool = False) -> list[dict[str, Any]]:
    """What OpenAI sends for "Hello world": role first, finish last, usage if asked."""
    extra: dict[str, Any] = {"usage": None} if usage else {}
    chunks = [
        chunk({"role": "assistant", "content": ""}, **extra),
        chunk({"content": "Hello"}, **extra),
        chunk({"content": " world"}, **extra),
        chunk({}, "stop", **extra),
    ]
    return [*chunks, usage_chunk()] if usage else chunks


def stream(*values: Any, scenario: str = "stream-basic", **kw: Any) -> Transcript:
    kw.setdefault("headers", SSE)
    return from_bytes(sse(*values), scenario=scenario, **kw)


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def offset_of(t: Transcript, n: int) -> int:
    """Byte offset of the n-th data event."""
    return ChatView(t).data_events()[n].offset


def failure(rule_id: str, t: Transcript, *facts: str) -> Verdict:
    """Judge, assert a failure whose Expected/Actual name every fact, return it."""
    verdict = judge(rule_id, t)
    assert verdict.outcome == "failed", verdict
    text = f"{verdict.expected} | {verdict.actual}"
    for fact in facts:
        assert fact in text, (fact, text)
    return verdict


# -- every rule --------------------------------------------------------------------


def test_the_catalog_ids_are_registered() -> None:
    catalog = {
        "chunk.schema", "chunk.object", "chunk.id-stable", "chunk.created-stable",
        "chunk.model-stable", "chunk.role-first", "chunk.role-once", "chunk.finish-reason",
        "chunk.finish-reason-null", "chunk.usage-requested", "chunk.usage-unrequested",
        "chunk.max-tokens",
    }  # fmt: skip
    assert catalog <= set(CHUNK_RULES)


def passes_or_does_not_apply(rule_id: str, t: Transcript) -> bool:
    """Passed, or skipped because the request did not ask for what the rule judges."""
    verdict = judge(rule_id, t)
    return verdict.outcome == "passed" or (
        verdict.outcome == "skipped" and verdict.message.startswith("the request")
    )


@pytest.mark.parametrize("scenario", ["stream-basic", "stream-long"])
def test_an_openai_stream_passes_every_rule_of_its_scenario(scenario: str) -> None:
    t = stream(*openai_chunks(), scenario=scenario)
    for rule in REGISTRY:
        if rule.group == "chunk" and scenario in rule.scenarios:
            assert passes_or_does_not_apply(rule.id, t), rule.id
    assert judge("chunk.usage-unrequested", t).outcome == "passed"


def test_an_openai_usage_stream_passes_every_rule_of_its_scenario() -> None:
    t = stream(*openai_chunks(usage=True), scenario="stream-usage")
    for rule in REGISTRY:
        if rule.group == "chunk" and "stream-usage" in rule.scenarios:
            assert passes_or_does_not_apply(rule.id, t), rule.id
    assert judge("chunk.usage-requested", t).outcome == "passed"


@pytest.mark.parametrize("rule_id", CHUNK_RULES)
def test_no_stream_is_skipped(rule_id: str) -> None:
    t = stream(*openai_chunks(), status=500, scenario=REGISTRY.get(rule_id).scenarios[0])
    verdict = judge(rule_id, t)
    assert verdict.outcome == "skipped" and "HTTP 500" in verdict.message


@pytest.mark.parametrize("rule_id", CHUNK_RULES)
def test_a_stream_without_chunks_never_passes(rule_id: str) -> None:
    t = stream(scenario=REGISTRY.get(rule_id).scenarios[0])
    verdict = judge(rule_id, t)
    assert verdict.outcome in ("failed", "skipped")
    assert verdict.message


@pytest.mark.parametrize("rule_id", CHUNK_RULES)
def test_a_stream_of_only_an_error_event_is_left_to_the_error_rules(rule_id: str) -> None:
    error = {"error": {"message": "boom", "type": "InternalServerError", "code": 500}}
    verdict = judge(rule_id, stream(error, scenario=REGISTRY.get(rule_id).scenarios[0]))
    assert verdict.outcome == "skipped" and "error.stream-event" in verdict.message


# -- shape --------------------------------------------------------------------------


def test_schema_names_path_expected_type_value_and_offset() -> None:
    chunks = openai_chunks()
    chunks[2]["created"] = "1700000000"
    t = stream(*chunks)
    verdict = failure("chunk.schema", t, "$.created", "type integer", '"1700000000"')
    assert "1 of 4 chunks" in verdict.actual
    assert verdict.offset == offset_of(t, 2)
    assert f"byte {verdict.offset}" in verdict.actual


def test_schema_fails_a_stream_with_no_chunk() -> None:
    t = stream()
    verdict = failure("chunk.schema", t, "at least one chat.completion.chunk", "no chunk")
    assert verdict.offset == 0


def test_schema_accepts_extra_fields_and_usage_details() -> None:
    extra = dict(USAGE, prompt_tokens_details={"cached_tokens": 0, "audio_tokens": 0})
    chunks = [*openai_chunks(), usage_chunk(extra)]
    chunks[1]["choices"][0]["delta"]["reasoning_content"] = "hmm"
    chunks[1]["x_vendor"] = {"anything": True}
    assert judge("chunk.schema", stream(*chunks, scenario="stream-usage")).outcome == "passed"


def test_object() -> None:
    chunks = openai_chunks()
    chunks[1]["object"] = "chat.completion"
    del chunks[3]["object"]
    t = stream(*chunks)
    verdict = failure("chunk.object", t, '"chat.completion.chunk"', '"chat.completion"')
    assert "2 of 4 chunks" in verdict.actual and verdict.offset == offset_of(t, 1)


# -- identity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "field", "other"),
    [
        ("chunk.id-stable", "id", "chatcmpl-2"),
        ("chunk.created-stable", "created", 1700000001),
        ("chunk.model-stable", "model", "m-2"),
    ],
)
def test_stable_fields(rule_id: str, field: str, other: object) -> None:
    assert judge(rule_id, stream(*openai_chunks())).outcome == "passed"
    chunks = openai_chunks()
    chunks[2][field] = other
    t = stream(*chunks)
    verdict = failure(rule_id, t, json.dumps(other), "2 distinct values", "byte 0")
    assert verdict.offset == offset_of(t, 2)


def test_stable_fields_tell_json_types_apart() -> None:
    chunks = openai_chunks()
    chunks[1]["created"] = 1700000000.0
    failure("chunk.created-stable", stream(*chunks), "1700000000.0")


def test_id_stable_fails_a_missing_id() -> None:
    chunks = openai_chunks()
    del chunks[0]["id"]
    t = stream(*chunks)
    verdict = failure("chunk.id-stable", t, "id in every chunk", "no id in the first chunk")
    assert verdict.offset == 0
    chunks = openai_chunks()
    del chunks[3]["id"]
    failure("chunk.id-stable", stream(*chunks), "(missing)")


def test_created_stable_covers_the_usage_chunk() -> None:
    chunks = openai_chunks(usage=True)
    chunks[-1]["created"] = 1700000009
    t = stream(*chunks, scenario="stream-usage")
    assert failure("chunk.created-stable", t, "1700000009").offset == offset_of(t, 4)


# -- roles ---------------------------------------------------------------------------


def test_role_first() -> None:
    chunks = openai_chunks()
    del chunks[0]["choices"][0]["delta"]["role"]
    t = stream(*chunks)
    verdict = failure("chunk.role-first", t, 'role "assistant"', "choice 0", '{"content": ""}')
    assert verdict.offset == 0


def test_role_first_fails_a_wrong_role_and_a_missing_delta() -> None:
    chunks = openai_chunks()
    chunks[0]["choices"][0]["delta"]["role"] = "user"
    failure("chunk.role-first", stream(*chunks), '"role": "user"')
    chunks = openai_chunks()
    del chunks[0]["choices"][0]["delta"]
    failure("chunk.role-first", stream(*chunks), "no delta")


def test_role_first_judges_each_choice() -> None:
    second = {"index": 1, "delta": {"content": "Hi"}, "finish_reason": None}
    chunks = openai_chunks()
    chunks[1]["choices"].append(second)
    t = stream(*chunks, request_json={"n": 2})
    assert failure("chunk.role-first", t, "choice 1").offset == offset_of(t, 1)


def test_role_once() -> None:
    chunks = openai_chunks()
    for c in chunks[1:]:
        c["choices"][0]["delta"]["role"] = "assistant"
    t = stream(*chunks)
    verdict = failure("chunk.role-once", t, "choice 0 repeats", '"assistant"', "3 of 3")
    assert verdict.offset == offset_of(t, 1)


def test_role_once_ignores_a_null_role_and_skips_a_single_delta() -> None:
    chunks = openai_chunks()
    chunks[2]["choices"][0]["delta"]["role"] = None
    assert judge("chunk.role-once", stream(*chunks)).outcome == "passed"
    single = chunk({"role": "assistant", "content": "Hi"}, "stop")
    assert judge("chunk.role-once", stream(single)).outcome == "skipped"


# -- finish reasons ------------------------------------------------------------------


def test_finish_reason_fails_a_choice_that_never_finishes() -> None:
    t = stream(*openai_chunks()[:3])
    verdict = failure("chunk.finish-reason", t, "never finishes", "finish_reason null")
    assert verdict.offset == offset_of(t, 2)


def test_finish_reason_fails_a_value_outside_the_set() -> None:
    chunks = openai_chunks()
    chunks[3]["choices"][0]["finish_reason"] = "error"
    t = stream(*chunks)
    verdict = failure("chunk.finish-reason", t, '"error"', "stop, length, tool_calls")
    assert verdict.offset == offset_of(t, 3)


def test_finish_reason_fails_content_after_the_finish() -> None:
    chunks = openai_chunks()[:3]
    chunks[1]["choices"][0]["finish_reason"] = "stop"
    t = stream(*chunks)
    verdict = failure("chunk.finish-reason", t, 'finished ("stop")', '" world"')
    assert verdict.offset == offset_of(t, 2)
    chunks = [*openai_chunks(), chunk({"content": " late"})]
    t = stream(*chunks)
    verdict = failure("chunk.finish-reason", t, '" late"', f"byte {offset_of(t, 3)}")
    assert verdict.offset == offset_of(t, 4)


def test_finish_reason_fails_a_second_finish() -> None:
    t = stream(*openai_chunks(), chunk({}, "length"))
    verdict = failure("chunk.finish-reason", t, 'another finish_reason "length"')
    assert verdict.offset == offset_of(t, 4)


def test_finish_reason_fails_a_stream_without_choices() -> None:
    t = stream(chunk(choices=[]), chunk(choices=[]))
    assert failure("chunk.finish-reason", t, "no chunk carries a choice").offset == 0


def test_finish_reason_skips_a_stream_that_reports_an_error() -> None:
    error = {"error": {"message": "boom", "type": "InternalServerError", "code": 500}}
    t = stream(*openai_chunks()[:2], error)
    verdict = judge("chunk.finish-reason", t)
    assert verdict.outcome == "skipped" and f"byte {offset_of(t, 2)}" in verdict.message


def test_finish_reason_accepts_tool_calls_in_the_finishing_chunk() -> None:
    call = {
        "id": "c1",
        "index": 0,
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
    t = stream(chunk({"role": "assistant", "tool_calls": [call]}, "tool_calls"))
    assert judge("chunk.finish-reason", t).outcome == "passed"


def test_finish_reason_null() -> None:
    chunks = openai_chunks()
    del chunks[1]["choices"][0]["finish_reason"]
    del chunks[2]["choices"][0]["finish_reason"]
    t = stream(*chunks)
    verdict = failure("chunk.finish-reason-null", t, '"finish_reason": null', "2 of 3")
    assert verdict.offset == offset_of(t, 1)


def test_finish_reason_null_skips_a_single_finishing_chunk() -> None:
    t = stream(chunk({"role": "assistant", "content": "Hi"}, "stop"))
    assert judge("chunk.finish-reason-null", t).outcome == "skipped"


# -- usage ------------------------------------------------------------------------------


def usage_stream(*chunks: dict[str, Any]) -> Transcript:
    return stream(*chunks, scenario="stream-usage")


def test_usage_requested_accepts_absent_usage_on_earlier_chunks() -> None:
    t = usage_stream(*openai_chunks(), usage_chunk())
    assert judge("chunk.usage-requested", t).outcome == "passed"


def test_usage_requested_fails_usage_on_the_finish_chunk() -> None:
    chunks = openai_chunks()
    chunks[3]["usage"] = USAGE
    t = usage_stream(*chunks)
    verdict = failure("chunk.usage-requested", t, "choices: []", "1 choice and usage")
    assert verdict.offset == offset_of(t, 3)


def test_usage_requested_fails_a_missing_usage_chunk() -> None:
    t = usage_stream(*openai_chunks())
    verdict = failure("chunk.usage-requested", t, "1 choice and no usage")
    assert verdict.offset == offset_of(t, 3)


@pytest.mark.parametrize(
    ("usage", "fact"),
    [
        (None, "no usage"),
        ({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 16}, "12 + "),
        ({"prompt_tokens": 12, "completion_tokens": "3", "total_tokens": 15}, '"3"'),
        ({"prompt_tokens": 12, "total_tokens": 15}, "usage.completion_tokens (missing)"),
        ({"prompt_tokens": 12, "completion_tokens": True, "total_tokens": 13}, "true"),
        ([1, 2], "not an object"),
    ],
)
def test_usage_requested_fails_a_bad_usage_object(usage: Any, fact: str) -> None:
    t = usage_stream(*openai_chunks(), usage_chunk(usage))
    assert failure("chunk.usage-requested", t, fact).offset == offset_of(t, 4)


def test_usage_requested_fails_usage_before_the_last_chunk() -> None:
    chunks = openai_chunks(usage=True)
    chunks[1]["usage"] = USAGE
    t = usage_stream(*chunks)
    verdict = failure("chunk.usage-requested", t, "every chunk but the last", "1 chunks")
    assert verdict.offset == offset_of(t, 1)


def test_usage_unrequested() -> None:
    nulls = [dict(c, usage=None) for c in openai_chunks()]
    assert judge("chunk.usage-unrequested", stream(*nulls)).outcome == "passed"
    t = stream(*openai_chunks(), usage_chunk())
    verdict = failure("chunk.usage-unrequested", t, "no usage", '"total_tokens": 15')
    assert verdict.offset == offset_of(t, 4)


# -- max_tokens ---------------------------------------------------------------------


def cut_stream(words: int, finish: str, usage: Any = None, **kw: Any) -> Transcript:
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": f" w{i}"}) for i in range(words)]
    chunks.append(chunk({}, finish))
    if usage is not None:
        chunks.append(usage_chunk(usage))
    return stream(*chunks, scenario="stream-max-tokens", **kw)


def counts(completion: int) -> dict[str, int]:
    return {"prompt_tokens": 20, "completion_tokens": completion, "total_tokens": 20 + completion}


def test_max_tokens_passes_length_within_the_limit() -> None:
    verdict = judge("chunk.max-tokens", cut_stream(5, "length", counts(5)))
    assert verdict.outcome == "passed" and "usage.completion_tokens 5" in verdict.message


def test_max_tokens_fails_another_finish_reason() -> None:
    t = cut_stream(30, "stop", counts(30))
    verdict = failure("chunk.max-tokens", t, '"length"', '"stop"', "completion_tokens 30")
    assert verdict.offset == offset_of(t, 31)


def test_max_tokens_fails_more_tokens_than_asked() -> None:
    t = cut_stream(5, "length", counts(7))
    verdict = failure("chunk.max-tokens", t, "at most 5", "usage.completion_tokens 7")
    assert verdict.offset == offset_of(t, 7)


def test_max_tokens_counts_deltas_without_usage() -> None:
    t = cut_stream(7, "length")
    verdict = failure("chunk.max-tokens", t, "at most 5", "7 non-empty content deltas")
    assert verdict.offset == offset_of(t, 7)
    assert judge("chunk.max-tokens", cut_stream(4, "length")).outcome == "passed"


def test_max_tokens_trusts_usage_over_the_number_of_deltas() -> None:
    """A proxy that re-chunks 5 tokens into 8 deltas keeps the server's own count."""
    t = cut_stream(8, "length", counts(5))
    assert judge("chunk.max-tokens", t).outcome == "passed"
    verdict = failure("chunk.max-tokens", cut_stream(8, "length", counts(6)), "at most 5")
    assert "usage.completion_tokens 6" in verdict.actual


def test_max_tokens_reads_the_limit_from_the_request() -> None:
    t = cut_stream(8, "length", counts(8), request_json={"max_tokens": 8})
    assert judge("chunk.max-tokens", t).outcome == "passed"


def test_max_tokens_skips_a_model_that_stopped_early() -> None:
    verdict = judge("chunk.max-tokens", cut_stream(2, "stop", counts(2)))
    assert verdict.outcome == "skipped" and "after 2 tokens" in verdict.message


def test_max_tokens_fails_without_a_finish_reason() -> None:
    t = stream(chunk({"role": "assistant", "content": "a"}), scenario="stream-max-tokens")
    failure("chunk.max-tokens", t, '"length"', "no finish_reason")


# -- choices and deltas ---------------------------------------------------------------


def test_choice_index() -> None:
    chunks = openai_chunks()
    chunks[2]["choices"][0]["index"] = 1
    t = stream(*chunks)
    verdict = failure("chunk.choice-index", t, "choices[].index 0", "n=1", "index 1")
    assert verdict.offset == offset_of(t, 2)


@pytest.mark.parametrize("index", ["0", None, True, -1])
def test_choice_index_must_be_an_integer(index: Any) -> None:
    chunks = openai_chunks()
    chunks[1]["choices"][0]["index"] = index
    failure("chunk.choice-index", stream(*chunks), f"index {json.dumps(index)}")


def test_choice_index_allows_n_choices_once_each() -> None:
    def two(first: int, second: int) -> dict[str, Any]:
        choices = [
            {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            for i in (first, second)
        ]
        return chunk(choices=choices)

    assert judge("chunk.choice-index", stream(two(0, 1), request_json={"n": 2})).outcome == (
        "passed"
    )
    t = stream(two(0, 0), request_json={"n": 2})
    failure("chunk.choice-index", t, "an integer from 0 to 1", "index 0 twice")


@pytest.mark.parametrize(
    ("delta", "fact"),
    [
        ({"content": [{"type": "text", "text": "Hi"}]}, '[{"type": "text"'),
        ({"content": 7}, "delta.content 7"),
        ("Hi", 'delta "Hi"'),
    ],
)
def test_delta_content_type(delta: Any, fact: str) -> None:
    chunks = openai_chunks()
    chunks[1]["choices"][0]["delta"] = delta
    t = stream(*chunks)
    verdict = failure("chunk.delta-content-type", t, "string or null", fact, "1 of 4")
    assert verdict.offset == offset_of(t, 1)


def test_delta_content_type_fails_a_missing_delta() -> None:
    chunks = openai_chunks()
    del chunks[3]["choices"][0]["delta"]
    t = stream(*chunks)
    assert failure("chunk.delta-content-type", t, "no delta").offset == offset_of(t, 3)


def test_choices_nonempty_fails_a_metadata_chunk_without_choices() -> None:
    filters = chunk(choices=[], prompt_filter_results=[{"prompt_index": 0}])
    t = stream(filters, *openai_chunks())
    verdict = failure("chunk.choices-nonempty", t, "at least one choice", "0 choices")
    assert verdict.offset == 0


def test_choices_nonempty_fails_an_unrequested_usage_chunk() -> None:
    t = stream(*openai_chunks(), usage_chunk())
    assert failure("chunk.choices-nonempty", t, "0 choices").offset == offset_of(t, 4)


def test_choices_nonempty_fails_a_missing_choices_field() -> None:
    chunks = openai_chunks()
    del chunks[1]["choices"]
    failure("chunk.choices-nonempty", stream(*chunks), "choices (missing)")


# -- EXO (docs/exo.md) ------------------------------------------------------------------

EXO_MODEL = "mlx-community/Llama-3.2-1B-Instruct-4bit"
EXO_ID = "0f1d3c1e-6a43-4f55-9a0b-5b8d7c3e2a10"
EXO_USAGE = {
    "prompt_tokens": 14,
    "completion_tokens": 5,
    "total_tokens": 19,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def exo_chunk(delta: dict[str, Any], created: int, **extra: Any) -> dict[str, Any]:
    """A chunk as EXO serialises it: exclude_none, so no null field at all."""
    choice: dict[str, Any] = {"index": 0, "delta": {"role": "assistant", **delta}}
    if "finish_reason" in extra:
        choice["finish_reason"] = extra.pop("finish_reason")
    body = {"id": EXO_ID, "object": "chat.completion", "created": created, "model": EXO_MODEL}
    return {**body, "choices": [choice], **extra}


def exo_body(*chunks: dict[str, Any]) -> bytes:
    """Keep-alive and prefill comments first, stats comment before [DONE]."""
    progress = {"PrefillProgressChunk": {"model": EXO_MODEL, "processed_tokens": 14}}
    stats = {"prompt_tps": 210.5, "generation_tps": 48.1, "prompt_tokens": 14}
    head = f": keep-alive\n\n: prefill_progress {json.dumps(progress)}\n\n".encode()
    data = sse(*chunks, done=False)
    return head + data + f": generation_stats {json.dumps(stats)}\n\ndata: [DONE]\n\n".encode()


def exo_stream(scenario: str, *, reasoning: bool = False) -> Transcript:
    """EXO's stream for five tokens, the second crossing into a new second."""
    field = "reasoning_content" if reasoning else "content"
    texts = ["Once", " upon", " a", " time"]
    chunks = [exo_chunk({field: text}, 1750000000 + (i > 0)) for i, text in enumerate(texts)]
    finish = "length" if scenario == "stream-max-tokens" else "stop"
    last = exo_chunk({field: ""}, 1750000001, finish_reason=finish, usage=EXO_USAGE)
    headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
    return from_bytes(exo_body(*chunks, last), scenario=scenario, headers=headers)


#: What docs/exo.md predicts for a healthy EXO, rule by rule.
EXO_OUTCOMES = {
    "chunk.schema": "skipped",  # object "chat.completion" is chunk.object's alone
    "chunk.object": "failed",
    "chunk.id-stable": "passed",
    "chunk.created-stable": "failed",  # recomputed per chunk
    "chunk.model-stable": "passed",
    "chunk.role-first": "passed",
    "chunk.role-once": "failed",  # role in every delta
    "chunk.finish-reason": "passed",
    "chunk.finish-reason-null": "failed",  # absent, not null
    "chunk.usage-requested": "failed",  # usage rides on the finish chunk
    "chunk.usage-unrequested": "failed",  # usage sent though not asked
    "chunk.max-tokens": "passed",
    "chunk.choice-index": "passed",
    "chunk.delta-content-type": "passed",
    "chunk.choices-nonempty": "passed",
    "chunk.tool-calls": "skipped",  # no tools were offered
}


@pytest.mark.parametrize("scenario", ["stream-basic", "stream-usage", "stream-max-tokens"])
@pytest.mark.parametrize("reasoning", [False, True])
def test_exo_stream_outcomes_match_docs_exo(scenario: str, reasoning: bool) -> None:
    t = exo_stream(scenario, reasoning=reasoning)
    asked = ChatView(t).asked_usage
    expected = {
        **EXO_OUTCOMES,
        "chunk.usage-requested": EXO_OUTCOMES["chunk.usage-requested"] if asked else "skipped",
        "chunk.usage-unrequested": "skipped" if asked else EXO_OUTCOMES["chunk.usage-unrequested"],
    }
    for rule in REGISTRY:
        if rule.group == "chunk" and scenario in rule.scenarios:
            assert judge(rule.id, t).outcome == expected[rule.id], rule.id


def test_exo_deviations_are_reported_precisely() -> None:
    t = exo_stream("stream-usage")
    failure("chunk.object", t, '"chat.completion"', "5 of 5")
    failure("chunk.role-once", t, "4 of 4")
    failure("chunk.finish-reason-null", t, "4 of 4")
    failure("chunk.created-stable", t, "1750000001")
    verdict = failure("chunk.usage-requested", t, "1 choice and usage")
    assert verdict.offset == offset_of(t, 4)


def test_exo_stream_with_its_deviations_fixed_passes_every_rule() -> None:
    """EXO's valid quirks (comments, bare UUID id, no fingerprint, empty final
    content, reasoning deltas, usage details) trip nothing."""
    chunks: list[dict[str, Any]] = []
    texts = [("reasoning_content", "Hmm"), ("content", "Once"), ("content", "")]
    for i, (field, text) in enumerate(texts):
        delta = {field: text} if i else {"role": "assistant", field: text}
        finish = "stop" if i == len(texts) - 1 else None
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        chunks.append({"id": EXO_ID, "object": "chat.completion.chunk", "created": 1750000000,
                       "model": EXO_MODEL, "choices": [choice]})  # fmt: skip
    final = {**chunks[0], "choices": [], "usage": EXO_USAGE}
    t = from_bytes(exo_body(*chunks, final), scenario="stream-usage", headers=SSE)
    for rule in REGISTRY:
        if rule.group == "chunk" and "stream-usage" in rule.scenarios:
            assert passes_or_does_not_apply(rule.id, t), (rule.id, judge(rule.id, t))


def test_exo_tool_call_event_finishes_the_choice() -> None:
    call = {"id": "c1", "index": 0, "type": "function",
            "function": {"id": "c1", "name": "f", "arguments": "{}"}}  # fmt: skip
    last = exo_chunk({"tool_calls": [call]}, 1750000000, finish_reason="tool_calls")
    t = from_bytes(exo_body(last), headers=SSE)
    assert judge("chunk.finish-reason", t).outcome == "passed"
    assert judge("chunk.role-first", t).outcome == "passed"


def test_chunks_after_done_are_left_to_stream_after_done() -> None:
    """Clients stop at [DONE]: a chunk after it (no choices, content after the
    finish, a usage chunk out of place) breaks no chunk rule; stream.after-done
    judges it."""
    late = [chunk({"content": " late"}), chunk(choices=[])]
    for scenario, chunks in (("stream-basic", openai_chunks()),
                             ("stream-max-tokens", openai_chunks(usage=True))):  # fmt: skip
        body = sse(*chunks) + sse(*late, done=False)
        t = from_bytes(body, scenario=scenario, headers=SSE)
        view = ChatView(t)
        assert len(view.chunks()) == len(chunks)
        assert len(view.after_done) == len(late)
        for rule in REGISTRY:
            if rule.group == "chunk" and scenario in rule.scenarios:
                assert judge(rule.id, t).outcome != "failed", (rule.id, judge(rule.id, t))
        assert judge("stream.after-done", t).outcome == "failed"


def test_finish_reason_leaves_an_empty_choice_on_the_usage_chunk_to_the_usage_rule() -> None:
    # LiteLLM's usage chunk keeps an empty choice: one deviation, one rule.
    litellm_usage = chunk({}, usage=USAGE)
    del litellm_usage["choices"][0]["finish_reason"]
    t = usage_stream(*openai_chunks(), litellm_usage)
    assert judge("chunk.finish-reason", t).outcome == "passed"
    failure("chunk.usage-requested", t, "1 choice and usage")


def test_finish_reason_still_fails_text_on_the_usage_chunk() -> None:
    late = chunk({"content": " late"}, usage=USAGE)
    t = usage_stream(*openai_chunks(), late)
    failure("chunk.finish-reason", t, 'finished ("stop")', '" late"')


def test_schema_accepts_a_null_role_in_later_deltas() -> None:
    # mockllm (pydantic models) sends "role": null in every delta after the first.
    chunks = openai_chunks()
    for later in chunks[1:]:
        later["choices"][0]["delta"]["role"] = None
    assert judge("chunk.schema", stream(*chunks)).outcome == "passed"


def test_schema_still_fails_a_role_outside_the_set() -> None:
    chunks = openai_chunks()
    chunks[1]["choices"][0]["delta"]["role"] = "bot"
    failure("chunk.schema", stream(*chunks), "role")


def test_finish_reason_null_leaves_the_usage_chunks_empty_choice_to_the_usage_rule() -> None:
    litellm_usage = chunk({}, usage=USAGE)
    del litellm_usage["choices"][0]["finish_reason"]
    t = usage_stream(*openai_chunks(), litellm_usage)
    assert judge("chunk.finish-reason-null", t).outcome == "passed"
