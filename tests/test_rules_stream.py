from __future__ import annotations

import dataclasses

from builders import chunk, event, stream_body, stream_transcript

from conformance.capture import Ending, Transcript
from conformance.rules import REGISTRY, Verdict
from conformance.scenarios.chat import SHORT_TWIN


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


def _timed(
    times_ms: list[float], *, scenario: str = "stream-long", field: str = "content"
) -> Transcript:
    """A stream whose token events arrive at ``times_ms`` (ms after the request)."""
    words = tuple(f" w{i}" for i in range(len(times_ms)))
    body = stream_body(words)
    if field != "content":
        body = body.replace(b'"content": " w', f'"{field}": " w'.encode())
    t = stream_transcript(body, scenario=scenario)
    events = list(t.events)
    # events: role, the token chunks, finish, [DONE]
    for i, ms in enumerate(times_ms, start=1):
        events[i] = dataclasses.replace(events[i], t_ns=int(ms * 1e6))
    last = int(times_ms[-1] * 1e6)
    events[-2] = dataclasses.replace(events[-2], t_ns=last)
    events[-1] = dataclasses.replace(events[-1], t_ns=last)
    return dataclasses.replace(t, events=tuple(events), t_end_ns=last + 1_000_000)


def _with_twin(long_ms: list[float], twin_ms: list[float]) -> Transcript:
    """The long stream with its short twin (same prompt, fewer tokens) in related."""
    twin = _timed(twin_ms, scenario=SHORT_TWIN)
    return dataclasses.replace(_timed(long_ms), related=((SHORT_TWIN, twin),))


def paced(n: int, *, start: float = 100, step: float = 20) -> list[float]:
    return [start + step * i for i in range(n)]


def test_incremental_passes_a_paced_stream() -> None:
    verdict = judge("stream.incremental", _with_twin(paced(60), paced(8)))
    assert verdict.outcome == "passed", verdict
    assert "ms per token" in verdict.message


def test_incremental_passes_after_a_slow_first_token() -> None:
    long = paced(40, start=3000, step=25)
    verdict = judge("stream.incremental", _with_twin(long, paced(8, start=3000, step=25)))
    assert verdict.outcome == "passed", verdict


def test_incremental_passes_reasoning_before_the_content() -> None:
    t = _timed(paced(60), field="reasoning_content")
    twin = _timed(paced(8), scenario=SHORT_TWIN, field="reasoning_content")
    verdict = judge("stream.incremental", dataclasses.replace(t, related=((SHORT_TWIN, twin),)))
    assert verdict.outcome == "passed", verdict


def test_incremental_passes_a_server_that_writes_tokens_in_small_groups() -> None:
    """Three tokens per write (speculative decoding, a batching writer) is not a burst."""
    grouped = [100 + 60 * (i // 3) for i in range(60)]
    verdict = judge("stream.incremental", _with_twin(grouped, paced(8)))
    assert verdict.outcome == "passed", verdict


def test_incremental_fails_a_burst_at_the_end() -> None:
    """Buffered, or headers withheld: the twin's end time still shows the decode rate."""
    long = [1600 + 0.01 * i for i in range(60)]
    verdict = judge("stream.incremental", _with_twin(long, [300 + 0.01 * i for i in range(8)]))
    assert verdict.outcome == "failed", verdict
    assert "held back" in verdict.actual


def test_incremental_fails_four_bursts() -> None:
    bursts = [400.0 * (1 + i // 15) + 0.01 * i for i in range(60)]
    verdict = judge("stream.incremental", _with_twin(bursts, [300 + 0.01 * i for i in range(8)]))
    assert verdict.outcome == "failed", verdict
    assert "15 of 60" in verdict.actual and "bursts" in verdict.actual


def test_incremental_skips_what_it_cannot_tell() -> None:
    fast = judge("stream.incremental", _with_twin(paced(60, step=1), paced(8, step=1)))
    assert fast.outcome == "skipped" and "too fast" in fast.message
    few = judge("stream.incremental", _with_twin([1000, 1200, 1400], paced(2)))
    assert few.outcome == "skipped" and "token events" in few.message
    alone = judge("stream.incremental", _timed(paced(60)))
    assert alone.outcome == "skipped" and "short twin" in alone.message
