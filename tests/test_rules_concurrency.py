from __future__ import annotations

import asyncio

import pytest
from builders import chunk, event, stream_transcript
from conftest import ServerFactory

from conformance.capture import Ending, Limits, Transcript, from_bytes, make_client
from conformance.reference.models import MODELS
from conformance.rules import REGISTRY, Verdict
from conformance.rules.concurrency import answer_text
from conformance.scenarios import CATALOG, RecordContext, Target, chat_body
from conformance.scenarios.nonce import REPEATS, nonce_asked, nonce_prompt, sightings
from conformance.scenarios.sessions import isolation_prompt
from conformance.view import ChatView

CODES = ("ACDE-FHJK", "MNPR-TUVW", "XY34-6793")


def answer(i: int) -> tuple[str, ...]:
    """What a model asked for code ``i`` answers: the code, repeated."""
    return tuple(f" {CODES[i]}" for _ in range(REPEATS))


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def stream(words: tuple[str, ...], cid: str, *, code: int = 0, done: bool = True) -> Transcript:
    parts = [event(chunk({"role": "assistant", "content": ""}, id=cid))]
    parts += [event(chunk({"content": w}, id=cid)) for w in words]
    parts.append(event(chunk({}, "stop", id=cid)))
    if done:
        parts.append(event("[DONE]"))
    body = chat_body("m", isolation_prompt(CODES[code]), max_tokens=64)
    return stream_transcript(b"".join(parts), scenario="concurrency-stream", request_json=body)


def recorded(concurrent: list[Transcript], alone: Transcript | None = None) -> Transcript:
    related = {f"stream-{i}": t for i, t in enumerate(concurrent)}
    related["alone-0"] = alone or stream(answer(0), "a0")
    related["alone-0-again"] = stream(answer(0), "a0b")
    return from_bytes(concurrent[0].body, scenario="concurrency", related=related)


def good() -> list[Transcript]:
    return [stream(answer(i), f"chatcmpl-{i}", code=i) for i in range(len(CODES))]


def test_answer_text_joins_content_and_reasoning() -> None:
    body = event(chunk({"reasoning_content": "Hmm."})) + event(chunk({"content": " Hi"}))
    assert answer_text(ChatView(stream_transcript(body))) == "Hmm. Hi"


def test_a_code_is_found_in_the_prompt_and_in_answers_however_written() -> None:
    assert nonce_asked(chat_body("m", nonce_prompt(CODES[1]))) == CODES[1]
    assert nonce_asked(chat_body("m", "no code here")) is None
    text = "Sure: acde fhjk, then MNPRTUVW."
    assert [(s.nonce, s.at) for s in sightings(text, CODES)] == [(CODES[0], 6), (CODES[1], 22)]


def test_isolation_and_same_answer_pass_on_separate_streams() -> None:
    t = recorded(good())
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "passed"
    assert verdict.message == (
        "3 concurrent streams, well-formed, with distinct ids; "
        "none carries another's code (3 of 3 echoed their own)"
    )
    assert judge("concurrency.same-answer", t).outcome == "passed"


def test_a_stream_that_ignores_its_code_proves_nothing_and_fails_nothing() -> None:
    streams = good()
    streams[1] = stream((" I", " cannot", " repeat", " codes."), "chatcmpl-1", code=1)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "passed" and "(2 of 3 echoed their own)" in verdict.message


def test_isolation_fails_on_a_malformed_stream() -> None:
    streams = good()
    streams[1] = stream(answer(1), "chatcmpl-1", code=1, done=False)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "failed" and verdict.source == "stream-1"
    assert verdict.actual.startswith("stream-1: no [DONE]")
    streams[2] = from_bytes(b'{"error": {"message": "boom"}}', status=500)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert "(2 of 3 streams failed)" in verdict.actual
    assert judge("concurrency.same-answer", recorded(streams)).outcome == "skipped"


def test_a_request_refused_with_429_or_503_is_a_proper_answer_not_a_failure() -> None:
    streams = [*good(), stream(answer(0), "chatcmpl-3")]
    streams[3] = from_bytes(b'{"error": {"message": "busy"}}', status=429)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "passed"
    assert verdict.message.endswith("; 1 of 4 refused with 429 or 503 (clients retry those)")
    streams = [from_bytes(b'{"error": {"message": "busy"}}', status=503) for _ in range(3)]
    streams[0] = good()[0]
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "skipped" and "2 of 3 refused" in verdict.message
    # Refused without a JSON error body, it is a broken answer.
    streams = good()
    streams[1] = from_bytes(b"busy", status=503, headers={"content-type": "text/plain"})
    assert judge("concurrency.isolation", recorded(streams)).outcome == "failed"


def test_isolation_fails_on_a_stream_cut_without_its_finish() -> None:
    streams = good()
    cut = b"".join(
        [event(chunk({"role": "assistant", "content": ""}, id="c1"))]
        + [event(chunk({"content": w}, id="c1")) for w in answer(1)[:3]]
        + [event("[DONE]")]
    )
    request = chat_body("m", isolation_prompt(CODES[1]), max_tokens=64)
    streams[1] = stream_transcript(cut, scenario="concurrency-stream", request_json=request)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "failed" and verdict.source == "stream-1"
    assert "without any finish_reason" in verdict.actual


