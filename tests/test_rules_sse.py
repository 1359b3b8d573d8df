from __future__ import annotations

from builders import chunk, event, stream_body, stream_transcript

from conformance.rules import REGISTRY, Verdict


def judge(rule_id: str, body: bytes) -> Verdict:
    return REGISTRY.get(rule_id).judge(stream_transcript(body))


def test_valid_stream_passes_every_framing_rule() -> None:
    for rule_id in (
        "sse.utf8",
        "sse.terminated",
        "sse.data-json",
        "sse.fields",
        "sse.event-type",
        "sse.bom",
    ):
        assert judge(rule_id, stream_body()).outcome == "passed", rule_id


def test_valid_variants_pass() -> None:
    body = stream_body((" caf\u00e9", " \U0001f980"))
    variants = [
        body.replace(b"\n", b"\r\n"),
        body.replace(b"\n", b"\r"),
        body.replace(b"data: ", b"data:"),
        b": keep-alive\n\n" + body.replace(b"\n\n", b"\n\n: ping\n\n"),
    ]
    for variant in variants:
        for rule_id in ("sse.utf8", "sse.terminated", "sse.data-json", "sse.fields"):
            assert judge(rule_id, variant).outcome == "passed", (rule_id, variant[:40])


def test_utf8_fails_on_invalid_bytes_with_offset() -> None:
    body = stream_body().replace(b" world", b" w\xffrld")
    verdict = judge("sse.utf8", body)
    assert verdict.outcome == "failed"
    assert verdict.offset == body.index(b"\xff") or verdict.offset is not None
    assert "byte" in verdict.actual


def test_terminated_fails_when_the_last_event_has_no_blank_line() -> None:
    body = stream_body(done=False) + b"data: [DONE]"
    verdict = judge("sse.terminated", body)
    assert verdict.outcome == "failed"
    assert verdict.offset == body.rindex(b"data: [DONE]")
    assert "[DONE]" in verdict.actual


def test_data_json_fails_on_plain_text_and_arrays() -> None:
    for bad in (b"data: not json\n\n", event([1, 2])):
        body = stream_body(done=False) + bad + event("[DONE]")
        verdict = judge("sse.data-json", body)
        assert verdict.outcome == "failed"
        assert verdict.offset == body.index(bad)


def test_fields_flags_unknown_fields_and_lines_without_colon() -> None:
    for bad in (b"foo: bar\n", b"garbage\n"):
        body = bad + stream_body()
        verdict = judge("sse.fields", body)
        assert verdict.outcome == "failed" and verdict.offset == 0


def test_event_type_fails_on_named_events() -> None:
    body = b"event: completion\n" + event(chunk({"role": "assistant"})) + event("[DONE]")
    verdict = judge("sse.event-type", body)
    assert verdict.outcome == "failed" and "completion" in verdict.actual


def test_bom_is_flagged() -> None:
    assert judge("sse.bom", b"\xef\xbb\xbf" + stream_body()).outcome == "failed"
