"""proxy.* rules on hand-made pairs: a proxy's transcript with its upstream's in related."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from builders import SSE_HEADERS, chunk, event, from_bytes, stream_body, stream_transcript

from conformance.capture import Ending, Transcript
from conformance.rules import REGISTRY, Verdict
from conformance.rules.proxy import BUFFER_FLOOR_MS, buffering_bound_ms
from conformance.scenarios.proxy import PROXY_DISCONNECT, UPSTREAM

WORDS = tuple(f" w{i}" for i in range(60))


def paired(proxy: Transcript, upstream: Transcript | None) -> Transcript:
    related = proxy.related + (((UPSTREAM, upstream),) if upstream is not None else ())
    return dataclasses.replace(proxy, related=related)


def judge(rule_id: str, proxy: Transcript, upstream: Transcript | None) -> Verdict:
    return REGISTRY.get(rule_id).judge(paired(proxy, upstream))


def rewritten(body: bytes) -> bytes:
    """The body as a proxy that mints its own ids and timestamps, and re-serialises
    JSON with spaces, sends it."""
    out = []
    for block in body.split(b"\n\n"):
        if not block.startswith(b"data: {"):
            out.append(block)
            continue
        value = json.loads(block[6:])
        value["id"], value["created"] = "chatcmpl-proxy", 1800000000
        out.append(b"data: " + json.dumps(value, indent=None, separators=(", ", ": ")).encode())
    return b"\n\n".join(out)


# -- proxy.events -----------------------------------------------------------------------


def test_events_pass_when_the_proxy_relays_every_event() -> None:
    v = judge("proxy.events", stream_transcript(), stream_transcript())
    assert v.outcome == "passed" and "all 4 upstream events" in v.message


def test_events_pass_with_rewritten_ids_created_and_spacing() -> None:
    body = stream_body()
    assert rewritten(body) != body
    v = judge("proxy.events", stream_transcript(rewritten(body)), stream_transcript(body))
    assert v.outcome == "passed"


def test_events_pass_with_fresh_tool_call_ids() -> None:
    def call(call_id: str) -> bytes:
        fragment = {"index": 0, "id": call_id, "type": "function", "function": {"name": "f"}}
        return event(chunk({"role": "assistant", "tool_calls": [fragment]})) + event("[DONE]")

    v = judge("proxy.events", stream_transcript(call("call_a")), stream_transcript(call("call_b")))
    assert v.outcome == "passed"


def test_events_leave_a_missing_done_to_stream_done() -> None:
    v = judge(
        "proxy.events", stream_transcript(stream_body(done=False)), stream_transcript(stream_body())
    )
    assert v.outcome == "passed"


def test_events_fail_and_name_the_cause_when_nothing_arrives() -> None:
    proxy = stream_transcript(b"", ending=Ending.RESET)
    v = judge("proxy.events", proxy, stream_transcript())
    assert v.outcome == "failed"
    assert "none of them" in v.actual and "async with client.stream()" in v.actual
    assert "generator" in REGISTRY.get("proxy.events").hint


def test_events_fail_when_the_stream_is_cut() -> None:
    body = stream_body(WORDS[:5])
    cut = body[: body.index(b" w2")]
    cut = cut[: cut.rindex(b"\n\n") + 2]
    v = judge("proxy.events", stream_transcript(cut), stream_transcript(body))
    assert v.outcome == "failed" and "only the first 3" in v.actual


def test_events_fail_when_an_event_goes_missing() -> None:
    full = stream_body(WORDS[:3])
    lost = full.replace(event(chunk({"content": " w1"})), b"")
    v = judge("proxy.events", stream_transcript(lost), stream_transcript(full))
    assert v.outcome == "failed" and "never reached the client" in v.actual and " w1" in v.actual


def test_events_fail_when_reordered() -> None:
    full = stream_body(WORDS[:3])
    a, b = event(chunk({"content": " w0"})), event(chunk({"content": " w1"}))
    swapped = full.replace(a + b, b + a)
    v = judge("proxy.events", stream_transcript(swapped), stream_transcript(full))
    assert v.outcome == "failed" and "reordered" in v.actual


def test_events_fail_when_the_proxy_adds_one() -> None:
    full = stream_body(WORDS[:2])
    extra = full.replace(b"data: [DONE]", event(chunk({"content": " ad"})) + b"data: [DONE]")
    v = judge("proxy.events", stream_transcript(extra), stream_transcript(full))
    assert v.outcome == "failed" and "added 1" in v.actual


def test_events_skip_when_the_answers_differ_in_text() -> None:
    v = judge(
        "proxy.events",
        stream_transcript(stream_body((" Hi", " there"))),
        stream_transcript(stream_body((" Hello", " world"))),
    )
    assert v.outcome == "skipped" and "does not answer the same request twice alike" in v.message


def test_events_leave_upstream_failures_to_proxy_errors() -> None:
    failing = stream_body(WORDS[:1]).replace(
        b"data: [DONE]", event({"error": {"message": "boom"}}) + b"data: [DONE]"
    )
    v = judge("proxy.events", stream_transcript(), stream_transcript(failing))
    assert v.outcome == "skipped" and "proxy.errors" in v.message


def test_events_skip_without_an_upstream() -> None:
    v = judge("proxy.events", stream_transcript(), None)
    assert v.outcome == "skipped" and "--exo-upstream" in v.message


# -- proxy.errors -----------------------------------------------------------------------

ERROR_BODY = b'{"error": {"message": "bad", "type": "invalid_request_error"}}'
JSON = {"content-type": "application/json"}
MIDSTREAM = stream_body(WORDS[:2]).replace(
    event(chunk({}, "stop")), event({"error": {"message": "generation failed"}})
)


def test_errors_pass_when_an_error_status_is_relayed() -> None:
    up = from_bytes(ERROR_BODY, status=400, headers=JSON, scenario="error-invalid-json")
    proxy = from_bytes(ERROR_BODY, status=400, headers=JSON, scenario="error-invalid-json")
    assert judge("proxy.errors", proxy, up).outcome == "passed"


def test_errors_fail_when_an_error_status_becomes_a_success() -> None:
    up = from_bytes(ERROR_BODY, status=400, headers=JSON, scenario="error-invalid-json")
    proxy = from_bytes(ERROR_BODY, status=200, headers=JSON, scenario="error-invalid-json")
    v = judge("proxy.errors", proxy, up)
    assert v.outcome == "failed" and "HTTP 400" in v.expected and "HTTP 200" in v.actual


def test_errors_pass_when_an_error_event_is_relayed() -> None:
    v = judge("proxy.errors", stream_transcript(MIDSTREAM), stream_transcript(MIDSTREAM))
    assert v.outcome == "passed"


def test_errors_fail_when_an_error_event_becomes_a_finish() -> None:
    hidden = MIDSTREAM.replace(
        event({"error": {"message": "generation failed"}}), event(chunk({}, "stop"))
    )
    v = judge("proxy.errors", stream_transcript(hidden), stream_transcript(MIDSTREAM))
    assert v.outcome == "failed" and "finish_reason 'stop'" in v.actual


def test_errors_pass_when_the_proxy_breaks_the_connection() -> None:
    proxy = dataclasses.replace(stream_transcript(b""), status=None, ending=Ending.RESET)
    assert judge("proxy.errors", proxy, stream_transcript(MIDSTREAM)).outcome == "passed"


def test_errors_skip_when_the_upstream_did_not_fail() -> None:
    v = judge("proxy.errors", stream_transcript(), stream_transcript())
    assert v.outcome == "skipped" and "no failure" in v.message


# -- proxy.buffering ---------------------------------------------------------------------


def timed(t: Transcript, times_ms: list[float]) -> Transcript:
    """The transcript with its events arriving at the given times (the rest at the last)."""
    last = times_ms[-1]
    events = [
        dataclasses.replace(e, t_ns=int((times_ms[i] if i < len(times_ms) else last) * 1e6))
        for i, e in enumerate(t.events)
    ]
    return dataclasses.replace(t, events=tuple(events))


def long_stream(times_ms: list[float]) -> Transcript:
    t = stream_transcript(stream_body(WORDS), scenario="stream-long")
    return timed(t, times_ms)


EVERY_20_MS = [100.0 + 20 * i for i in range(len(WORDS) + 3)]


def test_buffering_passes_when_events_keep_the_upstream_pace() -> None:
    late = [t + 30 for t in EVERY_20_MS]  # the proxy's own connect and relay time
    v = judge("proxy.buffering", long_stream(late), long_stream(EVERY_20_MS))
    assert v.outcome == "passed" and "bound 500 ms" in v.message


def test_buffering_passes_with_a_jittery_relay() -> None:
    jitter = [t + (15 if i % 3 else 0) for i, t in enumerate(EVERY_20_MS)]
    assert judge("proxy.buffering", long_stream(jitter), long_stream(EVERY_20_MS)).outcome == (
        "passed"
    )


def test_buffering_fails_when_the_proxy_releases_everything_at_the_end() -> None:
    end = EVERY_20_MS[-1] + 10
    v = judge("proxy.buffering", long_stream([end] * 3), long_stream(EVERY_20_MS))
    assert v.outcome == "failed"
    assert "released together" in v.actual and "bound 500 ms" in v.actual


def test_buffering_fails_on_large_blocks() -> None:
    # Two blocks, each holding half of the stream (about 600 ms of it).
    half = len(EVERY_20_MS) // 2
    blocks = [EVERY_20_MS[half] + 5] * half + [EVERY_20_MS[-1] + 5] * 3
    v = judge("proxy.buffering", long_stream(blocks), long_stream(EVERY_20_MS))
    assert v.outcome == "failed"


def test_buffering_fails_on_a_late_first_content() -> None:
    late = [t + 900 for t in EVERY_20_MS]
    v = judge("proxy.buffering", long_stream(late), long_stream(EVERY_20_MS))
    assert v.outcome == "failed" and "first content +900 ms" in v.actual


def test_buffering_skips_a_stream_too_short_to_judge() -> None:
    v = judge("proxy.buffering", stream_transcript(), stream_transcript())
    assert v.outcome == "skipped" and "too short" in v.message


def test_buffering_bound_grows_with_the_upstream_stream() -> None:
    assert buffering_bound_ms(1000) == BUFFER_FLOOR_MS
    assert buffering_bound_ms(10_000) == 2500


# -- proxy.headers -----------------------------------------------------------------------


def without(*names: str) -> dict[str, str]:
    return {k: v for k, v in SSE_HEADERS.items() if k not in names}


def test_headers_pass_when_kept() -> None:
    assert judge("proxy.headers", stream_transcript(), stream_transcript()).outcome == "passed"


def test_headers_pass_when_the_proxy_adds_them() -> None:
    up = stream_transcript(headers=without("x-accel-buffering", "cache-control"))
    assert judge("proxy.headers", stream_transcript(), up).outcome == "passed"


def test_headers_fail_when_the_proxy_strips_them() -> None:
    proxy = stream_transcript(headers=without("x-accel-buffering"))
    v = judge("proxy.headers", proxy, stream_transcript())
    assert v.outcome == "failed" and "X-Accel-Buffering: no" in v.expected


def test_headers_skip_when_neither_sends_them() -> None:
    bare = without("x-accel-buffering")
    v = judge("proxy.headers", stream_transcript(headers=bare), stream_transcript(headers=bare))
    assert v.outcome == "skipped" and "headers.*" in v.message


# -- proxy.disconnect ----------------------------------------------------------------------


def counter(**values: int) -> Transcript:
    reading: dict[str, Any] = {"active": 0, "started": 1, "finished": 0, "cancelled": 0}
    reading.update(values)
    return from_bytes(json.dumps(reading).encode(), headers=JSON, scenario=PROXY_DISCONNECT)


def dropped(*readings: Transcript) -> Transcript:
    t = stream_transcript(stream_body(WORDS[:2]), scenario=PROXY_DISCONNECT)
    related = [(f"generations-{i}", r) for i, r in enumerate(readings)]
    return dataclasses.replace(t, ending=Ending.DROPPED, related=tuple(related))


def test_disconnect_passes_when_the_upstream_generation_is_cancelled() -> None:
    t = dropped(counter(), counter(active=1, started=2), counter(started=2, cancelled=1))
    assert REGISTRY.get("proxy.disconnect").judge(t).outcome == "passed"


def test_disconnect_fails_when_the_upstream_runs_on() -> None:
    t = dropped(counter(), counter(active=1, started=2), counter(started=2, finished=1))
    v = REGISTRY.get("proxy.disconnect").judge(t)
    assert v.outcome == "failed" and "kept generating" in v.actual


def test_disconnect_skips_when_the_upstream_had_already_finished() -> None:
    t = dropped(counter(), counter(started=2, finished=1))
    v = REGISTRY.get("proxy.disconnect").judge(t)
    assert v.outcome == "skipped" and "proxy.buffering" in v.message


def test_disconnect_skips_without_counters() -> None:
    none = from_bytes(b"not found", status=404, headers=JSON, scenario=PROXY_DISCONNECT)
    v = REGISTRY.get("proxy.disconnect").judge(dropped(none))
    assert v.outcome == "skipped" and "no generation counter" in v.message


@pytest.mark.parametrize("rule_id", sorted(r.id for r in REGISTRY if r.group == "proxy"))
def test_every_proxy_rule_has_its_data(rule_id: str) -> None:
    r = REGISTRY.get(rule_id)
    assert r.spec and r.quote and r.breaks and r.hint and r.requirement


def test_a_proxy_failure_shows_both_streams_bytes() -> None:
    from conformance.report.failure import format_failure

    cut = paired(stream_transcript(b"", ending=Ending.RESET), stream_transcript())
    rule = REGISTRY.get("proxy.events")
    text = format_failure(rule, rule.judge(cut), cut)
    assert "bytes 0-0:" in text
    assert "upstream bytes 0-200 (the same request, sent directly):" in text
    assert '"role": "assistant"' in text.split("upstream bytes", 1)[1]


def test_events_pass_with_a_gateway_model_alias() -> None:
    body = stream_body()
    alias = body.replace(b'"model": "m"', b'"model": "gpt-4o", "system_fingerprint": "gw"')
    assert alias != body
    assert judge("proxy.events", stream_transcript(alias), stream_transcript(body)).outcome == (
        "passed"
    )


def test_events_fail_when_the_proxy_changes_an_event_but_not_the_text() -> None:
    body = stream_body()
    changed = body.replace(b'"finish_reason": "stop"', b'"finish_reason": "length"')
    v = judge("proxy.events", stream_transcript(changed), stream_transcript(body))
    assert v.outcome == "failed" and "changed event 4" in v.actual and "length" in v.actual


def test_events_pass_with_per_answer_obfuscation() -> None:
    def padded(pad: str) -> bytes:
        return stream_body().replace(
            b'"model": "m"', f'"model": "m", "obfuscation": "{pad}"'.encode()
        )

    v = judge("proxy.events", stream_transcript(padded("a1")), stream_transcript(padded("zz9k")))
    assert v.outcome == "passed"


def test_events_skip_when_tool_arguments_differ() -> None:
    def call(arguments: str) -> bytes:
        fragment = {"index": 0, "function": {"arguments": arguments}}
        return event(chunk({"role": "assistant", "tool_calls": [fragment]})) + event("[DONE]")

    v = judge(
        "proxy.events", stream_transcript(call('{"a":1}')), stream_transcript(call('{"a":2}'))
    )
    assert v.outcome == "skipped"
