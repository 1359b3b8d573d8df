from __future__ import annotations

import asyncio
import json

import pytest
from builders import chunk, event, stream_body, stream_transcript
from conftest import ServerFactory

from conformance.capture import Ending, Limits, Transcript, from_bytes, make_client
from conformance.reference.models import MODELS
from conformance.rules import REGISTRY, Verdict
from conformance.scenarios import CATALOG, RecordContext, Target
from conformance.scenarios.sessions import DROP_AFTER_EVENTS

DROPPED = b"".join(
    event(chunk({"content": w} if w else {"role": "assistant", "content": ""}))
    for w in ("", " Once", " upon")
)


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def counter(active: int, started: int, finished: int, cancelled: int) -> Transcript:
    body = {"active": active, "started": started, "finished": finished, "cancelled": cancelled}
    return from_bytes(
        json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        scenario="disconnect-generations",
        step_ns=2_000_000,
    )


def not_found() -> Transcript:
    return from_bytes(b'{"detail":"Not Found"}', status=404, scenario="disconnect-generations")


def dropped(following: Transcript, *readings: Transcript) -> Transcript:
    related = {f"generations-{i}": r for i, r in enumerate(readings)}
    related["next"] = following
    return stream_transcript(DROPPED, scenario="disconnect", ending=Ending.DROPPED, related=related)


# -- disconnect.recovers ---------------------------------------------------------------------


def test_recovers_passes_and_says_how_long_the_next_request_took() -> None:
    verdict = judge("disconnect.recovers", dropped(stream_transcript(), not_found()))
    assert verdict.outcome == "passed"
    assert verdict.message.startswith("after the drop, the next request was served in ")


def test_recovers_fails_when_the_next_request_times_out() -> None:
    stalled = stream_transcript(b"", ending=Ending.DEADLINE)
    verdict = judge("disconnect.recovers", dropped(stalled))
    assert verdict.outcome == "failed" and verdict.source == "next"
    assert "ended deadline" in verdict.actual


def test_recovers_fails_on_an_error_status_or_a_body_without_an_answer() -> None:
    busy = from_bytes(b'{"error": {"message": "busy"}}', status=503)
    verdict = judge("disconnect.recovers", dropped(busy))
    assert verdict.outcome == "failed" and "HTTP 503" in verdict.actual
    empty = stream_transcript(b"")
    verdict = judge("disconnect.recovers", dropped(empty))
    assert verdict.outcome == "failed" and "no chunk, no [DONE]" in verdict.actual
    only_error = stream_transcript(event({"error": {"message": "busy"}}))
    verdict = judge("disconnect.recovers", dropped(only_error))
    assert verdict.outcome == "failed" and "no chunk and no [DONE] in 1 event" in verdict.actual
    reset = stream_transcript(stream_body(done=False), ending=Ending.RESET)
    verdict = judge("disconnect.recovers", dropped(reset))
    assert verdict.outcome == "failed" and "ended reset" in verdict.actual


def test_recovers_leaves_how_the_answer_ends_to_the_stream_rules() -> None:
    """A served stream without [DONE], or reporting an error then [DONE], is
    stream.done's and error.stream-event's to judge, on every stream."""
    cut = stream_transcript(stream_body(done=False))
    assert judge("disconnect.recovers", dropped(cut)).outcome == "passed"
    failed_then_done = event({"error": {"message": "failed"}}) + event("[DONE]")
    verdict = judge("disconnect.recovers", dropped(stream_transcript(failed_then_done)))
    assert verdict.outcome == "passed"


def test_recovers_accepts_a_complete_non_stream_answer() -> None:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                         "finish_reason": "stop"}]}  # fmt: skip
    answer = from_bytes(json.dumps(body).encode(), headers={"content-type": "application/json"})
    assert judge("disconnect.recovers", dropped(answer)).outcome == "passed"


def test_recovers_skips_when_nothing_was_dropped() -> None:
    whole = stream_transcript(scenario="disconnect", related={"next": stream_transcript()})
    verdict = judge("disconnect.recovers", whole)
    assert verdict.outcome == "skipped" and "not dropped" in verdict.message


# -- disconnect.cancels ---------------------------------------------------------------------


def test_cancels_passes_when_the_counter_shows_the_cancel() -> None:
    t = dropped(stream_transcript(), counter(0, 4, 4, 0), counter(1, 5, 4, 0), counter(0, 5, 4, 1))
    verdict = judge("disconnect.cancels", t)
    assert verdict.outcome == "passed"
    assert "active 0\u21920, cancelled 0\u21921, finished 4\u21924" in verdict.message
    assert "within about 504 ms" in verdict.message  # 2 readings of 2 ms, each after 250 ms


def test_cancels_fails_when_the_generation_runs_on() -> None:
    t = dropped(stream_transcript(), counter(0, 0, 0, 0), counter(1, 1, 0, 0), counter(0, 1, 1, 0))
    verdict = judge("disconnect.cancels", t)
    assert verdict.outcome == "failed" and verdict.source == "generations-2"
    assert verdict.actual.startswith("it ran to its end instead")
    t = dropped(stream_transcript(), counter(0, 0, 0, 0), counter(1, 1, 0, 0))
    verdict = judge("disconnect.cancels", t)
    assert verdict.outcome == "failed" and verdict.actual.startswith("still not cancelled")


def test_cancels_skips_without_a_generation_counter() -> None:
    verdict = judge("disconnect.cancels", dropped(stream_transcript(), not_found()))
    assert verdict.outcome == "skipped"
    assert "exposes no generation counter" in verdict.message and "HTTP 404" in verdict.message


# -- against the reference server ----------------------------------------------------------


async def _record(url: str) -> Transcript:
    limits = Limits(deadline_s=20)
    async with make_client(limits=limits) as client:
        ctx = RecordContext(client, Target(url, MODELS[0]), limits)
        return await CATALOG["disconnect"].record(ctx)


@pytest.mark.slow
def test_the_reference_server_stops_and_recovers(reference_server: ServerFactory) -> None:
    t = asyncio.run(_record(reference_server("--token-delay", "0.005")))
    assert CATALOG["disconnect"].exclusive
    assert t.ending is Ending.DROPPED and len(t.events) == DROP_AFTER_EVENTS
    names = [name for name, _ in t.related]
    assert names[0] == "generations-0" and names[-1] == "next" and len(names) >= 3
    recovered = judge("disconnect.recovers", t)
    assert recovered.outcome == "passed", recovered.actual
    cancelled = judge("disconnect.cancels", t)
    assert cancelled.outcome == "passed", cancelled.actual
    assert "cancelled 0\u21921" in cancelled.message


@pytest.mark.slow
def test_the_reference_proxy_passes_the_drop_on_upstream(reference_server: ServerFactory) -> None:
    upstream = reference_server("--token-delay", "0.005")
    t = asyncio.run(_record(reference_server("--proxy-to", upstream)))
    assert judge("disconnect.recovers", t).outcome == "passed"
    verdict = judge("disconnect.cancels", t)
    assert verdict.outcome == "passed", verdict.actual
