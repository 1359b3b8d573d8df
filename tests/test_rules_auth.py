from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from builders import stream_transcript
from conftest import ServerFactory

from conformance.capture import Limits, Transcript, from_bytes, make_client
from conformance.capture.transcript import Ending
from conformance.reference.models import MODELS
from conformance.rules import REGISTRY, Verdict
from conformance.rules.auth import OPEN_ENDPOINT
from conformance.scenarios import CATALOG, RecordContext, Target
from conformance.scenarios.sessions import WRONG_KEY_PREFIX, wrong_key

REFUSED = {
    "error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


def judge(t: Transcript) -> Verdict:
    return REGISTRY.get("auth.required").judge(t)


def answer(status: int, body: Any = REFUSED, **kw: Any) -> Transcript:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return from_bytes(raw, status=status, headers={"content-type": "application/json"}, **kw)


def auth(missing: Transcript, wrong: Transcript | None) -> Transcript:
    related = {"wrong-key": wrong} if wrong is not None else None
    return from_bytes(
        missing.body,
        status=missing.status or 0,
        headers=list(missing.headers),
        scenario="auth",
        related=related,
    )


def test_passes_when_both_requests_are_refused() -> None:
    verdict = judge(auth(answer(401), answer(403)))
    assert verdict.outcome == "passed"
    assert verdict.message == "refused without a key (HTTP 401) and with a wrong key (HTTP 403)"


def test_skips_once_when_no_key_is_configured() -> None:
    verdict = judge(stream_transcript(scenario="auth"))
    assert verdict.outcome == "skipped" and verdict.message == OPEN_ENDPOINT
    assert REGISTRY.get("auth.required").scenarios == ("auth",)


def test_fails_when_the_request_without_a_key_is_served() -> None:
    t = stream_transcript(scenario="auth", related={"wrong-key": answer(401)})
    verdict = judge(t)
    assert verdict.outcome == "failed"
    assert verdict.actual == "the request without a key: HTTP 200: served without valid credentials"
    assert verdict.source == "" and verdict.offset == 0


def test_fails_when_a_wrong_key_is_accepted() -> None:
    verdict = judge(auth(answer(401), answer(200, {"choices": []})))
    assert verdict.outcome == "failed" and verdict.source == "wrong-key"
    assert "with a wrong key: HTTP 200" in verdict.actual


def test_fails_on_other_statuses_and_bodies() -> None:
    verdict = judge(auth(answer(404), answer(401)))
    assert verdict.outcome == "failed" and "HTTP 404, not 401 or 403" in verdict.actual
    verdict = judge(auth(answer(401), answer(401, b"Unauthorized")))
    assert verdict.outcome == "failed"
    assert "'Unauthorized': not a JSON error body" in verdict.actual


def test_a_wrong_key_is_never_the_real_one(monkeypatch: pytest.MonkeyPatch) -> None:
    real = "sk-real-key"
    keys = {wrong_key(real) for _ in range(50)}
    assert real not in keys and len(keys) == 50
    assert all(k.startswith(WRONG_KEY_PREFIX) for k in keys)
    monkeypatch.setattr("conformance.scenarios.sessions.secrets.token_hex", lambda n: "ab")
    assert wrong_key(WRONG_KEY_PREFIX + "ab") == WRONG_KEY_PREFIX + "ab0"


def test_a_refusal_sent_with_200_says_so() -> None:
    verdict = judge(auth(answer(200), answer(401)))
    assert verdict.outcome == "failed"
    assert "HTTP 200 with an error body: the refusal was sent with a success status" in (
        verdict.actual
    )


# -- against the reference server ----------------------------------------------------------

KEY = "sk-exo-conformance-test-7f3a9c"


async def _record(url: str, api_key: str | None) -> Transcript:
    limits = Limits(deadline_s=20)
    async with make_client(api_key=api_key, limits=limits) as client:
        ctx = RecordContext(client, Target(url, MODELS[0], api_key), limits)
        return await CATALOG["auth"].record(ctx)


def record(server: ServerFactory, api_key: str | None, *args: str) -> Transcript:
    return asyncio.run(_record(server("--token-delay", "0.005", *args), api_key))


@pytest.mark.slow
def test_a_protected_reference_server_passes(reference_server: ServerFactory) -> None:
    t = record(reference_server, KEY, "--api-key", KEY)
    assert [name for name, _ in t.related] == ["wrong-key"]
    assert judge(t).outcome == "passed"
    assert not any(k.lower() == "authorization" for k, _ in t.request.headers)
    wrong = t.other("wrong-key")
    assert wrong is not None and ("authorization", "Bearer ***") in wrong.request.headers
    everything = json.dumps(t.to_json()) + repr(t) + judge(t).message
    assert KEY not in everything and WRONG_KEY_PREFIX not in everything


@pytest.mark.slow
def test_an_open_reference_server_is_skipped(reference_server: ServerFactory) -> None:
    t = record(reference_server, None)
    # Without a key there is nothing to refuse: the request is not even sent.
    assert t.related == () and t.status is None and t.ending is Ending.NOT_SENT
    verdict = judge(t)
    assert verdict.outcome == "skipped" and verdict.message == OPEN_ENDPOINT


@pytest.mark.slow
def test_refusals_answered_with_200_fail(reference_server: ServerFactory) -> None:
    t = record(reference_server, KEY, "--api-key", KEY, "--fault", "error-as-200-json")
    verdict = judge(t)
    assert verdict.outcome == "failed" and verdict.source == ""
    assert "the refusal was sent with a success status" in verdict.actual
    assert KEY not in json.dumps(t.to_json())
