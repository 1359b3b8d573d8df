"""The reference server's Messages, Ollama and cancel endpoints, over real loopback sockets.

Each scenario is recorded by the real recorder and judged by the rules of its
API, on the correct server, with each fault and each valid variant of those
APIs; the official SDKs read the recorded streams replayed on loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from test_reference_support import FAST, MODEL, exchange

from conformance.capture import Limits, Transcript, make_client
from conformance.reference import ServerHandle, Settings, serve_in_thread
from conformance.reference.api_entries import API_FAULTS, API_VARIANTS
from conformance.reference.wire import Item
from conformance.rules import REGISTRY
from conformance.scenarios import CATALOG, RecordContext, Target
from conformance.view_messages import MessagesView
from conformance.view_ollama import OllamaView

MESSAGES = [s for s in CATALOG if s.startswith("messages-")]
OLLAMA = [s for s in CATALOG if s.startswith("ollama-")]


def record(url: str, scenario: str, *, mounts: tuple[tuple[str, str], ...] = ()) -> Transcript:
    async def run() -> Transcript:
        limits = Limits(deadline_s=30)
        async with make_client(limits=limits) as client:
            target = Target(url, MODEL, apis=("chat", "messages", "ollama"), mounts=mounts)
            return await CATALOG[scenario].record(RecordContext(client, target, limits))

    return asyncio.run(run())


def tripped(t: Transcript) -> set[str]:
    api = CATALOG[t.scenario].api
    rules = [r for r in REGISTRY if api in r.apis and t.scenario in r.scenarios]
    return {r.id for r in rules if r.judge(t, api).outcome == "failed"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(token_delay=FAST)) as srv:
        yield srv


@pytest.mark.parametrize("scenario", [*MESSAGES, *OLLAMA, "cancel-chat"])
def test_every_scenario_passes_every_rule_on_the_correct_server(
    server: ServerHandle, scenario: str
) -> None:
    t = record(server.url, scenario)
    assert tripped(t) == set()


def test_the_messages_stream_follows_the_event_flow(server: ServerHandle) -> None:
    view = MessagesView(record(server.url, "messages-stream"))
    kinds = [e.type for e in view.events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert view.stop_reason == "end_turn" and view.text()
    assert view.input_tokens and view.output_tokens == len(
        [e for e in view.events if e.type == "content_block_delta"]
    )


def test_the_tool_answer_is_a_text_block_then_a_tool_use_block(server: ServerHandle) -> None:
    view = MessagesView(record(server.url, "messages-tools"))
    message = view.final_message()
    assert message is not None
    assert [b["type"] for b in message["content"]] == ["text", "tool_use"]
    assert message["content"][1]["input"] == {"city": "Paris"}
    assert message["stop_reason"] == "tool_use"


def test_the_sdks_read_the_recorded_streams_to_the_same_answer(server: ServerHandle) -> None:
    for scenario, rule in [
        ("messages-tools", "client.anthropic-sdk"),
        ("ollama-tools", "client.ollama-sdk"),
    ]:
        t = record(server.url, scenario)
        verdict = REGISTRY.get(rule).judge(t)
        assert verdict.outcome == "passed", verdict


def test_ollama_is_served_at_the_root_and_under_ollama(server: ServerHandle) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False}
    for path in ("/api/chat", "/ollama/api/chat"):
        answer = exchange(server.url, body, path=path)
        assert answer.status == 200 and answer.json()["done"] is True
    t = record(server.url, "ollama-stream", mounts=(("ollama", "/ollama"),))
    assert t.request.url.endswith("/ollama/api/chat") and tripped(t) == set()


def test_ollama_lines_survive_one_byte_writes() -> None:
    with serve_in_thread(Settings(token_delay=FAST, variant="one-byte-writes")) as srv:
        t = record(srv.url, "ollama-stream")
    # How many reads the writes arrive in is the host's business; the lines are not.
    assert any(len(c.encode()) > 1 for c in OllamaView(t).content())
    assert tripped(t) == set()


FAULT_CASES = [
    ("messages-index-reused", "messages-tools", {"messages.blocks"}),
    ("messages-interleaved", "messages-tools", {"messages.block-order"}),
    ("messages-error-null-stop", "messages-max-tokens", {"messages.error-event"}),
    ("messages-error-untyped", "messages-max-tokens", {"messages.event-type"}),
    ("ollama-no-done", "ollama-stream", {"ollama.done"}),
    ("ollama-error-as-content", "ollama-num-predict", {"ollama.error-line"}),
    ("ollama-string-arguments", "ollama-tools", {"ollama.tool-arguments", "client.ollama-sdk"}),
    ("fastapi-422", "messages-missing-max-tokens", {"messages.error-schema"}),
    ("fastapi-422", "ollama-invalid-body", {"ollama.error-schema"}),
    ("plain-500", "messages-invalid-json", {"messages.error-status"}),
    ("plain-500", "ollama-unknown-model", {"ollama.error-schema"}),
    ("cancel-ignored", "messages-cancel", {"cancel.ends"}),
]


@pytest.mark.parametrize(("fault", "scenario", "rules"), FAULT_CASES)
def test_each_fault_trips_its_rules(fault: str, scenario: str, rules: set[str]) -> None:
    # Ignored, the 400-token stream runs 8 s on (at 0.02 s a token): past the 5 s bound.
    delay = 0.02 if fault == "cancel-ignored" else FAST
    with serve_in_thread(Settings(token_delay=delay, fault=fault)) as srv:
        t = record(srv.url, scenario)
    assert tripped(t) == rules


def test_every_messages_and_ollama_entry_is_run_here() -> None:
    faults = {f for f, _, _ in FAULT_CASES}
    assert faults == {f.name for f in API_FAULTS}
    assert set(VARIANT_NAMES) == {v.name for v in API_VARIANTS}


VARIANT_NAMES = ["messages-ping", "messages-keepalive", "messages-thinking"]


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_messages_variants_trip_nothing(variant: str) -> None:
    with serve_in_thread(Settings(token_delay=FAST, variant=variant)) as srv:
        for scenario in ("messages-stream", "messages-max-tokens", "messages-tools"):
            t = record(srv.url, scenario)
            assert tripped(t) == set(), scenario


def test_cancel_stops_a_running_stream_and_unknown_ids_get_404() -> None:
    # 400 tokens at 0.05 s: 20 s uncancelled, so the cancel lands long before the end.
    with serve_in_thread(Settings(token_delay=0.05)) as srv:
        t = record(srv.url, "messages-cancel")
        unknown = exchange(srv.url, b"", path="/v1/cancel/nope")
    view = MessagesView(t)
    assert view.stop_reason is None and view.message_stop is not None
    # Cancelled at its first content: far fewer tokens than the 400 asked.
    assert len([e for e in t.events if e.type == "content_block_delta"]) < 400
    assert unknown.status == 404 and "not found" in json.loads(unknown.body)["error"]["message"]
    for rule in ("cancel.ends", "cancel.marked", "cancel.unknown-id"):
        assert REGISTRY.get(rule).judge(t, "messages").outcome == "passed", rule


def test_cancel_rules_skip_where_the_endpoint_is_not_served(server: ServerHandle) -> None:
    t = record(server.url, "cancel-chat")
    assert t.other("cancel") is not None
    import dataclasses

    gone = t.other("cancel")
    assert gone is not None
    not_served = dataclasses.replace(
        t, related=(("cancel", dataclasses.replace(gone, status=404)), *t.related[1:])
    )
    verdict = REGISTRY.get("cancel.ends").judge(not_served)
    assert verdict.outcome == "skipped" and "does not serve" in verdict.message


def test_the_fixed_proxy_relays_cancel_to_its_upstream() -> None:
    upstream = serve_in_thread(Settings(token_delay=0.05))
    with upstream, serve_in_thread(Settings(proxy_to=upstream.url)) as proxy:
        t = record(proxy.url, "cancel-chat")
    cancel = t.other("cancel")
    assert cancel is not None and cancel.status == 200
    for rule in ("cancel.ends", "cancel.marked", "cancel.unknown-id"):
        assert REGISTRY.get(rule).judge(t).outcome == "passed", rule


def test_a_cancel_after_the_finish_chunk_is_too_late() -> None:
    from conformance.reference.cancel import Cancels, cancellable_chat
    from conformance.reference.wire import DONE, Data

    def chunk(finish: str | None) -> Data:
        return Data.of(
            {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        )

    async def items() -> AsyncIterator[Item]:
        for item in (chunk(None), chunk("stop"), DONE):
            yield item

    async def run() -> tuple[bool, list[Item]]:
        cancels = Cancels()
        stream = cancellable_chat(cancels, "c1", items())
        first = await anext(stream)
        taken = cancels.cancel("c1")
        return taken, [first, *[item async for item in stream]]

    # Running: the cancel is taken, and the stream ends with [DONE], no finish chunk.
    taken, sent = asyncio.run(run())
    assert taken and sent == [chunk(None), DONE]

    async def late() -> bool:
        cancels = Cancels()
        stream = cancellable_chat(cancels, "c1", items())
        await anext(stream)
        await anext(stream)  # the finish chunk
        return cancels.cancel("c1")

    assert asyncio.run(late()) is False
