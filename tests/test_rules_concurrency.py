from __future__ import annotations

import asyncio

import pytest
from builders import chunk, event, stream_transcript
from conftest import ServerFactory

from conformance.capture import Ending, Limits, Transcript, from_bytes, make_client
from conformance.reference.models import MODELS
from conformance.rules import REGISTRY, Verdict
from conformance.rules.concurrency import answer_text
from conformance.scenarios import CATALOG, RecordContext, Target
from conformance.view import ChatView

ANSWERS = (
    (" The", " river", " runs", " north", " past", " seven", " quiet", " stations"),
    (" Bright", " paper", " lamps", " drift", " over", " the", " open", " field"),
    (" Every", " signal", " arrives", " in", " order", " with", " careful", " hands"),
)


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def stream(words: tuple[str, ...], cid: str, *, done: bool = True) -> Transcript:
    parts = [event(chunk({"role": "assistant", "content": ""}, id=cid))]
    parts += [event(chunk({"content": w}, id=cid)) for w in words]
    parts.append(event(chunk({}, "stop", id=cid)))
    if done:
        parts.append(event("[DONE]"))
    return stream_transcript(b"".join(parts), scenario="concurrency-stream")


def recorded(concurrent: list[Transcript]) -> Transcript:
    related = {f"stream-{i}": t for i, t in enumerate(concurrent)}
    related |= {f"alone-{i}": stream(words, f"a{i}") for i, words in enumerate(ANSWERS)}
    related["alone-0-again"] = stream(ANSWERS[0], "a0b")
    return from_bytes(concurrent[0].body, scenario="concurrency", related=related)


def good() -> list[Transcript]:
    return [stream(words, f"chatcmpl-{i}") for i, words in enumerate(ANSWERS)]


def test_answer_text_joins_content_and_reasoning() -> None:
    body = event(chunk({"reasoning_content": "Hmm."})) + event(chunk({"content": " Hi"}))
    assert answer_text(ChatView(stream_transcript(body))) == "Hmm. Hi"


def test_isolation_and_same_answer_pass_on_separate_streams() -> None:
    t = recorded(good())
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "passed"
    assert verdict.message == (
        "3 concurrent streams, well-formed, with distinct ids, none carrying another prompt's text"
    )
    assert judge("concurrency.same-answer", t).outcome == "passed"


def test_isolation_fails_on_a_malformed_stream() -> None:
    streams = good()
    streams[1] = stream(ANSWERS[1], "chatcmpl-1", done=False)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "failed" and verdict.source == "stream-1"
    assert verdict.actual.startswith("stream-1: no [DONE]")
    streams[2] = from_bytes(b'{"error": {"message": "busy"}}', status=429)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert "(2 of 3 streams failed)" in verdict.actual


def test_isolation_skips_when_streams_fail_even_alone() -> None:
    streams = [stream(words, f"c{i}", done=False) for i, words in enumerate(ANSWERS)]
    related = dict(recorded(streams).related)
    related["alone-0"] = stream(ANSWERS[0], "a0", done=False)
    t = from_bytes(streams[0].body, scenario="concurrency", related=related)
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "skipped"
    assert verdict.message.startswith("the streams fail even when sent alone (alone-0: no [DONE]")
    assert judge("concurrency.same-answer", t).outcome == "skipped"


def test_isolation_fails_on_a_shared_id() -> None:
    streams = good()
    streams[2] = stream(ANSWERS[2], "chatcmpl-0")
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "failed" and verdict.source == "stream-2"
    assert verdict.actual == "stream-2 carries id 'chatcmpl-0' at byte 0, already used by stream-0"


def test_isolation_fails_on_mixed_content_and_names_both_streams() -> None:
    streams = good()
    mixed = ANSWERS[0][:3] + ANSWERS[1][3:]  # stream 0 goes on with prompt 1's text
    streams[0] = stream(mixed, "chatcmpl-0")
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "failed" and verdict.source == "stream-0"
    assert "stream-0 leaves prompt 0's answer at character 16" in verdict.actual
    assert "continues with text of alone-1" in verdict.actual
    body = streams[0].body
    assert verdict.offset == body.rindex(b"data: ", 0, body.index(b'" drift"'))


def test_a_plain_difference_is_same_answer_not_isolation() -> None:
    streams = good()
    streams[2] = stream((*ANSWERS[2][:4], " sequence", " with", " steady", " hands"), "c2")
    t = recorded(streams)
    assert judge("concurrency.isolation", t).outcome == "passed"
    verdict = judge("concurrency.same-answer", t)
    assert verdict.outcome == "failed" and verdict.source == "stream-2"
    assert "stream-2 differs from its answer alone at character 25" in verdict.actual


def test_texts_are_not_compared_on_a_nondeterministic_endpoint() -> None:
    streams = good()
    streams[0] = stream(ANSWERS[0][:3] + ANSWERS[1][3:], "chatcmpl-0")
    t = recorded(streams)
    related = dict(t.related)
    related["alone-0-again"] = stream(ANSWERS[2], "x")
    t = from_bytes(t.body, scenario="concurrency", related=related)
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "passed"
    assert "texts not compared: prompt 0 asked alone twice differed at character 1" in (
        verdict.message
    )
    assert judge("concurrency.same-answer", t).outcome == "skipped"


def test_isolation_skips_without_concurrent_streams() -> None:
    t = stream_transcript(scenario="concurrency", ending=Ending.COMPLETE)
    assert judge("concurrency.isolation", t).outcome == "skipped"


# -- against the reference server ----------------------------------------------------------


async def _record(url: str, concurrency: int) -> Transcript:
    limits = Limits(deadline_s=20)
    async with make_client(limits=limits) as client:
        ctx = RecordContext(client, Target(url, MODELS[0]), limits, concurrency)
        return await CATALOG["concurrency"].record(ctx)


def record(server: ServerFactory, *args: str, concurrency: int = 4) -> Transcript:
    return asyncio.run(_record(server("--token-delay", "0.005", *args), concurrency))


@pytest.mark.slow
def test_the_reference_server_keeps_concurrent_streams_apart(
    reference_server: ServerFactory,
) -> None:
    t = record(reference_server)
    assert CATALOG["concurrency"].exclusive and t.scenario == "concurrency"
    assert [name for name, _ in t.related] == [
        *(f"stream-{i}" for i in range(4)),
        *(f"alone-{i}" for i in range(4)),
        "alone-0-again",
    ]
    texts = {answer_text(ChatView(x)) for name, x in t.related if name.startswith("stream-")}
    assert len(texts) == 4  # distinct prompts, distinct answers
    for rule_id in ("concurrency.isolation", "concurrency.same-answer"):
        verdict = judge(rule_id, t)
        assert verdict.outcome == "passed", verdict.actual


@pytest.mark.slow
def test_a_nondeterministic_endpoint_is_judged_on_form_and_ids_only(
    reference_server: ServerFactory,
) -> None:
    t = record(reference_server, "--nondeterministic", concurrency=2)
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "passed" and "texts not compared" in verdict.message
    assert judge("concurrency.same-answer", t).outcome == "skipped"
