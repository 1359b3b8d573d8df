from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from builders import SSE_HEADERS, chunk, event, from_bytes
from conftest import ServerFactory

from conformance.capture import Limits, Transcript, make_client
from conformance.reference.models import MODELS
from conformance.rules import REGISTRY, Verdict
from conformance.rules.consistency import divergence, escape, joined_content
from conformance.scenarios import CATALOG, RecordContext, Target
from conformance.view import ChatView

CONSISTENCY = (
    "consistency.content",
    "consistency.finish-reason",
    "consistency.usage",
    "consistency.model",
)
WORDS = (" Hello", " wörld", " 👩", "\u200d💻")
TEXT = "".join(WORDS)


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def usage_chunk(tokens: int) -> dict[str, Any]:
    return chunk(
        {},
        choices=[],
        usage={"prompt_tokens": 3, "completion_tokens": tokens, "total_tokens": 3 + tokens},
    )


def stream(
    words: tuple[str, ...] = WORDS,
    *,
    finish: str = "length",
    tokens: int = 4,
    model: str = "m",
    calls: list[list[dict[str, Any]]] | None = None,
) -> bytes:
    parts = [event(chunk({"role": "assistant", "content": ""}, model=model))]
    parts += [event(chunk({"content": w}, model=model)) for w in words]
    parts += [event(chunk({"tool_calls": c}, model=model)) for c in calls or []]
    parts += [event(chunk({}, finish, model=model)), event(usage_chunk(tokens)), event("[DONE]")]
    return b"".join(parts)


def completion(
    text: str | None = TEXT,
    *,
    finish: str = "length",
    tokens: int = 4,
    model: str = "m",
    calls: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> Transcript:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls is not None:
        message["tool_calls"] = calls
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": tokens, "total_tokens": 3 + tokens},
    }
    return from_bytes(
        json.dumps(body).encode(),
        status=status,
        scenario="consistency",
        headers={"content-type": "application/json"},
    )


def twins(
    body: bytes | None = None,
    single: Transcript | None = None,
    repeat: Transcript | None = None,
    *,
    scenario: str = "consistency",
    status: int = 200,
) -> Transcript:
    single = single or completion()
    return from_bytes(
        stream() if body is None else body,
        headers=SSE_HEADERS,
        status=status,
        scenario=scenario,
        related={"nonstream": single, "nonstream-repeat": repeat or single},
    )


# -- content ----------------------------------------------------------------------


def test_content_passes_with_multibyte_text_split_across_deltas() -> None:
    verdict = judge("consistency.content", twins())
    assert verdict.outcome == "passed", verdict.message


def test_content_fails_showing_where_and_how_the_texts_diverge() -> None:
    body = stream((" Hello", " wörld", " 👩", "\ufffd\ufffd💻"))
    verdict = judge("consistency.content", twins(body))
    assert verdict.outcome == "failed"
    assert "diverge at character 14" in verdict.actual
    assert 'stream continues:     "\ufffd\ufffd💻"' in verdict.actual
    assert 'non-stream continues: "\\u200d💻"' in verdict.actual
    assert verdict.offset == body.rindex(b'"content"', 0, body.index(b"\\ufffd"))


def test_content_fails_when_the_non_stream_answer_is_shorter() -> None:
    verdict = judge("consistency.content", twins(single=completion(TEXT[:-2])))
    assert verdict.outcome == "failed"
    assert "non-stream continues: (ends here)" in verdict.actual


def test_content_stops_at_done_as_clients_do() -> None:
    body = stream() + event(chunk({"content": " late"}))
    assert joined_content(ChatView(twins(body))) == TEXT
    verdict = judge("consistency.content", twins(body))
    assert verdict.outcome == "passed", verdict.message


def test_every_rule_skips_with_the_divergence_when_the_endpoint_is_not_deterministic() -> None:
    t = twins(repeat=completion(" Hello there"))
    for rule_id in CONSISTENCY:
        verdict = judge(rule_id, t)
        assert verdict.outcome == "skipped", rule_id
        assert "not deterministic" in verdict.message
        assert "diverge at character 7" in verdict.message
        assert 'repeat continues: "there"' in verdict.message


def test_determinism_covers_usage_and_finish_reason_too() -> None:
    verdict = judge("consistency.content", twins(repeat=completion(tokens=5)))
    assert (
        verdict.outcome == "skipped" and "completion_tokens: first 4, repeat 5" in verdict.message
    )


