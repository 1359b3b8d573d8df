"""Every valid variant changes the wire the way its entry says, and stays correct.

The five framing and write variants are checked byte for byte against a plain
server, from the server and from the proxy, with the raw socket client of
``test_reference_support``.  The others each start ``python -m
conformance.reference --variant NAME`` (as the ``reference_server`` fixture
does) and read it with httpx over loopback: the bytes look as described, and
what a client assembles from them is still a correct answer.  Timing is
judged against the server's own sleeps (lower bounds), with wide margins.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest
from conftest import ServerFactory
from test_reference_support import (
    CLOCK_TOOL,
    MODEL,
    WEATHER_TOOL,
    Exchange,
    chat_body,
    clean_framing,
    data_events,
    exchange,
    json_chunks,
    stream_text,
)

from conformance.reference import VARIANTS, ServerHandle, Settings, plan_completion, serve_in_thread
from conformance.reference.api_entries import API_VARIANTS
from conformance.reference.plans import REASONING_TOKENS

DELAY = 0.002

# -- the framing and write variants, byte for byte ---------------------------------

Check = Callable[[Exchange, Exchange], None]
STREAM = chat_body(stream=True)
UNICODE = chat_body("unicode, please", stream=True)


def _relined(body: bytes, line_end: bytes) -> bytes:
    return body.replace(line_end, b"\n")


def crlf(ex: Exchange, clean: Exchange) -> None:
    assert b"\r\n\r\n" in ex.body
    assert ex.body.count(b"\n") == ex.body.count(b"\r\n")
    assert _relined(ex.body, b"\r\n") == clean_framing(clean.body, ex.body)


def cr(ex: Exchange, clean: Exchange) -> None:
    assert b"\n" not in ex.body
    assert b"\r\r" in ex.body
    assert _relined(ex.body, b"\r") == clean_framing(clean.body, ex.body)


def keepalive_comments(ex: Exchange, clean: Exchange) -> None:
    events = data_events(ex.body)
    assert ex.body.count(b": ping\n\n") == len(events) - 1
    assert events[-1] == "[DONE]"
    assert stream_text(ex.body) == stream_text(clean.body)


def one_byte_writes(ex: Exchange, clean: Exchange) -> None:
    assert all(len(chunk) == 1 for chunk in ex.chunks)
    assert len(ex.chunks) == len(ex.body)
    assert any(byte >= 0x80 for byte in ex.body)  # multi-byte characters were split
    # Separate writes reach the client as separate segments: many more reads than
    # events (how many more depends on how promptly this client is scheduled).
    assert len(ex.reads) > 3 * len(data_events(ex.body))
    assert len(clean.reads) < 2 * len(data_events(clean.body))
    assert stream_text(ex.body) == stream_text(clean.body)


def no_space_after_colon(ex: Exchange, clean: Exchange) -> None:
    assert b"data: " not in ex.body
    assert ex.body.count(b"data:{") == len(json_chunks(clean.body))
    assert ex.body.endswith(b"data:[DONE]\n\n")
    assert ex.body.startswith(b":keep-alive\n\n")


FRAMING_CASES: dict[str, tuple[dict[str, Any], Check]] = {
    "crlf": (STREAM, crlf),
    "cr": (STREAM, cr),
    "keepalive-comments": (STREAM, keepalive_comments),
    "one-byte-writes": (UNICODE, one_byte_writes),
    "no-space-after-colon": (STREAM, no_space_after_colon),
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(token_delay=DELAY)) as srv:
        yield srv


@pytest.mark.parametrize("mode", ["server", "proxy"])
@pytest.mark.parametrize("name", sorted(FRAMING_CASES))
def test_framing_variant_changes_only_the_framing(
    name: str, mode: str, upstream: ServerHandle
) -> None:
    body, check = FRAMING_CASES[name]
    if mode == "proxy":
        settings = Settings(variant=name, proxy_to=upstream.url)
    else:
        settings = Settings(variant=name, token_delay=DELAY)
    with serve_in_thread(settings) as srv:
        check(exchange(srv.url, body), exchange(upstream.url, body))


def test_the_old_fault_spelling_still_names_a_variant() -> None:
    assert Settings(fault="crlf").fault_entry is VARIANTS["crlf"]
    with pytest.raises(ValueError, match="cannot run with --variant"):
        Settings(fault="crlf", variant="cr")


# -- reading a live stream with httpx ---------------------------------------------


@dataclass
class Block:
    """One event-stream block: a comment, or an event with its type and data."""

    at: float  # when the read that completed it arrived (s since the request)
    comment: str | None = None
    event: str | None = None
    data: str | None = None

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


@dataclass
class Got:
    status: int
    headers: httpx.Headers
    t_headers: float
    reads: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(piece for _, piece in self.reads)

    def blocks(self) -> list[Block]:
        """The blocks in order (LF line ends), each with its arrival time."""
        blocks, text, offset = [], self.body.decode("utf-8"), 0
        for raw in text.split("\n\n")[:-1]:
            offset += len((raw + "\n\n").encode())
            block = Block(self._time_at(offset))
            for line in raw.split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if not name:
                    block.comment = value
                elif name == "event":
                    block.event = value
                elif name == "data":
                    block.data = value if block.data is None else f"{block.data}\n{value}"
            blocks.append(block)
        return blocks

    def data(self) -> list[Block]:
        return [b for b in self.blocks() if b.data is not None]

    def chunks(self) -> list[dict[str, Any]]:
        return [b.json() for b in self.data() if b.data != "[DONE]" and b.event is None]

    def deltas(self) -> list[dict[str, Any]]:
        return [c["choices"][0]["delta"] for c in self.chunks() if c["choices"]]

    def content(self) -> str:
        return "".join(d.get("content") or "" for d in self.deltas())

    def _time_at(self, end: int) -> float:
        seen = 0
        for t, piece in self.reads:
            seen += len(piece)
            if seen >= end:
                return t
        raise AssertionError(f"byte {end} never arrived")


def post(url: str, body: dict[str, Any], timeout: float = 30.0) -> Got:
    """One request; every read of the body with its arrival time."""
    start = time.monotonic()
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=timeout) as r:
        got = Got(r.status_code, r.headers, time.monotonic() - start)
        for piece in r.iter_raw():
            got.reads.append((time.monotonic() - start, piece))
    return got


def answer(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30.0)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def generations(url: str) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{url}/v1/conformance/generations").json()
    return counts


def expected_text(content: str = "Say something.", **options: Any) -> str:
    """What a plain server answers: plan_completion is deterministic."""
    messages = [{"role": "user", "content": content}]
    return plan_completion(MODEL, messages, seed=7, **options).text


def assert_well_formed(got: Got, finish: str = "stop") -> None:
    assert got.status == 200
    assert got.headers["content-type"].startswith("text/event-stream")
    assert got.data()[-1].data == "[DONE]"
    finishes = [c["choices"][0]["finish_reason"] for c in got.chunks() if c["choices"]]
    assert finishes[-1] == finish and finishes.count(None) == len(finishes) - 1


TOOL_PROMPT = "What is the weather in Paris?"


# -- the other variants, one test each (and a few more) -----------------------------

PAUSE = 1.5


def test_slow_first_token_pauses_then_paces_normally(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "slow-first-token", "--first-token-delay", str(PAUSE))
    got = post(url, STREAM)
    assert_well_formed(got)
    blocks = got.blocks()
    assert blocks[0].comment == "keep-alive"
    first_data = got.data()[0].at
    assert first_data >= PAUSE * 0.95  # the server slept this long, at least
    assert got.t_headers <= first_data - PAUSE / 2  # the head went out at once
    # Then tokens at the usual pace (24 or so at 20 ms): well under the pause.
    assert got.data()[-1].at - first_data < PAUSE
    assert got.content() == expected_text()


def test_prefill_keepalive_sends_comments_through_the_pause(
    reference_server: ServerFactory,
) -> None:
    url = reference_server("--variant", "prefill-keepalive", "--first-token-delay", str(PAUSE))
    got = post(url, STREAM)
    assert_well_formed(got)
    blocks = got.blocks()
    first = next(i for i, b in enumerate(blocks) if b.data is not None)
    before = blocks[:first]
    assert all(b.comment == "keep-alive" for b in before)
    # The opening comment, then one every 0.2 s of the pause (7 on an idle
    # machine; a busy one sleeps longer, so fewer).
    assert 3 <= len(before) <= 1 + round(PAUSE / 0.2)
    assert blocks[first].at >= PAUSE * 0.95
    assert before[-1].at >= PAUSE / 2  # comments came during the pause, not all at once
    assert all(b.comment is None for b in blocks[first:])
    assert got.content() == expected_text()


def test_reasoning_streams_reasoning_content_before_the_content(
    reference_server: ServerFactory,
) -> None:
    url = reference_server("--variant", "reasoning")
    got = post(url, chat_body(stream=True, stream_options={"include_usage": True}))
    assert_well_formed(got)
    deltas = got.deltas()
    assert deltas[0] == {"role": "assistant", "content": ""}
    kinds = ["reasoning" if "reasoning_content" in d else "content" for d in deltas[1:-1]]
    assert kinds == ["reasoning"] * REASONING_TOKENS + ["content"] * (len(kinds) - REASONING_TOKENS)
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    assert got.content() == expected_text()
    usage = got.chunks()[-1]["usage"]
    assert usage["completion_tokens"] == len(deltas) - 2  # every piece of both kinds
    message = answer(url, chat_body())["choices"][0]["message"]
    assert message["reasoning_content"] == reasoning
    assert message["content"] == got.content()


def test_reasoning_counts_against_max_tokens(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "reasoning")
    short = post(url, chat_body(stream=True, max_tokens=5))
    assert_well_formed(short, "length")
    assert short.content() == ""
    assert sum("reasoning_content" in d for d in short.deltas()) == 5
    budget = answer(url, chat_body(max_tokens=REASONING_TOKENS + 3))
    assert budget["usage"]["completion_tokens"] == REASONING_TOKENS + 3
    assert budget["choices"][0]["message"]["content"] == expected_text(max_tokens=3)


def test_queued_runs_one_generation_at_a_time(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "queued")
    first_body = chat_body("a long story", stream=True, max_tokens=60)  # 1.2 s of tokens
    with httpx.Client(timeout=30) as client:
        endpoint = f"{url}/v1/chat/completions"
        with client.stream("POST", endpoint, json=first_body) as first:
            first_lines = first.iter_lines()
            seen = [line for line in _until_content(first_lines, 1)]
            with client.stream("POST", endpoint, json=STREAM) as second:
                # The second request's head (and opening comment) came at once ...
                assert second.status_code == 200
                second_lines = second.iter_lines()
                assert next(second_lines) == ": keep-alive"
                seen += _until_content(first_lines, 5)
                # ... but it has not started generating while the first one runs.
                assert generations(url)["started"] == 1
                seen += list(first_lines)
                rest = [line for line in second_lines if line]
    assert [line for line in seen if line.startswith("data: ")][-1] == "data: [DONE]"
    assert rest[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in rest if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == expected_text()
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert generations(url) == {"active": 0, "started": 2, "finished": 2, "cancelled": 0}


def _until_content(lines: Iterator[str], count: int) -> list[str]:
    """Lines read until ``count`` more content chunks have come."""
    seen: list[str] = []
    for line in lines:
        seen.append(line)
        count -= '"content":" ' in line
        if count <= 0:
            break
    return seen


def test_queued_non_stream_answers_wait_their_turn_too(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "queued")
    long = chat_body("a long story", stream=True, max_tokens=60)  # 1.2 s of tokens
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=long, timeout=30) as first:
        lines = first.iter_lines()
        _until_content(lines, 1)
        sent = time.monotonic()
        body = answer(url, chat_body())  # sent mid-stream
        waited = time.monotonic() - sent
        list(lines)
    assert body["choices"][0]["message"]["content"] == expected_text()
    # It slept through the rest of the stream (59 tokens) and then its own ~24
    # tokens, at 20 ms each: a lower bound, however busy the machine.
    assert waited >= (59 + 20) * 0.02


LONG = chat_body("Write a long story.", stream=True)


def test_typed_error_event_reports_a_failure_on_long_prompts(
    reference_server: ServerFactory,
) -> None:
    url = reference_server("--variant", "typed-error-event")
    got = post(url, LONG)
    data = got.data()
    assert data[-1].data == "[DONE]" and data[-1].event is None
    error = data[-2]
    assert error.event == "error"
    assert set(error.json()) == {"error"}
    assert set(error.json()["error"]) == {"message", "type", "param", "code"}
    assert b"event: error\ndata: {" in got.body
    chunks = got.chunks()
    assert len([d for d in got.deltas() if d.get("content")]) == 3
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    # Other prompts are answered as usual.
    plain = post(url, STREAM)
    assert_well_formed(plain)
    assert plain.content() == expected_text()


def test_typed_error_event_is_raised_by_openai_python(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "typed-error-event")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model=MODEL, messages=LONG["messages"], stream=True, seed=7, temperature=0
    )
    with pytest.raises(openai.APIError, match="failed partway"):
        for _ in stream:
            pass


def test_typed_error_event_from_the_proxy(upstream: ServerHandle) -> None:
    # The proxy re-reads the upstream's events and writes the typed one itself.
    with serve_in_thread(Settings(variant="typed-error-event", proxy_to=upstream.url)) as proxy:
        got = post(proxy.url, LONG)
        plain = post(proxy.url, STREAM)
    assert [b.event for b in got.data()[-2:]] == ["error", None]
    assert got.data()[-1].data == "[DONE]"
    assert_well_formed(plain)


def test_the_proxy_relays_typed_events_as_they_are(reference_server: ServerFactory) -> None:
    upstream_url = reference_server("--variant", "typed-error-event", "--token-delay", "0.002")
    with serve_in_thread(Settings(proxy_to=upstream_url)) as proxy:
        got = post(proxy.url, LONG)
    assert b"event: error\ndata: {" in got.body
    assert got.data()[-1].data == "[DONE]"


def test_null_fields_are_sent_and_change_nothing_else(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "null-fields")
    got = post(url, chat_body(stream=True, stream_options={"include_usage": True}))
    assert_well_formed(got)
    chunks = got.chunks()
    for chunk in chunks[:-1]:
        assert chunk["usage"] is None and chunk["error"] is None
        choice = chunk["choices"][0]
        assert "logprobs" in choice and choice["logprobs"] is None
        assert {k: choice["delta"][k] for k in ("refusal", "tool_calls", "function_call")} == {
            "refusal": None,
            "tool_calls": None,
            "function_call": None,
        }
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-1]["error"] is None
    assert b'"refusal":null' in got.body and b'"function_call":null' in got.body
    assert got.content() == expected_text()
    message = answer(url, chat_body())["choices"][0]["message"]
    assert message["refusal"] is None and message["tool_calls"] is None
    assert message["content"] == expected_text()


def test_null_fields_keep_real_tool_calls(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "null-fields")
    got = post(url, chat_body(TOOL_PROMPT, stream=True, tools=[WEATHER_TOOL]))
    calls = [d["tool_calls"] for d in got.deltas() if d["tool_calls"] is not None]
    assert calls and calls[0][0]["function"]["name"] == "get_weather"
    assert_well_formed(got, "tool_calls")


def test_rechunked_recuts_content_but_not_the_text(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "rechunked")
    body = chat_body("unicode, please", stream=True, stream_options={"include_usage": True})
    got = post(url, body)
    assert_well_formed(got)
    got.body.decode("utf-8")  # strict: every piece is whole UTF-8
    tokens = plan_completion(MODEL, body["messages"], seed=7).tokens
    pieces = [d["content"] for d in got.deltas() if d.get("content")]
    assert "".join(pieces) == "".join(tokens)
    assert pieces != list(tokens)
    merged = [p for p in pieces if p.count(" ") >= 2 or (p.startswith(" ") and " " in p[1:])]
    halves = [p for p in pieces if not p.startswith(" ")]  # second halves of split tokens
    assert merged and halves
    assert got.chunks()[-1]["usage"]["completion_tokens"] == len(tokens)  # the model's count


def test_openai_extras_are_sent_on_every_chunk(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "openai-extras")
    got = post(url, chat_body(stream=True, stream_options={"include_usage": True}))
    assert_well_formed(got)
    chunks = got.chunks()
    for chunk in chunks:
        assert chunk["service_tier"] == "default"
        assert chunk["system_fingerprint"].startswith("fp_")
        assert isinstance(chunk["obfuscation"], str) and chunk["obfuscation"]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert len({chunk["obfuscation"] for chunk in chunks}) > 1
    assert got.content() == expected_text()
    body = answer(url, chat_body())
    assert body["service_tier"] == "default" and "completion_tokens_details" in body["usage"]
    assert body["choices"][0]["message"]["refusal"] is None


def test_openai_extras_without_include_usage_send_no_usage(
    reference_server: ServerFactory,
) -> None:
    url = reference_server("--variant", "openai-extras")
    got = post(url, STREAM)
    assert all("usage" not in chunk for chunk in got.chunks())


def test_parallel_tool_calls_stream_two_calls(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "parallel-tool-calls")
    tools = [WEATHER_TOOL, CLOCK_TOOL]
    body = chat_body(TOOL_PROMPT, stream=True, tools=tools, stream_options={"include_usage": True})
    got = post(url, body)
    assert_well_formed(got, "tool_calls")
    fragments = [call for d in got.deltas() for call in d.get("tool_calls") or []]
    assert [f["index"] for f in fragments] == sorted(f["index"] for f in fragments)
    calls: dict[int, dict[str, Any]] = {}
    for fragment in fragments:
        if fragment["index"] not in calls:
            assert set(fragment) == {"index", "id", "type", "function"}
            assert fragment["type"] == "function" and fragment["function"]["arguments"] == ""
            calls[fragment["index"]] = {"id": fragment["id"], **fragment["function"]}
        else:
            assert set(fragment) == {"index", "function"}
            assert set(fragment["function"]) == {"arguments"}
            calls[fragment["index"]]["arguments"] += fragment["function"]["arguments"]
    assert sorted(calls) == [0, 1]
    assert calls[0]["id"] != calls[1]["id"]
    assert [calls[0]["name"], calls[1]["name"]] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert json.loads(calls[1]["arguments"]) == {"zone": "Paris"}
    pieces = sum(1 for f in fragments if f["function"]["arguments"])
    assert got.chunks()[-1]["usage"]["completion_tokens"] == pieces
    message = answer(url, chat_body(TOOL_PROMPT, tools=tools))["choices"][0]["message"]
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] == [
        (calls[i]["name"], calls[i]["arguments"]) for i in (0, 1)
    ]


def test_parallel_tool_calls_leave_text_answers_alone(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "parallel-tool-calls")
    got = post(url, chat_body(stream=True, tools=[WEATHER_TOOL]))  # mentions no tool
    assert_well_formed(got)
    assert got.content() == expected_text()


# -- a fault and a variant at once ------------------------------------------------


def test_a_fault_and_a_variant_run_together(reference_server: ServerFactory) -> None:
    url = reference_server("--variant", "crlf", "--fault", "no-done")
    got = post(url, STREAM)
    assert b"\r\n\r\n" in got.body and got.body.count(b"\n") == got.body.count(b"\r\n")
    assert b"[DONE]" not in got.body
    assert b'"finish_reason":"stop"' in got.body


def test_every_variant_has_a_test() -> None:
    tested = set(FRAMING_CASES) | {
        "slow-first-token",
        "prefill-keepalive",
        "reasoning",
        "queued",
        "typed-error-event",
        "null-fields",
        "rechunked",
        "openai-extras",
        "parallel-tool-calls",
        # tests/test_reference_responses.py
        "responses-keepalive",
        "responses-reasoning",
        "responses-done",
    }
    # The Messages variants are tested in test_reference_other_apis.py.
    assert tested | {v.name for v in API_VARIANTS} == set(VARIANTS)
