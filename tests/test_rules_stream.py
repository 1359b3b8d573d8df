from __future__ import annotations

import dataclasses

from builders import chunk, event, stream_body, stream_transcript

from conformance.capture import Ending, Transcript
from conformance.rules import REGISTRY, Verdict


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def test_done_passes_and_fails_with_the_last_event_shown() -> None:
    assert judge("stream.done", stream_transcript()).outcome == "passed"
    body = stream_body(done=False)
    verdict = judge("stream.done", stream_transcript(body))
    assert verdict.outcome == "failed"
    assert verdict.expected == "data: [DONE] as the last event"
    assert "finish_reason" in verdict.actual
    assert verdict.offset == body.rindex(b"data: ")


def test_done_fails_on_an_empty_body() -> None:
    verdict = judge("stream.done", stream_transcript(b""))
    assert verdict.outcome == "failed" and "no events" in verdict.actual


def test_after_done() -> None:
    assert judge("stream.after-done", stream_transcript()).outcome == "passed"
    body = stream_body() + event(chunk({"content": " late"}))
    verdict = judge("stream.after-done", stream_transcript(body))
    assert verdict.outcome == "failed" and "late" in verdict.actual
    assert (
        judge("stream.after-done", stream_transcript(stream_body(done=False))).outcome == "skipped"
    )


def test_closes_times_the_close_from_done() -> None:
    t = stream_transcript()
    assert judge("stream.closes", t).outcome == "passed"
    late = dataclasses.replace(t, t_end_ns=t.events[-1].t_ns + 3_000_000_000)
    verdict = judge("stream.closes", late)
    assert verdict.outcome == "failed" and "3000 ms" in verdict.actual
    cut = dataclasses.replace(t, ending=Ending.DEADLINE, ending_detail="deadline")
    assert judge("stream.closes", cut).outcome == "failed"


def _timed(times_ms: list[float]) -> Transcript:
    words = tuple(f" w{i}" for i in range(len(times_ms)))
    t = stream_transcript(stream_body(words), scenario="stream-long")
    events = list(t.events)
    # events: role, the content chunks, finish, [DONE]
    for i, ms in enumerate(times_ms, start=1):
        events[i] = dataclasses.replace(events[i], t_ns=int(ms * 1e6))
    last = int(times_ms[-1] * 1e6)
    events[-2] = dataclasses.replace(events[-2], t_ns=last)
    events[-1] = dataclasses.replace(events[-1], t_ns=last)
    return dataclasses.replace(t, events=tuple(events), t_end_ns=last + 1_000_000)


def test_incremental_passes_a_paced_stream() -> None:
    verdict = judge("stream.incremental", _timed([100 + 20 * i for i in range(60)]))
    assert verdict.outcome == "passed", verdict


def test_incremental_passes_after_a_slow_first_token() -> None:
    verdict = judge("stream.incremental", _timed([3000 + 25 * i for i in range(40)]))
    assert verdict.outcome == "passed", verdict


def test_incremental_fails_a_burst_at_the_end() -> None:
    verdict = judge("stream.incremental", _timed([1600 + 0.01 * i for i in range(60)]))
    assert verdict.outcome == "failed"
    assert "60 of 60" in verdict.actual


def test_incremental_skips_short_generations() -> None:
    verdict = judge("stream.incremental", _timed([1 + i for i in range(60)]))
    assert verdict.outcome == "skipped" and "1 s" in verdict.message
    verdict = judge("stream.incremental", _timed([1000, 1200, 1400]))
    assert verdict.outcome == "skipped" and "content events" in verdict.message