def test_rules_skip_without_a_usable_non_stream_answer() -> None:
    failing = completion(status=500)
    for rule_id in CONSISTENCY:
        verdict = judge(rule_id, twins(single=failing))
        assert verdict.outcome == "skipped" and "HTTP 500" in verdict.message
    no_twin = from_bytes(stream(), headers=SSE_HEADERS, scenario="consistency")
    assert judge("consistency.content", no_twin).outcome == "skipped"
    verdict = judge("consistency.content", twins(repeat=completion(status=503)))
    assert verdict.outcome == "skipped" and "determinism cannot be confirmed" in verdict.message


def test_rules_skip_when_the_stream_failed() -> None:
    t = twins(b'{"error": {"message": "boom"}}', status=500)
    assert judge("consistency.content", t).outcome == "skipped"


# -- finish_reason, usage, model ----------------------------------------------------


def test_finish_reason() -> None:
    assert judge("consistency.finish-reason", twins()).outcome == "passed"
    body = stream(finish="stop")
    verdict = judge("consistency.finish-reason", twins(body))
    assert verdict.outcome == "failed"
    assert verdict.actual == "stream: 'stop'; non-stream: 'length'"
    finish = body.index(b'"finish_reason": "stop"')
    assert verdict.offset == finish


def test_finish_reason_skips_when_the_stream_has_none() -> None:
    body = stream(finish="length").replace(b'"finish_reason": "length"', b'"finish_reason": null')
    verdict = judge("consistency.finish-reason", twins(body))
    assert verdict.outcome == "skipped" and "chunk.finish-reason" in verdict.message


def test_usage() -> None:
    assert judge("consistency.usage", twins()).outcome == "passed"
    verdict = judge("consistency.usage", twins(stream(tokens=5)))
    assert verdict.outcome == "failed" and verdict.actual == "stream: 5; non-stream: 4"
    no_usage = stream().replace(event(usage_chunk(4)), b"")
    verdict = judge("consistency.usage", twins(no_usage))
    assert verdict.outcome == "skipped" and "chunk.usage-requested" in verdict.message


def test_model() -> None:
    assert judge("consistency.model", twins()).outcome == "passed"
    body = stream(model="exo/llama-3.2-1b")
    verdict = judge("consistency.model", twins(body))
    assert verdict.outcome == "failed"
    assert verdict.actual == "stream: 'exo/llama-3.2-1b'; non-stream: 'm'"
    assert verdict.offset == body.index(b'"model"')


# -- tool calls -----------------------------------------------------------------------


def call(
    name: str = "get_weather", arguments: str = '{"city": "Paris"}', call_id: str = "call_a"
) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def fragments(
    arguments: tuple[str, ...] = ('{"city"', ': "Pa', 'ris"}'), call_id: str = "call_b"
) -> list[list[dict[str, Any]]]:
    first = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    rest = [{"index": 0, "function": {"arguments": a}} for a in arguments]
    return [[first], *([r] for r in rest)]


def tool_twins(
    calls: list[list[dict[str, Any]]], single: list[dict[str, Any]] | None, **kw: Any
) -> Transcript:
    body = stream((), finish="tool_calls", calls=calls)
    answer = completion(None, finish="tool_calls", calls=single)
    return twins(body, answer, scenario="consistency-tools", **kw)


def test_tool_calls_assembled_by_index_match_despite_fresh_ids() -> None:
    verdict = judge("consistency.tool-calls", tool_twins(fragments(), [call()]))
    assert verdict.outcome == "passed", verdict.message
    assert "get_weather" in verdict.message


def test_tool_calls_fail_on_different_arguments_and_show_the_divergence() -> None:
    t = tool_twins(fragments(('{"city"', ': "Lyon"}')), [call()])
    verdict = judge("consistency.tool-calls", t)
    assert verdict.outcome == "failed"
    assert "#0 arguments: the texts diverge at character 10" in verdict.actual
    assert verdict.offset == t.body.index(b'"tool_calls"')


def test_tool_calls_fail_when_only_one_way_calls() -> None:
    verdict = judge("consistency.tool-calls", tool_twins([], [call()]))
    assert verdict.outcome == "failed"
    assert "0 tool calls streamed, 1 in the non-stream answer" in verdict.actual


