from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest
from builders import SSE_HEADERS, chunk, event, from_bytes, stream_body, stream_transcript
from conftest import ServerFactory
from wire import SSE_HEADERS as WIRE_SSE_HEADERS
from wire import Conn, WireServer, respond_handler

from conformance.capture import Limits, Transcript, make_client
from conformance.capture import record as record_exchange
from conformance.capture.replay import replay_server
from conformance.reference.models import MODELS
from conformance.rules import REGISTRY, Verdict
from conformance.rules.consistency import joined_content
from conformance.scenarios import CATALOG, RecordContext, Target, chat_body
from conformance.scenarios.client import SdkRun, run_openai_sdk
from conformance.view import ChatView

RULE = "client.openai-sdk"
TEXT = " Hello world"


def judge(t: Transcript) -> Verdict:
    return REGISTRY.get(RULE).judge(t)


def with_sdk(run: SdkRun, body: bytes | None = None, *, status: int = 200) -> Transcript:
    sdk = from_bytes(
        run.to_json(), headers={"content-type": "application/json"}, scenario="client-openai"
    )
    return from_bytes(
        stream_body() if body is None else body,
        headers=SSE_HEADERS,
        status=status,
        scenario="client-openai",
        related={"openai-sdk": sdk},
    )


def ok(text: str = TEXT, *, error_type: str = "", error: str = "") -> SdkRun:
    return SdkRun(True, "1.99.0", text, 4, error_type, error, False, 5.0)


def test_passes_when_the_sdk_reads_the_same_text() -> None:
    verdict = judge(with_sdk(ok()))
    assert verdict.outcome == "passed" and "the same 12 characters" in verdict.message


def test_skips_with_the_install_hint_when_the_sdk_is_missing() -> None:
    verdict = judge(with_sdk(SdkRun(installed=False)))
    assert verdict.outcome == "skipped"
    assert "pip install 'exo-conformance[clients]'" in verdict.message


def test_skips_without_a_stream_or_an_sdk_run() -> None:
    assert judge(with_sdk(ok(), b"{}", status=503)).outcome == "skipped"
    lone = from_bytes(stream_body(), headers=SSE_HEADERS, scenario="client-openai")
    assert judge(lone).outcome == "skipped"


def test_an_error_event_is_named_as_what_makes_the_sdk_raise() -> None:
    error = event({"error": {"message": "out of memory", "type": "server_error"}})
    body = event(chunk({"role": "assistant", "content": " Hello"})) + error + event("[DONE]")
    run = ok(" Hello", error_type="openai.APIError", error="out of memory")
    verdict = judge(with_sdk(run, body))
    assert verdict.outcome == "failed"
    assert verdict.expected == "the SDK streams to the end without an exception"
    assert "raised openai.APIError: out of memory" in verdict.actual
    assert "carries an `error` key" in verdict.actual
    assert verdict.offset == body.index(b'data: {"error"')


def test_non_json_data_is_named() -> None:
    body = event(chunk({"role": "assistant", "content": TEXT})) + b"data: not json\n\n"
    run = ok(TEXT, error_type="json.decoder.JSONDecodeError", error="Expecting value")
    verdict = judge(with_sdk(run, body + event("[DONE]")))
    assert verdict.outcome == "failed"
    assert "byte" in verdict.actual and "is not a JSON object ('not json')" in verdict.actual
    assert verdict.offset == len(body) - len(b"data: not json\n\n")


def test_an_event_without_data_is_named() -> None:
    body = stream_body().replace(b"data: [DONE]", b"event: ping\n\ndata: [DONE]")
    run = ok(TEXT, error_type="json.decoder.JSONDecodeError", error="Expecting value")
    verdict = judge(with_sdk(run, body))
    assert verdict.outcome == "failed" and "has no data line" in verdict.actual
    assert verdict.offset == body.index(b"event: ping")


def test_a_leading_bom_explains_lost_text() -> None:
    body = b"\xef\xbb\xbf" + event(chunk({"role": "assistant", "content": " Hi"})) + stream_body()
    verdict = judge(with_sdk(ok(TEXT), body))
    assert verdict.outcome == "failed"
    assert verdict.expected == "the SDK yields the same text as the joined deltas"
    assert "diverge at character 2" in verdict.actual and "UTF-8 BOM" in verdict.actual
    assert verdict.offset == 0


def test_a_text_difference_without_a_cause_says_the_requests_were_separate() -> None:
    verdict = judge(with_sdk(ok(" Hello there")))
    assert verdict.outcome == "failed" and "second request" in verdict.actual


def test_data_after_done_is_left_to_stream_after_done() -> None:
    # The SDK stops at [DONE]; so do the joined deltas it is compared with.
    body = stream_body() + event(chunk({"content": " late"}))
    verdict = judge(with_sdk(ok(), body))
    assert verdict.outcome == "passed", verdict


def test_data_after_done_is_named_when_it_explains_a_difference() -> None:
    late = event(chunk({"content": " late"}))
    body = stream_body() + late
    verdict = judge(with_sdk(ok(TEXT + " late"), body))
    assert verdict.outcome == "failed"
    assert "1 data event follows data: [DONE]" in verdict.actual
    assert "second request" not in verdict.actual
    assert verdict.offset == len(body) - len(late)


