"""The view reads a chat stream as openai-python's Stream does, and the rules follow it."""

from __future__ import annotations

import json

from builders import chunk, event, stream_body, stream_transcript

from conformance.rules import REGISTRY
from conformance.view import ChatView

ERROR = {"error": {"message": "the worker died", "type": "server_error", "param": None,
                   "code": None}}  # fmt: skip


def outcome(rule_id: str, body: bytes) -> str:
    return REGISTRY.get(rule_id).judge(stream_transcript(body)).outcome


def test_null_extra_fields_are_chunks_not_errors() -> None:
    body = b"".join(
        event(chunk(d, f, error=None, usage=None))
        for d, f in (
            ({"role": "assistant", "content": ""}, None),
            ({"content": "Hi"}, None),
            ({}, "stop"),
        )
    ) + event("[DONE]")
    view = ChatView(stream_transcript(body))
    assert view.errors == ()
    assert len(view.chunks()) == 3
    for rule_id in ("chunk.finish-reason", "chunk.role-first", "chunk.schema"):
        assert outcome(rule_id, body) == "passed", rule_id


def test_a_typed_error_event_is_an_error_event() -> None:
    typed = b"event: error\ndata: " + json.dumps(ERROR).encode() + b"\n\n"
    body = event(chunk({"role": "assistant", "content": ""})) + typed + event("[DONE]")
    view = ChatView(stream_transcript(body))
    assert [e.event.type for e in view.errors] == ["error"]
    assert outcome("error.stream-event", body) == "passed"
    assert outcome("error.stream-event-done", body) == "passed"
    assert outcome("chunk.finish-reason", body) == "skipped"


def test_a_typed_error_without_an_error_field_fails_stream_event() -> None:
    body = (
        event(chunk({"role": "assistant", "content": ""}))
        + b'event: error\ndata: {"message": "boom"}\n\n'
        + event("[DONE]")
    )
    assert outcome("error.stream-event", body) == "failed"


def test_done_is_read_as_a_prefix_as_the_sdk_does() -> None:
    body = stream_body(done=False) + b"data: [DONE] \n\n"
    assert ChatView(stream_transcript(body)).done is not None
    assert outcome("stream.done", body) == "passed"


def test_a_bare_data_field_is_not_a_framing_fault() -> None:
    body = b"data\n" + stream_body()
    assert outcome("sse.fields", body) == "passed"
    assert outcome("sse.fields", b"dta: x\n" + stream_body()) == "failed"


def test_bytes_after_done_are_a_should_events_after_done_a_must() -> None:
    comment = stream_body() + b": bye\n\n"
    assert outcome("stream.after-done", comment) == "passed"
    assert outcome("stream.after-done-bytes", comment) == "failed"
    late = stream_body() + event(chunk({"content": " late"}))
    assert outcome("stream.after-done", late) == "failed"
    assert outcome("stream.after-done-bytes", late) == "skipped"
    assert outcome("stream.after-done", stream_body()) == "passed"
    assert outcome("stream.after-done-bytes", stream_body()) == "passed"


def test_the_view_reads_what_was_asked() -> None:
    t = stream_transcript(request_json={"model": "m", "max_tokens": 7, "n": True,
                                        "stream_options": {"include_usage": True}})  # fmt: skip
    view = ChatView(t)
    assert view.asked("model") == "m"
    assert view.asked_int("max_tokens", 0) == 7
    assert view.asked_int("n", 1) == 1  # true is not an integer
    assert view.asked_usage
    assert not ChatView(stream_transcript()).asked_usage


def test_finishes_are_read_once_per_choice_in_stream_order_and_not_from_errors() -> None:
    two = chunk({}, "length")
    two["choices"].append({"index": 1, "delta": {}, "finish_reason": "stop"})
    body = (
        event(chunk({"role": "assistant", "content": "Hi"}))
        + event({"error": {"message": "x"}, "choices": [{"index": 0, "finish_reason": "stop"}]})
        + event(two)
        + event("[DONE]")
    )
    view = ChatView(stream_transcript(body))
    assert [(f.choice, f.reason) for f in view.finishes] == [(0, "length"), (1, "stop")]
    assert view.finishes[0].event.data == json.dumps(two)
    assert ChatView(stream_transcript(stream_body(done=False))).finishes[0].reason == "stop"