def test_tool_calls_skip_when_tools_are_unsupported_or_unused() -> None:
    error = b'{"error": {"message": "tools are not supported", "type": "invalid_request_error"}}'
    rejected = twins(error, scenario="consistency-tools", status=400)
    verdict = judge("consistency.tool-calls", rejected)
    assert verdict.outcome == "skipped"
    assert "HTTP 400: tools are not supported" in verdict.message
    verdict = judge("consistency.tool-calls", tool_twins([], None))
    assert verdict.outcome == "skipped" and "no tool call either way" in verdict.message


# -- showing a difference ------------------------------------------------------------


def test_escape_spells_out_invisible_and_combining_characters() -> None:
    assert escape('a"b\\c\nd\u200de\u0301 日本') == '"a\\"b\\\\c\\nd\\u200de\\u0301 日本"'


def test_divergence_shows_thirty_characters_each_side() -> None:
    a = "x" * 50 + "abc" + "y" * 50
    b = "x" * 50 + "abd"
    text = divergence(a, b, ("one", "two"))
    assert text.splitlines() == [
        f"the texts diverge at character 52 (one: 103 characters, two: 53), after "
        f'..."{"x" * 28}ab"',
        f'  one continues: "c{"y" * 29}"...',
        '  two continues: "d"',
    ]


# -- against the reference server -------------------------------------------------------


async def _record(url: str, scenario: str) -> Transcript:
    limits = Limits(deadline_s=20)
    async with make_client(limits=limits) as client:
        ctx = RecordContext(client, Target(url, MODELS[0]), limits)
        return await CATALOG[scenario].record(ctx)


def record(server: ServerFactory, scenario: str, *args: str) -> Transcript:
    url = server("--token-delay", "0.005", *args)
    return asyncio.run(_record(url, scenario))


def verdicts(t: Transcript, rule_ids: tuple[str, ...] = CONSISTENCY) -> dict[str, Verdict]:
    return {rule_id: judge(rule_id, t) for rule_id in rule_ids}


@pytest.mark.slow
def test_the_reference_server_passes_every_consistency_rule(
    reference_server: ServerFactory,
) -> None:
    t = record(reference_server, "consistency")
    assert {k: v.outcome for k, v in verdicts(t).items()} == dict.fromkeys(CONSISTENCY, "passed")
    assert [name for name, _ in t.related] == ["nonstream", "nonstream-repeat"]
    assert any(
        ord(ch) > 0x7F for ch in joined_content(ChatView(t))
    )  # multi-byte text was asked for


@pytest.mark.slow
def test_nonstream_mismatch_fails_content_with_the_divergence_shown(
    reference_server: ServerFactory,
) -> None:
    t = record(reference_server, "consistency", "--fault", "nonstream-mismatch")
    verdict = judge("consistency.content", t)
    assert verdict.outcome == "failed"
    assert "the texts diverge at character" in verdict.actual
    assert "non-stream continues: (ends here)" in verdict.actual


@pytest.mark.slow
def test_a_nondeterministic_endpoint_gets_skips_with_the_reason(
    reference_server: ServerFactory,
) -> None:
    t = record(reference_server, "consistency", "--nondeterministic")
    for verdict in verdicts(t).values():
        assert verdict.outcome == "skipped"
        assert "not deterministic" in verdict.message and "diverge at character" in verdict.message


@pytest.mark.slow
def test_utf8_split_across_one_byte_writes_joins_to_the_same_text(
    reference_server: ServerFactory,
) -> None:
    t = record(reference_server, "consistency", "--fault", "one-byte-writes")
    # Some read starts inside a UTF-8 character: the split really happened.
    assert any(0x80 <= t.body[r.offset] < 0xC0 for r in t.reads if r.offset < len(t.body))
    verdict = judge("consistency.content", t)
    assert verdict.outcome == "passed", verdict.actual


@pytest.mark.slow
def test_tools_pass_on_the_reference_server_which_calls_get_weather(
    reference_server: ServerFactory,
) -> None:
    t = record(reference_server, "consistency-tools")
    verdict = judge("consistency.tool-calls", t)
    assert verdict.outcome == "passed", verdict.actual
    assert verdict.message == '#0 function get_weather({"city":"Paris"})'
