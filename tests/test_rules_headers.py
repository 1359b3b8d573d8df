from __future__ import annotations

import pytest
from builders import SSE_HEADERS, from_bytes, stream_transcript

from conformance.capture import Ending
from conformance.rules import REGISTRY


def check(rule_id: str, **kw: object) -> str:
    return REGISTRY.get(rule_id).judge(stream_transcript(**kw)).outcome  # type: ignore[arg-type]


def with_headers(**changes: str | None) -> dict[str, str]:
    headers = dict(SSE_HEADERS)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


def test_status_passes_on_200_and_fails_otherwise() -> None:
    assert check("headers.status") == "passed"
    verdict = REGISTRY.get("headers.status").judge(stream_transcript(status=502))
    assert verdict.outcome == "failed"
    assert verdict.expected == "HTTP 200" and "502" in verdict.actual


def test_status_fails_when_no_response_arrived() -> None:
    t = from_bytes(b"", status=0, ending=Ending.REFUSED)
    import dataclasses

    t = dataclasses.replace(t, status=None, ending_detail="connection refused")
    verdict = REGISTRY.get("headers.status").judge(t)
    assert verdict.outcome == "failed" and "refused" in verdict.actual


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("text/event-stream", "passed"),
        ("text/event-stream; charset=utf-8", "passed"),
        ("Text/Event-Stream", "passed"),
        ("application/json", "failed"),
        ("text/plain", "failed"),
    ],
)
def test_content_type(value: str, outcome: str) -> None:
    assert check("headers.content-type", headers=with_headers(content_type=value)) == outcome


def test_content_type_missing_fails() -> None:
    assert check("headers.content-type", headers=with_headers(content_type=None)) == "failed"


def test_content_type_duplicate_fails() -> None:
    headers = [*SSE_HEADERS.items(), ("content-type", "text/event-stream")]
    assert check("headers.content-type", headers=headers) == "failed"


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("no-cache", "passed"),
        ("no-store", "passed"),
        ("private, no-cache", "passed"),
        ("max-age=60", "failed"),
        (None, "failed"),
    ],
)
def test_cache_control(value: str | None, outcome: str) -> None:
    assert check("headers.cache-control", headers=with_headers(cache_control=value)) == outcome


@pytest.mark.parametrize(
    ("value", "outcome"), [("no", "passed"), ("No", "passed"), ("yes", "failed"), (None, "failed")]
)
def test_x_accel_buffering(value: str | None, outcome: str) -> None:
    assert (
        check("headers.x-accel-buffering", headers=with_headers(x_accel_buffering=value)) == outcome
    )


@pytest.mark.parametrize(
    ("value", "outcome"),
    [(None, "passed"), ("identity", "passed"), ("gzip", "failed"), ("br", "failed")],
)
def test_content_encoding(value: str | None, outcome: str) -> None:
    assert (
        check("headers.content-encoding", headers=with_headers(content_encoding=value)) == outcome
    )


def test_header_rules_skip_without_a_stream() -> None:
    for rule_id in ("headers.content-type", "headers.cache-control", "headers.x-accel-buffering"):
        verdict = REGISTRY.get(rule_id).judge(stream_transcript(status=404))
        assert verdict.outcome == "skipped" and "404" in verdict.message