def test_isolation_skips_when_streams_fail_even_alone() -> None:
    streams = [stream(answer(i), f"c{i}", code=i, done=False) for i in range(len(CODES))]
    t = recorded(streams, alone=stream(answer(0), "a0", done=False))
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "skipped"
    assert verdict.message.startswith("the streams fail even when sent alone (alone-0: no [DONE]")
    assert judge("concurrency.same-answer", t).outcome == "skipped"


def test_isolation_fails_on_a_shared_id() -> None:
    streams = good()
    streams[2] = stream(answer(2), "chatcmpl-0", code=2)
    verdict = judge("concurrency.isolation", recorded(streams))
    assert verdict.outcome == "failed" and verdict.source == "stream-2"
    assert verdict.actual == "stream-2 carries id 'chatcmpl-0' at byte 0, already used by stream-0"


def test_isolation_fails_on_another_streams_code_and_names_both_streams() -> None:
    streams = good()
    mixed = answer(0)[:3] + answer(1)[3:]  # stream 0 goes on with stream 1's tokens
    streams[0] = stream(mixed, "chatcmpl-0")
    t = recorded(streams)
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "failed" and verdict.source == "stream-0"
    assert verdict.actual.startswith(f"stream-0 carries stream-1's code {CODES[1]} at character 31")
    body = streams[0].body
    assert verdict.offset == body.rindex(b"data: ", 0, body.index(CODES[1].encode()))
    # The same deviation is isolation's alone.
    assert judge("concurrency.same-answer", t).outcome == "skipped"


def test_a_plain_difference_is_same_answer_not_isolation() -> None:
    streams = good()
    streams[0] = stream((" Here:", *answer(0)), "c0")
    t = recorded(streams)
    assert judge("concurrency.isolation", t).outcome == "passed"
    verdict = judge("concurrency.same-answer", t)
    assert verdict.outcome == "failed" and verdict.source == "stream-0"
    assert "stream-0 differs from its answer alone at character 1" in verdict.actual


def test_texts_are_not_compared_on_a_nondeterministic_endpoint() -> None:
    streams = good()
    streams[0] = stream((" Here:", *answer(0)), "c0")
    t = recorded(streams)
    related = dict(t.related)
    related["alone-0-again"] = stream((" Sure:", *answer(0)), "x")
    t = from_bytes(t.body, scenario="concurrency", related=related)
    assert judge("concurrency.isolation", t).outcome == "passed"
    verdict = judge("concurrency.same-answer", t)
    assert verdict.outcome == "skipped"
    assert (
        verdict.message == "texts not compared: prompt 0 asked alone twice differed at character 1"
    )


def test_a_mix_is_still_caught_on_a_nondeterministic_endpoint() -> None:
    streams = good()
    streams[2] = stream(answer(2)[:2] + answer(0)[2:], "chatcmpl-2", code=2)
    t = recorded(streams)
    related = dict(t.related)
    related["alone-0-again"] = stream((" Sure:", *answer(0)), "x")
    t = from_bytes(t.body, scenario="concurrency", related=related)
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "failed" and verdict.source == "stream-2"


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
    # 4 concurrent streams and prompt 0 alone twice: 6 requests, no twin per stream.
    assert [name for name, _ in t.related] == [
        *(f"stream-{i}" for i in range(4)),
        "alone-0",
        "alone-0-again",
    ]
    views = [ChatView(x) for name, x in t.related if name.startswith("stream-")]
    codes = [nonce_asked(v.request_json) for v in views]
    assert len(set(codes)) == 4 and None not in codes  # a fresh code per stream
    for code, view in zip(codes, views, strict=True):
        assert [s.nonce for s in sightings(answer_text(view), codes)] == [code]
    for rule_id in ("concurrency.isolation", "concurrency.same-answer"):
        verdict = judge(rule_id, t)
        assert verdict.outcome == "passed", verdict.actual


@pytest.mark.slow
def test_the_mixing_fault_is_caught_by_the_codes(reference_server: ServerFactory) -> None:
    t = record(reference_server, "--fault", "mixed-streams")
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "failed", verdict.message
    assert "'s code " in verdict.actual
    assert judge("concurrency.same-answer", t).outcome == "skipped"


@pytest.mark.slow
def test_the_cutting_fault_is_caught_as_incomplete(reference_server: ServerFactory) -> None:
    # Slow tokens (8 of them: 0.8 s a stream) keep the first stream running while
    # the others arrive, however busy the machine is while they are sent.
    t = record(reference_server, "--fault", "cut-on-new-request", "--token-delay", "0.1")
    verdict = judge("concurrency.isolation", t)
    assert verdict.outcome == "failed" and "without any finish_reason" in verdict.actual