def test_a_missing_done_fails_even_when_the_sdk_got_the_text() -> None:
    body = stream_body(done=False)
    verdict = judge(with_sdk(ok(), body))
    assert verdict.outcome == "failed"
    assert verdict.expected == "the SDK's stream ends at data: [DONE]"
    assert "no data: [DONE]" in verdict.actual and "hangs" in verdict.actual
    assert verdict.offset == body.rindex(b"data: ")


def test_a_timeout_says_the_sdk_hangs_without_done() -> None:
    run = SdkRun(True, "1.99.0", TEXT, 4, "TimeoutError", "", True, 5.0)
    verdict = judge(with_sdk(run, stream_body(done=False)))
    assert verdict.outcome == "failed"
    assert "still reading after 5 s" in verdict.actual and "it hangs" in verdict.actual


# -- running the SDK ---------------------------------------------------------------


def _ctx(
    url: str, client: httpx.AsyncClient, *, key: str | None = None, deadline: float = 5.0
) -> RecordContext:
    return RecordContext(client, Target(url, "m", api_key=key), Limits(deadline_s=deadline))


@pytest.mark.asyncio
async def test_the_sdk_run_never_shows_the_api_key() -> None:
    key = "sk-secret-123"
    error = event({"error": {"message": f"bad key {key}", "type": "auth"}})
    handler = respond_handler(200, WIRE_SSE_HEADERS, error + event("[DONE]"))
    async with WireServer(handler) as server:
        run = await run_openai_sdk(server.url, chat_body("m"), deadline=5, secrets=(key,))
    assert run.error_type == "openai.APIError"
    assert key not in run.error and "bad key ***" in run.error


async def endless(conn: Conn) -> None:
    """Valid chunks, never a [DONE], never an end."""
    await conn.send_head(200, WIRE_SSE_HEADERS, chunked=True)
    while True:
        await conn.send_chunk(event(chunk({"content": " x"})))
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_the_sdk_run_stops_at_the_deadline() -> None:
    async with WireServer(endless) as server:
        run = await run_openai_sdk(server.url, chat_body("m"), deadline=0.5)
    assert run.timed_out and run.error_type == "TimeoutError"
    assert run.chunks > 3 and run.text.startswith(" x x x")


@pytest.mark.asyncio
async def test_the_sdk_run_says_when_the_sdk_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    run = await run_openai_sdk("http://127.0.0.1:9", chat_body("m"), deadline=5)
    assert run == SdkRun(installed=False)


# -- against the reference server ---------------------------------------------------


async def _record(url: str) -> Transcript:
    limits = Limits(deadline_s=20)
    async with make_client(limits=limits) as client:
        ctx = RecordContext(client, Target(url, MODELS[0]), limits)
        return await CATALOG["client-openai"].record(ctx)


def record(server: ServerFactory, *args: str) -> Transcript:
    return asyncio.run(_record(server("--token-delay", "0.005", *args)))


@pytest.mark.slow
def test_the_sdk_reads_the_reference_server(reference_server: ServerFactory) -> None:
    verdict = judge(record(reference_server))
    assert verdict.outcome == "passed", verdict.actual


@pytest.mark.slow
def test_the_sdk_reads_the_recorded_exchange_not_a_second_one(
    reference_server: ServerFactory,
) -> None:
    """Every answer of a nondeterministic server differs, yet the SDK's text is the
    recorded one: it read the replay of that very exchange."""
    t = record(reference_server, "--nondeterministic")
    assert judge(t).outcome == "passed"
    sdk = SdkRun.from_json(json.loads(t.other("openai-sdk").body))  # type: ignore[union-attr]
    assert sdk is not None and sdk.text and sdk.text == joined_content(ChatView(t))


@pytest.mark.asyncio
async def test_the_replay_serves_the_recorded_bytes_read_by_read() -> None:
    original = stream_transcript(stream_body())
    async with replay_server(original) as url, make_client() as client:
        again = await record_exchange(
            client, "POST", url + "/v1/chat/completions", scenario="x", target=url,
            json={"stream": True},
        )  # fmt: skip
    assert again.status == 200 and again.body == original.body
    assert len(again.events) == len(original.events)
    assert again.header("content-type") == original.header("content-type")


@pytest.mark.slow
def test_the_sdk_rule_fails_without_done(reference_server: ServerFactory) -> None:
    verdict = judge(record(reference_server, "--fault", "no-done"))
    assert verdict.outcome == "failed"
    assert "no data: [DONE]" in verdict.actual


@pytest.mark.slow
def test_the_sdk_rule_fails_on_non_json_data(reference_server: ServerFactory) -> None:
    verdict = judge(record(reference_server, "--fault", "non-json-data"))
    assert verdict.outcome == "failed"
    assert "JSONDecodeError" in verdict.actual and "not a JSON object" in verdict.actual


def test_a_stream_over_the_harness_caps_is_not_given_to_the_sdk() -> None:
    import dataclasses

    from conformance.capture import Diagnostic, Ending
    from conformance.scenarios.client import _over_caps

    fine = from_bytes(stream_body(), headers=SSE_HEADERS)
    assert _over_caps(fine) == ""
    capped = dataclasses.replace(fine, ending=Ending.SIZE_CAP, truncated=True)
    assert "caps" in _over_caps(capped)
    long_line = dataclasses.replace(
        fine, diagnostics=(Diagnostic("line-too-long", "a line over 1 MiB", 10, 1),)
    )
    assert "byte 10" in _over_caps(long_line)
    verdict = judge(with_sdk(SdkRun(True, not_run=_over_caps(capped))))
    assert verdict.outcome == "skipped" and "not run" in verdict.message
