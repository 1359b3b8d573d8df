"""Every fault changes the wire the way its entry says, from the server and the proxy.

Each case sends one request to a server (or a proxy in front of a correct
server) running the fault, and to a correct server, and asserts the bytes
differ in the intended way, and only where a fault should.  A case exists for
every fault; the valid variants have theirs in ``test_reference_variants.py``.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
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

from conformance.reference import FAULTS, ServerHandle, Settings, serve_in_thread
from conformance.reference.api_entries import API_FAULTS
from conformance.reference.faults import SEED_BUG, UPSTREAM_KEPT
from conformance.reference.proxy_faults import BLOCK_BYTES

DELAY = 0.002
HOLD_OPEN = 1.0
STALL_CAP = 1.0  # dead-runner-keepalive ends a stalled body after this long
SLOW_DELAY = 0.01  # for the timing cases: generation takes >= 20 * 10 ms
KEY = "k-faults-31c"  # given to every fault that shows only with a key (needs_key)

Check = Callable[[Exchange, Exchange], None]


@dataclass(frozen=True)
class Case:
    request: dict[str, Any] | None
    check: Check
    token_delay: float = DELAY
    path: str = "/v1/chat/completions"


STREAM = chat_body(stream=True)
USAGE = chat_body(stream=True, stream_options={"include_usage": True})
UNKNOWN_MODEL = chat_body(stream=True, model="no-such-model")
NO_MESSAGES = {"model": MODEL, "stream": True}
COMPLETE = chat_body()
TIMED = chat_body(stream=True, max_tokens=20)
LONG = chat_body(
    "Write a long story about a lighthouse keeper, in plain words.", stream=True, max_tokens=160
)
TOOLS = chat_body("What is the weather in Paris?", stream=True, tools=[WEATHER_TOOL, CLOCK_TOOL])


def _chunks_with_choices(ex: Exchange) -> list[dict[str, Any]]:
    return [c for c in json_chunks(ex.body) if c["choices"]]


def _finishes(ex: Exchange) -> list[str]:
    return [
        c["choices"][0]["finish_reason"]
        for c in _chunks_with_choices(ex)
        if c["choices"][0]["finish_reason"] is not None
    ]


def _content_chunks(ex: Exchange) -> list[dict[str, Any]]:
    return [c for c in _chunks_with_choices(ex) if c["choices"][0]["delta"].get("content")]


def _same_text(faulty: Exchange, clean: Exchange) -> None:
    assert stream_text(faulty.body) == stream_text(clean.body)


def _time_of(ex: Exchange, marker: bytes) -> float:
    """When the read that completed ``marker`` arrived."""
    return _time_at(ex, ex.raw.index(marker) + len(marker))


def _time_at(ex: Exchange, end: int) -> float:
    """When the read that brought byte ``end - 1`` of the raw response arrived."""
    seen = 0
    for t, size in ex.reads:
        seen += size
        if seen >= end:
            return t
    raise AssertionError(f"byte {end} never arrived")


# -- the checks, one per fault ----------------------------------------------------


def no_done(ex: Exchange, clean: Exchange) -> None:
    assert data_events(clean.body)[-1] == "[DONE]"
    events = data_events(ex.body)
    assert "[DONE]" not in events
    assert json.loads(events[-1])["choices"][0]["finish_reason"] == "stop"
    assert ex.complete


def data_after_done(ex: Exchange, clean: Exchange) -> None:
    events = data_events(ex.body)
    after = events[events.index("[DONE]") + 1 :]
    assert len(after) == 1
    assert json.loads(after[0])["choices"][0]["delta"]["content"]


def open_after_done(ex: Exchange, clean: Exchange) -> None:
    assert data_events(ex.body)[-1] == "[DONE]"
    held = ex.t_eof - _time_of(ex, b"data: [DONE]")
    assert held >= HOLD_OPEN * 0.9
    assert clean.t_eof - _time_of(clean, b"data: [DONE]") < HOLD_OPEN / 2


def buffered(ex: Exchange, clean: Exchange) -> None:
    generation = 20 * SLOW_DELAY
    assert len(ex.chunks) == 1  # one write holds every event
    assert ex.t_headers >= generation * 0.9  # nothing, not even the head, came early
    assert len(clean.chunks) > 20
    _same_text(ex, clean)


def header_dropped(name: str) -> Check:
    def check(ex: Exchange, clean: Exchange) -> None:
        assert name in clean.headers
        assert name not in ex.headers
        _same_text(ex, clean)

    return check


def wrong_content_type(ex: Exchange, clean: Exchange) -> None:
    assert ex.headers["content-type"] == "application/json"
    assert data_events(ex.body)[-1] == "[DONE]"


def gzipped(ex: Exchange, clean: Exchange) -> None:
    assert ex.headers["content-encoding"] == "gzip"
    assert ex.body[:2] == b"\x1f\x8b"
    assert len(ex.chunks) == 1
    assert gzip.decompress(ex.body).endswith(b"data: [DONE]\n\n")
    assert stream_text(gzip.decompress(ex.body)) == stream_text(clean.body)


def role_missing(ex: Exchange, clean: Exchange) -> None:
    assert _chunks_with_choices(clean)[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in _chunks_with_choices(ex))


def role_every_chunk(ex: Exchange, clean: Exchange) -> None:
    chunks = _chunks_with_choices(ex)
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    _same_text(ex, clean)


def id_changes(ex: Exchange, clean: Exchange) -> None:
    chunks = json_chunks(ex.body)
    assert len({c["id"] for c in chunks}) == len(chunks)
    assert len({c["id"] for c in json_chunks(clean.body)}) == 1


def finish_reason_missing(ex: Exchange, clean: Exchange) -> None:
    assert _finishes(ex) == []
    assert data_events(ex.body)[-1] == "[DONE]"


def finish_reason_twice(ex: Exchange, clean: Exchange) -> None:
    assert _finishes(ex) == ["stop", "stop"]
    assert _finishes(clean) == ["stop"]


def content_after_finish(ex: Exchange, clean: Exchange) -> None:
    chunks = _chunks_with_choices(ex)
    finish = next(i for i, c in enumerate(chunks) if c["choices"][0]["finish_reason"])
    assert chunks[finish + 1]["choices"][0]["delta"]["content"]
    assert data_events(ex.body)[-1] == "[DONE]"


def usage_ignored(ex: Exchange, clean: Exchange) -> None:
    assert json_chunks(clean.body)[-1]["usage"]
    assert all("usage" not in c and c["choices"] for c in json_chunks(ex.body))
    assert data_events(ex.body)[-1] == "[DONE]"


def usage_wrong_sum(ex: Exchange, clean: Exchange) -> None:
    usage = json_chunks(ex.body)[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + 1
    assert usage["completion_tokens"] == json_chunks(clean.body)[-1]["usage"]["completion_tokens"]


def usage_on_a_choice(ex: Exchange, clean: Exchange) -> None:
    last = json_chunks(ex.body)[-1]
    assert last["choices"] == [{"index": 0, "delta": {}}]
    assert last["usage"] == json_chunks(clean.body)[-1]["usage"]
    assert json_chunks(clean.body)[-1]["choices"] == []


def max_tokens_ignored(ex: Exchange, clean: Exchange) -> None:
    assert len(_content_chunks(clean)) == 3
    assert _finishes(clean) == ["length"]
    assert len(_content_chunks(ex)) > 3
    assert _finishes(ex) == ["stop"]


def non_json_data(ex: Exchange, clean: Exchange) -> None:
    events = data_events(ex.body)
    assert "not json" in events
    assert events.index("not json") == 1
    _same_text(ex, clean)


def error_as_200_json(ex: Exchange, clean: Exchange) -> None:
    assert clean.status == 404
    assert ex.status == 200
    assert ex.headers["content-type"] == "application/json"
    assert ex.json() == clean.json()


def _error_event(events: list[str]) -> dict[str, Any]:
    errors = [json.loads(e) for e in events if e.startswith('{"error"')]
    assert len(errors) == 1
    error: dict[str, Any] = errors[0]["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def error_no_done(ex: Exchange, clean: Exchange) -> None:
    events = data_events(ex.body)
    _error_event(events)
    assert events[-1].startswith('{"error"')
    assert "[DONE]" not in events
    assert len(_content_chunks(ex)) == 3


def midstream_error(ex: Exchange, clean: Exchange) -> None:
    events = data_events(ex.body)
    _error_event(events)
    assert events[-2].startswith('{"error"')
    assert events[-1] == "[DONE]"
    assert len(_content_chunks(ex)) == 3
    assert _finishes(ex) == []


def silent_close(ex: Exchange, clean: Exchange) -> None:
    events = data_events(ex.body)
    assert "[DONE]" not in events
    assert not any(e.startswith('{"error"') for e in events)
    assert _finishes(ex) == []
    assert len(_content_chunks(ex)) == 3


def nonstream_mismatch(ex: Exchange, clean: Exchange) -> None:
    text = ex.json()["choices"][0]["message"]["content"]
    clean_text = clean.json()["choices"][0]["message"]["content"]
    assert text != clean_text
    assert clean_text.startswith(text + " ")
    assert ex.json()["usage"] == clean.json()["usage"]


def nonstream_empty_body(ex: Exchange, clean: Exchange) -> None:
    assert ex.status == 200
    assert ex.body == b""
    assert ex.headers["content-length"] == "0"
    assert clean.json()["object"] == "chat.completion"


def unknown_model_200(ex: Exchange, clean: Exchange) -> None:
    assert clean.status == 404
    assert ex.status == 200
    assert ex.headers["content-type"].startswith("text/event-stream")
    assert data_events(ex.body)[-1] == "[DONE]"


def detail_errors(ex: Exchange, clean: Exchange) -> None:
    assert clean.status == 400
    assert ex.status == 422
    (detail,) = ex.json()["detail"]
    assert detail["loc"] == ["body", "messages"]
    assert detail["msg"] == clean.json()["error"]["message"]


def wrong_object(ex: Exchange, clean: Exchange) -> None:
    assert {c["object"] for c in json_chunks(ex.body)} == {"chat.completion"}


def bad_finish_reason(ex: Exchange, clean: Exchange) -> None:
    assert _finishes(ex) == ["done"]


def block_flush(ex: Exchange, clean: Exchange) -> None:
    assert len(ex.chunks) >= 2, len(ex.chunks)
    assert all(len(chunk) >= BLOCK_BYTES for chunk in ex.chunks[:-1])
    assert len(clean.chunks) > 4 * len(ex.chunks)
    _same_text(ex, clean)


def headers_stripped(ex: Exchange, clean: Exchange) -> None:
    for name in ("cache-control", "x-accel-buffering"):
        assert name in clean.headers and name not in ex.headers
    assert ex.headers["content-type"] == clean.headers["content-type"]
    _same_text(ex, clean)


def seed_bug(ex: Exchange, clean: Exchange) -> None:
    # Headers went out, then the body broke: no terminating chunk, no event.
    assert ex.status == 200
    assert ex.headers["content-type"].startswith("text/event-stream")
    assert not ex.complete
    assert data_events(ex.body) == []
    assert clean.complete


def bursts(ex: Exchange, clean: Exchange) -> None:
    # 24 writes in 4 bursts of 6 from the server; behind the proxy, which cannot know
    # the length, bursts of 8 (so 3).  Every burst holds whole events.
    assert len(ex.chunks) in (3, 4)
    assert all(chunk.endswith(b"\n\n") and chunk.count(b"\n\n") >= 6 for chunk in ex.chunks)
    assert len(clean.chunks) > 20
    _same_text(ex, clean)


def withheld_headers(ex: Exchange, clean: Exchange) -> None:
    generation = 20 * SLOW_DELAY
    assert ex.t_headers >= generation * 0.9  # the head came after the generation
    assert not ex.is_chunked and clean.is_chunked
    assert int(ex.headers["content-length"]) == len(ex.body)
    assert ex.headers["content-type"].startswith("text/event-stream")
    assert ex.complete
    assert data_events(ex.body)[-1] == "[DONE]"
    _same_text(ex, clean)


def _tool_fragments(ex: Exchange) -> list[dict[str, Any]]:
    return [
        call
        for c in _chunks_with_choices(ex)
        for call in c["choices"][0]["delta"].get("tool_calls") or []
    ]


def tool_index_missing(ex: Exchange, clean: Exchange) -> None:
    assert all("index" in call for call in _tool_fragments(clean))
    fragments = _tool_fragments(ex)
    assert fragments and not any("index" in call for call in fragments)
    assert fragments[0]["id"] and fragments[0]["function"]["name"] == "get_weather"
    assert _finishes(ex) == ["tool_calls"]


def tool_index_shared(ex: Exchange, clean: Exchange) -> None:
    fragments = _tool_fragments(ex)
    openings = [call for call in fragments if "id" in call]
    assert len(openings) == 2 and openings[0]["id"] != openings[1]["id"]
    assert {call["index"] for call in fragments} == {0}
    assert len({call["id"] for call in _tool_fragments(clean) if "id" in call}) == 1
    assert _finishes(ex) == ["tool_calls"]


def dead_runner_keepalive(ex: Exchange, clean: Exchange) -> None:
    events = data_events(ex.body)
    assert len(_content_chunks(ex)) == 3
    assert "[DONE]" not in events and _finishes(ex) == []
    last_data = ex.body.rindex(b"data: ")
    tail = ex.body[ex.body.index(b"\n\n", last_data) + 2 :]
    assert tail and tail.replace(b": keep-alive\n\n", b"") == b""
    assert tail.count(b": keep-alive") >= 2
    assert ex.t_eof - _time_at(ex, ex.raw.rindex(b"data: ")) >= STALL_CAP * 0.9
    assert ex.complete  # the server ended the body properly at its cap


def stream_500(ex: Exchange, clean: Exchange) -> None:
    assert clean.status == 200 and ex.status == 500
    assert ex.headers["content-type"] == "application/json"
    assert json.loads(ex.body)["error"]["type"] == "server_error"


def invalid_utf8(ex: Exchange, clean: Exchange) -> None:
    assert ex.body.count(b"\xff") == 1 and b"\xff" not in clean.body
    first = next(c for c in _content_chunks(clean))["choices"][0]["delta"]["content"]
    assert b'"content":"\xff' + first.encode() in ex.body


def unterminated_last(ex: Exchange, clean: Exchange) -> None:
    assert clean.body.endswith(b"data: [DONE]\n\n")
    assert ex.body.endswith(b"data: [DONE]\n") and not ex.body.endswith(b"\n\n")
    assert ex.body == clean_framing(clean.body, ex.body)[:-1]


def nonstream_text_plain(ex: Exchange, clean: Exchange) -> None:
    assert clean.headers["content-type"] == "application/json"
    assert ex.headers["content-type"] == "text/plain; charset=utf-8"
    assert (
        json.loads(ex.body)["choices"][0]["message"]
        == json.loads(clean.body)["choices"][0]["message"]
    )


def models_broken(ex: Exchange, clean: Exchange) -> None:
    listing, good = json.loads(ex.body), json.loads(clean.body)
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [m["id"] for m in good["data"]]
    for entry in listing["data"]:
        assert "object" not in entry and "owned_by" not in entry
        assert isinstance(entry["created"], str)


def content_not_string(ex: Exchange, clean: Exchange) -> None:
    parts = [c["choices"][0]["delta"]["content"] for c in _content_chunks(ex)]
    assert parts and all(isinstance(p, list) and p[0]["type"] == "text" for p in parts)
    assert "".join(p[0]["text"] for p in parts) == stream_text(clean.body)


def choice_index_wrong(ex: Exchange, clean: Exchange) -> None:
    assert {c["choices"][0]["index"] for c in _chunks_with_choices(ex)} == {1}
    assert {c["choices"][0]["index"] for c in _chunks_with_choices(clean)} == {0}


def nonstream_500(ex: Exchange, clean: Exchange) -> None:
    assert clean.status == 200 and ex.status == 500
    assert ex.headers["content-type"] == "application/json"
    assert int(ex.headers["content-length"]) == len(ex.body)
    assert json.loads(ex.body)["error"]["type"] == "server_error"


def auth_ignored(ex: Exchange, clean: Exchange) -> None:
    # Sent without a key to a server (or proxy) configured with one: served anyway.
    assert ex.status == 200
    assert ex.json()["choices"][0]["message"] == clean.json()["choices"][0]["message"]


CASES: dict[str, Case] = {
    "no-done": Case(STREAM, no_done),
    "data-after-done": Case(STREAM, data_after_done),
    "open-after-done": Case(STREAM, open_after_done),
    "buffered": Case(TIMED, buffered, SLOW_DELAY),
    "no-accel-header": Case(STREAM, header_dropped("x-accel-buffering")),
    "no-cache-header": Case(STREAM, header_dropped("cache-control")),
    "wrong-content-type": Case(STREAM, wrong_content_type),
    "gzip": Case(STREAM, gzipped),
    "role-missing": Case(STREAM, role_missing),
    "role-every-chunk": Case(STREAM, role_every_chunk),
    "id-changes": Case(STREAM, id_changes),
    "finish-reason-missing": Case(STREAM, finish_reason_missing),
    "finish-reason-twice": Case(STREAM, finish_reason_twice),
    "content-after-finish": Case(STREAM, content_after_finish),
    "usage-ignored": Case(USAGE, usage_ignored),
    "usage-on-a-choice": Case(USAGE, usage_on_a_choice),
    "usage-wrong-sum": Case(USAGE, usage_wrong_sum),
    "max-tokens-ignored": Case(chat_body(stream=True, max_tokens=3), max_tokens_ignored),
    "non-json-data": Case(STREAM, non_json_data),
    "error-as-200-json": Case(UNKNOWN_MODEL, error_as_200_json),
    "error-no-done": Case(STREAM, error_no_done),
    "silent-close": Case(STREAM, silent_close),
    "nonstream-mismatch": Case(COMPLETE, nonstream_mismatch),
    "nonstream-empty-body": Case(COMPLETE, nonstream_empty_body),
    "unknown-model-200": Case(UNKNOWN_MODEL, unknown_model_200),
    "detail-errors": Case(NO_MESSAGES, detail_errors),
    "midstream-error": Case(STREAM, midstream_error),
    "wrong-object": Case(STREAM, wrong_object),
    "bad-finish-reason": Case(STREAM, bad_finish_reason),
    "stream-500": Case(STREAM, stream_500),
    "invalid-utf8": Case(STREAM, invalid_utf8),
    "unterminated-last": Case(STREAM, unterminated_last),
    "nonstream-text-plain": Case(COMPLETE, nonstream_text_plain),
    "models-broken": Case(None, models_broken, path="/v1/models"),
    "content-not-string": Case(STREAM, content_not_string),
    "choice-index-wrong": Case(STREAM, choice_index_wrong),
    "mixed-streams": Case(STREAM, _same_text),  # alone; mixing: test_mixed_streams_...
    "nonstream-500": Case(COMPLETE, nonstream_500),
    "auth-ignored": Case(COMPLETE, auth_ignored),  # and test_auth_ignored_serves_...
    SEED_BUG: Case(STREAM, seed_bug),
    "bursts": Case(TIMED, bursts, SLOW_DELAY),
    "withheld-headers": Case(TIMED, withheld_headers, SLOW_DELAY),
    "cut-on-new-request": Case(STREAM, _same_text),  # alone; cutting: test_cut_on_new_...
    "tool-index-missing": Case(TOOLS, tool_index_missing),
    "tool-index-shared": Case(TOOLS, tool_index_shared),
    "dead-runner-keepalive": Case(STREAM, dead_runner_keepalive),
    "block-flush": Case(LONG, block_flush),
    "headers-stripped": Case(STREAM, headers_stripped),
    # Over a correct upstream there is nothing to hide or to keep reading: the
    # wire is unchanged (what each does: the two tests after the table).
    "error-to-finish": Case(STREAM, _same_text),
    UPSTREAM_KEPT: Case(STREAM, _same_text),
    # Right when asked once and alone; what goes wrong: tests/test_load_faults.py
    "done-sometimes": Case(STREAM, _same_text),
    "cross-talk": Case(STREAM, _same_text),
    "cut-under-load": Case(STREAM, _same_text),
}


# -- the Responses endpoint ------------------------------------------------------------

RESPONSES = "/v1/responses"
R_STREAM = {"model": MODEL, "input": "Say hello.", "stream": True}
R_CUT = {**R_STREAM, "input": "Write a long story.", "max_output_tokens": 16}


def _events(ex: Exchange) -> list[dict[str, Any]]:
    out = []
    for data in data_events(ex.body):
        try:
            out.append(json.loads(data))
        except ValueError:
            continue
    return out


def _kinds(ex: Exchange) -> list[str]:
    return [e["type"] for e in _events(ex)]


def _text(ex: Exchange) -> str:
    return "".join(e["delta"] for e in _events(ex) if e["type"] == "response.output_text.delta")


def limit_as_completed(faulty: Exchange, clean: Exchange) -> None:
    assert _kinds(clean)[-1] == "response.incomplete"
    end = _events(faulty)[-1]
    assert end["type"] == "response.completed" and end["response"]["status"] == "completed"
    assert end["response"]["incomplete_details"] is None
    assert _text(faulty) == _text(clean)


def failed_as_completed(faulty: Exchange, clean: Exchange) -> None:
    kinds = _kinds(faulty)
    assert "error" in kinds and "error" not in _kinds(clean)
    assert kinds[-1] == "response.completed"
    partial = _text(faulty)
    assert 0 < len(partial) < len(_text(clean)) and _text(clean).startswith(partial)
    assert [e["sequence_number"] for e in _events(faulty)] == list(range(len(kinds)))


def no_sequence(faulty: Exchange, clean: Exchange) -> None:
    assert all("sequence_number" in e for e in _events(clean))
    assert not any("sequence_number" in e for e in _events(faulty))
    assert _kinds(faulty) == _kinds(clean)


def delta_before_item(faulty: Exchange, clean: Exchange) -> None:
    kinds = _kinds(faulty)
    first_delta = kinds.index("response.output_text.delta")
    assert kinds.index("response.output_item.added") > first_delta
    assert sorted(kinds) == sorted(_kinds(clean))


def output_mismatch(faulty: Exchange, clean: Exchange) -> None:
    final = _events(faulty)[-1]["response"]["output"][0]["content"][0]["text"]
    assert _text(faulty) == _text(clean) and final != _text(faulty)
    assert _text(faulty).startswith(final)


def no_terminal(faulty: Exchange, clean: Exchange) -> None:
    assert _kinds(clean)[-1] == "response.completed"
    assert _kinds(faulty) == _kinds(clean)[:-1]


R_TOOLS = {
    **R_STREAM,
    "input": "What is the weather in Paris? Use get_weather.",
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object",
               "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
    "tool_choice": "required",
}  # fmt: skip


def bad_arguments(faulty: Exchange, clean: Exchange) -> None:
    def arguments(ex: Exchange) -> str:
        return str(_events(ex)[-1]["response"]["output"][0]["arguments"])

    json.loads(arguments(clean))
    with pytest.raises(ValueError):
        json.loads(arguments(faulty))
    assert arguments(clean).startswith(arguments(faulty))
    pieces = [e["delta"] for e in _events(faulty) if e["type"].endswith("arguments.delta")]
    assert "".join(pieces) == arguments(faulty)
    assert [e["sequence_number"] for e in _events(faulty)] == list(range(len(_events(faulty))))


RESPONSES_CASES = {
    "responses-bad-arguments": Case(R_TOOLS, bad_arguments, path=RESPONSES),
    "responses-limit-as-completed": Case(R_CUT, limit_as_completed, path=RESPONSES),
    "responses-failed-as-completed": Case(R_STREAM, failed_as_completed, path=RESPONSES),
    "responses-no-sequence": Case(R_STREAM, no_sequence, path=RESPONSES),
    "responses-delta-before-item": Case(R_STREAM, delta_before_item, path=RESPONSES),
    "responses-output-mismatch": Case(R_STREAM, output_mismatch, path=RESPONSES),
    "responses-no-terminal": Case(R_STREAM, no_terminal, path=RESPONSES),
}
CASES.update(RESPONSES_CASES)

API_ENTRY_NAMES = {f.name for f in API_FAULTS}
#: The faults this file tests on the wire: those of the Messages and Ollama endpoints
#: are run by tests/test_reference_other_apis.py.
CHAT_FAULTS = {name: f for name, f in FAULTS.items() if name not in API_ENTRY_NAMES}

PAIRS = [
    (name, mode)
    for name, fault in CHAT_FAULTS.items()
    for mode in ("server", "proxy")
    if fault.scope in ("server+proxy", mode)
]


def test_every_fault_has_a_case() -> None:
    assert set(CASES) == set(CHAT_FAULTS)


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(token_delay=DELAY)) as srv:
        yield srv


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(token_delay=SLOW_DELAY)) as srv:
        yield srv


@pytest.fixture(scope="module")
def start() -> Iterator[Callable[[Settings], ServerHandle]]:
    """Starts servers for the module and stops them together (each stop takes ~0.2 s)."""
    handles: list[ServerHandle] = []

    def start(settings: Settings) -> ServerHandle:
        handles.append(serve_in_thread(settings))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop(wait=False)
    for handle in handles:
        handle.stop()


@pytest.mark.parametrize(("name", "mode"), PAIRS, ids=[f"{n}-{m}" for n, m in PAIRS])
def test_fault_changes_the_wire(
    name: str,
    mode: str,
    upstream: ServerHandle,
    slow_upstream: ServerHandle,
    start: Callable[[Settings], ServerHandle],
) -> None:
    case = CASES[name]
    clean = slow_upstream if case.token_delay == SLOW_DELAY else upstream
    key = KEY if FAULTS[name].needs_key else None
    if mode == "proxy":
        settings = Settings(
            fault=name, hold_open=HOLD_OPEN, stall_cap=STALL_CAP, proxy_to=clean.url, api_key=key
        )
    else:
        settings = Settings(
            fault=name,
            hold_open=HOLD_OPEN,
            stall_cap=STALL_CAP,
            token_delay=case.token_delay,
            api_key=key,
        )
    faulty = start(settings)
    faulty_ex = exchange(faulty.url, case.request, path=case.path)
    case.check(faulty_ex, exchange(clean.url, case.request, path=case.path))


def test_mixed_streams_swap_tokens_between_concurrent_streams(
    start: Callable[[Settings], ServerHandle],
) -> None:
    srv = start(Settings(fault="mixed-streams", token_delay=SLOW_DELAY))
    clean = start(Settings(token_delay=SLOW_DELAY))
    bodies = [chat_body(f"prompt number {i}", stream=True, max_tokens=12) for i in range(2)]
    alone = [stream_text(exchange(clean.url, b).body) for b in bodies]
    assert alone[0] != alone[1]
    with ThreadPoolExecutor(2) as pool:
        mixed = [stream_text(x.body) for x in pool.map(lambda b: exchange(srv.url, b), bodies)]
    assert mixed != alone
    assert [stream_text(exchange(srv.url, b).body) for b in bodies] == alone


def test_usage_wrong_sum_also_skews_non_stream_answers(
    start: Callable[[Settings], ServerHandle],
) -> None:
    srv = start(Settings(fault="usage-wrong-sum", token_delay=DELAY))
    usage = exchange(srv.url, COMPLETE).json()["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + 1


def test_detail_errors_keep_other_statuses(start: Callable[[Settings], ServerHandle]) -> None:
    ex = exchange(start(Settings(fault="detail-errors", token_delay=DELAY)).url, UNKNOWN_MODEL)
    assert ex.status == 404
    assert set(ex.json()) == {"detail"}
    assert isinstance(ex.json()["detail"], str)


@pytest.mark.parametrize("name", ["no-done", "gzip", "bad-finish-reason", "bursts"])
def test_stream_faults_leave_non_stream_answers_alone(
    name: str, upstream: ServerHandle, start: Callable[[Settings], ServerHandle]
) -> None:
    ex = exchange(start(Settings(fault=name, token_delay=DELAY)).url, COMPLETE)
    assert ex.headers["content-type"] == "application/json"
    assert ex.json()["choices"] == exchange(upstream.url, COMPLETE).json()["choices"]


def test_truncating_faults_stop_the_generation(start: Callable[[Settings], ServerHandle]) -> None:
    srv = start(Settings(fault="silent-close", token_delay=DELAY))
    exchange(srv.url, STREAM)
    counts = exchange(srv.url, path="/v1/conformance/generations").json()
    assert counts == {"active": 0, "started": 1, "finished": 0, "cancelled": 1}


def test_nonstream_500_leaves_streams_alone(
    upstream: ServerHandle, start: Callable[[Settings], ServerHandle]
) -> None:
    ex = exchange(start(Settings(fault="nonstream-500", token_delay=DELAY)).url, STREAM)
    assert ex.status == 200
    assert data_events(ex.body)[-1] == "[DONE]"
    _same_text(ex, exchange(upstream.url, STREAM))


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models"])
def test_auth_ignored_serves_missing_and_wrong_keys(
    path: str, start: Callable[[Settings], ServerHandle]
) -> None:
    body = None if path == "/v1/models" else COMPLETE
    checked = start(Settings(token_delay=DELAY, api_key=KEY))
    ignored = start(Settings(fault="auth-ignored", token_delay=DELAY, api_key=KEY))
    for headers in ({}, {"Authorization": f"Bearer {KEY}-wrong"}):
        refused = exchange(checked.url, body, path=path, headers=headers)
        assert refused.status == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert exchange(ignored.url, body, path=path, headers=headers).status == 200
    right = {"Authorization": f"Bearer {KEY}"}
    assert exchange(ignored.url, body, path=path, headers=right).status == 200


def test_auth_ignored_needs_a_key() -> None:
    with pytest.raises(ValueError, match="needs --api-key"):
        Settings(fault="auth-ignored")


def _generations(url: str) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{url}/v1/conformance/generations").json()
    return counts


@pytest.mark.parametrize("mode", ["server", "proxy"])
def test_cut_on_new_request_ends_the_running_stream(
    mode: str, start: Callable[[Settings], ServerHandle]
) -> None:
    if mode == "proxy":
        upstream = start(Settings(token_delay=SLOW_DELAY * 2))
        srv = start(Settings(fault="cut-on-new-request", proxy_to=upstream.url))
    else:
        srv = start(Settings(fault="cut-on-new-request", token_delay=SLOW_DELAY * 2))
    url = f"{srv.url}/v1/chat/completions"
    body = chat_body("a long story", stream=True, max_tokens=100)  # 2 s of tokens
    with httpx.Client(timeout=20) as client, client.stream("POST", url, json=body) as running:
        lines = running.iter_lines()
        seen = []
        for line in lines:
            seen.append(line)
            if '"content":" ' in line:  # the first token: the stream is running
                break
        other = client.post(url, json=COMPLETE)  # another request arrives
        seen += list(lines)
    assert other.status_code == 200
    assert other.json()["choices"][0]["finish_reason"] == "stop"  # it is served in full
    data = [line.removeprefix("data: ") for line in seen if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert 1 <= sum(bool(c["choices"][0]["delta"].get("content")) for c in chunks) < 100


def test_bursts_come_during_the_generation(start: Callable[[Settings], ServerHandle]) -> None:
    srv = start(Settings(fault="bursts", token_delay=0.05))
    body = chat_body(stream=True, max_tokens=40)  # 44 writes, bursts of 11, 2 s of tokens
    with httpx.stream("POST", f"{srv.url}/v1/chat/completions", json=body, timeout=20) as r:
        reads = r.iter_raw()
        first = next(reads)
        during = _generations(srv.url)
        rest = b"".join(reads)
    assert b"[DONE]" not in first and first.endswith(b"\n\n")
    assert during["active"] == 1  # the first burst came while generating
    assert data_events(first + rest)[-1] == "[DONE]"


def test_dead_runner_keeps_the_body_open_until_the_client_leaves(
    start: Callable[[Settings], ServerHandle],
) -> None:
    srv = start(Settings(fault="dead-runner-keepalive", token_delay=DELAY, stall_cap=30.0))
    with httpx.stream("POST", f"{srv.url}/v1/chat/completions", json=STREAM, timeout=20) as r:
        after_data = 0
        data_seen = False
        for line in r.iter_lines():
            data_seen = data_seen or line.startswith("data: ")
            after_data += data_seen and line == ": keep-alive"
            if after_data >= 3:
                break
    # The generation stopped when the stall began, long before the cap.
    assert _generations(srv.url) == {"active": 0, "started": 1, "finished": 0, "cancelled": 1}
    assert exchange(srv.url, COMPLETE).status == 200


def test_error_to_finish_hides_an_upstream_error_behind_a_stop(
    start: Callable[[Settings], ServerHandle],
) -> None:
    failing = start(Settings(fault="midstream-error", token_delay=DELAY))
    proxy = start(Settings(fault="error-to-finish", proxy_to=failing.url))
    upstream, hidden = exchange(failing.url, STREAM), exchange(proxy.url, STREAM)
    assert any(e.startswith('{"error"') for e in data_events(upstream.body))
    events = data_events(hidden.body)
    assert not any(e.startswith('{"error"') for e in events)
    assert _finishes(hidden) == ["stop"] and events[-1] == "[DONE]"
    assert stream_text(hidden.body) == stream_text(upstream.body)


def _generations(url: str) -> dict[str, int]:
    reading: dict[str, int] = httpx.get(f"{url}/v1/conformance/generations", timeout=10).json()
    return reading


def test_upstream_kept_reads_the_upstream_to_its_end_after_the_client_left(
    start: Callable[[Settings], ServerHandle],
) -> None:
    upstream = start(Settings(token_delay=SLOW_DELAY))
    proxy = start(Settings(fault=UPSTREAM_KEPT, proxy_to=upstream.url))
    before = _generations(upstream.url)
    with (
        httpx.Client(timeout=20) as client,
        client.stream("POST", f"{proxy.url}/v1/chat/completions", json=LONG) as response,
    ):
        next(response.iter_bytes())  # the first bytes, then the client leaves
    # A wait, not a timing assertion: the generation ends by running to its end
    # (160 tokens, 1.6 s), never cancelled; 60 s allows for a loaded host.
    for _ in range(600):
        if (now := _generations(upstream.url))["finished"] > before["finished"]:
            break
        time.sleep(0.1)
    assert now["finished"] == before["finished"] + 1
    assert now["cancelled"] == before["cancelled"]
