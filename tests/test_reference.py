"""The reference server, over real loopback sockets: shape, determinism, options, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_reference_support import (
    FAST,
    MODEL,
    Exchange,
    chat_body,
    data_events,
    exchange,
    json_chunks,
    stream_text,
)

from conformance.reference import MODELS, ServerHandle, Settings, serve_in_thread
from conformance.reference.text import LONG_LENGTH, NATURAL_LENGTH


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    """A correct reference server with a small token delay, shared by the module."""
    with serve_in_thread(Settings(token_delay=FAST)) as handle:
        yield handle


def _stream(srv: ServerHandle, **options: Any) -> Exchange:
    return exchange(srv.url, chat_body(stream=True, **options))


def _complete(srv: ServerHandle, **options: Any) -> dict[str, Any]:
    ex = exchange(srv.url, chat_body(**options))
    assert ex.status == 200, ex.body
    result: dict[str, Any] = ex.json()
    return result


def _content(body: dict[str, Any]) -> str:
    content: str = body["choices"][0]["message"]["content"]
    return content


# -- listing --------------------------------------------------------------------


def test_models_lists_the_reference_models(server: ServerHandle) -> None:
    ex = exchange(server.url, path="/v1/models")
    assert ex.status == 200
    assert ex.headers["content-type"] == "application/json"
    listing = ex.json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == list(MODELS)
    for model in listing["data"]:
        assert model["object"] == "model"
        assert model["owned_by"] == "exo-conformance"
        assert isinstance(model["created"], int)


# -- the stream -----------------------------------------------------------------


def test_stream_headers(server: ServerHandle) -> None:
    # httpx keeps the connection alive, so the server's own Connection header shows.
    url = f"{server.url}/v1/chat/completions"
    response = httpx.post(url, json=chat_body(stream=True, max_tokens=2))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["connection"] == "keep-alive"
    assert "content-encoding" not in response.headers


def test_stream_shape(server: ServerHandle) -> None:
    ex = _stream(server)
    assert ex.complete
    assert ex.body.startswith(b": keep-alive\n\n")
    assert ex.body.endswith(b"data: [DONE]\n\n")
    events = data_events(ex.body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert len({c["created"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {MODEL}
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["system_fingerprint"] == "exo-reference"
        assert "usage" not in chunk
        (choice,) = chunk["choices"]
        assert choice["index"] == 0
        assert choice["logprobs"] is None
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[-1] == {}
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    for delta in deltas[1:-1]:
        assert list(delta) == ["content"]
        assert delta["content"].startswith(" ")
        assert " " not in delta["content"][1:]  # exactly one word per chunk


def test_each_event_is_its_own_write(server: ServerHandle) -> None:
    ex = _stream(server)
    # The keep-alive comment, every chunk and [DONE]: one chunked frame each.
    assert len(ex.chunks) == len(data_events(ex.body)) + 1


def test_tokens_are_paced_by_the_token_delay() -> None:
    with serve_in_thread(Settings(token_delay=0.03)) as srv:
        ex = _stream(srv, max_tokens=8)
    times = [t for t, _ in ex.reads]
    assert times[-1] - times[0] >= 8 * 0.03 * 0.9
    assert len(ex.reads) >= 5  # the events arrived spread out, not in one burst


def test_natural_and_long_lengths(server: ServerHandle) -> None:
    natural = _complete(server)["usage"]["completion_tokens"]
    assert abs(natural - NATURAL_LENGTH) <= 4
    long_body = chat_body("Tell me a long story.")
    long_run = exchange(server.url, long_body).json()
    assert abs(long_run["usage"]["completion_tokens"] - LONG_LENGTH) <= 4


def test_multibyte_vocabulary_on_request(server: ServerHandle) -> None:
    text = _content(_complete(server, messages=[{"role": "user", "content": "emoji please"}]))
    assert any(ord(ch) > 0xFFFF for ch in text)  # four-byte UTF-8
    assert any(0x80 <= ord(ch) <= 0x7FF for ch in text)  # two-byte UTF-8
    assert _content(_complete(server)).isascii()


# -- determinism and consistency ------------------------------------------------


def test_same_request_same_text(server: ServerHandle) -> None:
    first, second = _complete(server), _complete(server)
    assert _content(first) == _content(second)
    assert first["id"] != second["id"]


def test_seed_model_and_prompt_change_the_text(server: ServerHandle) -> None:
    base = _content(_complete(server))
    assert _content(_complete(server, seed=8)) != base
    assert _content(_complete(server, model=MODELS[1])) != base
    assert _content(_complete(server, messages=[{"role": "user", "content": "Hi."}])) != base


def test_stream_and_non_stream_agree(server: ServerHandle) -> None:
    for options in ({}, {"max_tokens": 5}, {"messages": [{"role": "user", "content": "unicode"}]}):
        streamed = _stream(server, **options)
        body = _complete(server, **options)
        chunks = json_chunks(streamed.body)
        assert stream_text(streamed.body) == _content(body)
        finish = chunks[-1]["choices"][0]["finish_reason"]
        assert finish == body["choices"][0]["finish_reason"]
        assert len(chunks) - 2 == body["usage"]["completion_tokens"]


def test_nondeterministic_answers_differ() -> None:
    with serve_in_thread(Settings(token_delay=0.001, nondeterministic=True)) as srv:
        texts = {_content(_complete(srv)) for _ in range(3)}
    assert len(texts) == 3


# -- options --------------------------------------------------------------------


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_ends_with_length(server: ServerHandle, param: str) -> None:
    ex = _stream(server, **{param: 4})
    chunks = json_chunks(ex.body)
    assert len(chunks) == 4 + 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    body = _complete(server, **{param: 4})
    assert body["usage"]["completion_tokens"] == 4
    assert body["choices"][0]["finish_reason"] == "length"


def test_max_tokens_beyond_the_text_changes_nothing(server: ServerHandle) -> None:
    assert _complete(server, max_tokens=1000)["choices"][0]["finish_reason"] == "stop"


def test_stop_cuts_before_the_first_stop_string(server: ServerHandle) -> None:
    full = _content(_complete(server))
    word = full.split()[5]
    for stop in (" " + word, ["zzz", " " + word], word[1:], [word[1:], " " + word]):
        stops = [stop] if isinstance(stop, str) else stop
        expected = full[: min(full.index(s) for s in stops if s in full)]
        body = _complete(server, stop=stop)
        assert _content(body) == expected
        assert body["choices"][0]["finish_reason"] == "stop"
        streamed = _stream(server, stop=stop).body
        assert stream_text(streamed) == expected
        assert json_chunks(streamed)[-1]["choices"][0]["finish_reason"] == "stop"


def test_include_usage(server: ServerHandle) -> None:
    ex = _stream(server, stream_options={"include_usage": True})
    events = data_events(ex.body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    *regular, last = chunks
    assert all(c["usage"] is None and c["choices"] for c in regular)
    assert last["choices"] == []
    usage = last["usage"]
    assert usage["completion_tokens"] == len(regular) - 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert len({c["id"] for c in chunks}) == 1


def test_include_usage_false_adds_nothing(server: ServerHandle) -> None:
    ex = _stream(server, stream_options={"include_usage": False})
    assert all("usage" not in c for c in json_chunks(ex.body))


# -- errors ---------------------------------------------------------------------


def _assert_error(ex: Exchange, status: int, param: str | None) -> dict[str, Any]:
    assert ex.status == status, ex.body
    assert ex.headers["content-type"] == "application/json"
    error: dict[str, Any] = ex.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    return error


@pytest.mark.parametrize("stream", [False, True])
def test_invalid_requests_get_json_errors_before_any_stream(
    server: ServerHandle, stream: bool
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    cases: list[tuple[bytes | dict[str, Any], int, str | None]] = [
        (b'{"model": "x", "messages": [', 400, None),
        ({"model": MODEL, "stream": stream}, 400, "messages"),
        ({"model": MODEL, "messages": [], "stream": stream}, 400, "messages"),
        ({"model": "no-such-model", "messages": messages, "stream": stream}, 404, None),
        ({"model": MODEL, "messages": messages, "stream": stream, "max_tokens": 0}, 400,
         "max_tokens"),
        ({"model": MODEL, "messages": messages, "stream": stream, "stop": 5}, 400, "stop"),
    ]  # fmt: skip
    for body, status, param in cases:
        ex = exchange(server.url, body)
        _assert_error(ex, status, param)
        assert not ex.is_chunked  # a complete JSON body, never a stream


def test_error_codes(server: ServerHandle) -> None:
    unknown = exchange(server.url, chat_body(model="no-such-model"))
    assert _assert_error(unknown, 404, None)["code"] == "model_not_found"
    missing = exchange(server.url, {"model": MODEL})
    assert _assert_error(missing, 400, "messages")["code"] == "missing_required_parameter"


def test_stream_options_need_stream(server: ServerHandle) -> None:
    ex = exchange(server.url, chat_body(stream_options={"include_usage": True}))
    _assert_error(ex, 400, "stream_options")


def test_unknown_paths_answer_in_the_envelope(server: ServerHandle) -> None:
    ex = exchange(server.url, path="/v1/nothing-here")
    assert ex.status == 404
    assert "error" in ex.json()


# -- authentication -------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed() -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(token_delay=0.001, api_key="sesame")) as srv:
        yield srv


@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions"])
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "sesame", "Basic sesame"])
def test_wrong_or_missing_key_is_refused(
    keyed: ServerHandle, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = chat_body(stream=True) if path.endswith("completions") else None
    ex = exchange(keyed.url, body, path=path, headers=headers)
    assert _assert_error(ex, 401, None)["code"] == "invalid_api_key"


def test_right_key_is_served(keyed: ServerHandle) -> None:
    headers = {"Authorization": "Bearer sesame"}
    assert exchange(keyed.url, path="/v1/models", headers=headers).status == 200
    ex = exchange(keyed.url, chat_body(stream=True), headers=headers)
    assert data_events(ex.body)[-1] == "[DONE]"


# -- disconnects ----------------------------------------------------------------


def _generations(url: str) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{url}/v1/conformance/generations").json()
    return counts


def _wait_for(url: str, expected: dict[str, int], timeout: float = 5.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while (counts := _generations(url)) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return counts


def drop_stream_after(url: str, events: int) -> None:
    """Start a long stream, read a few events, then hang up."""
    body = chat_body("A long one, please.", stream=True)
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{url}/v1/chat/completions", json=body) as response,
    ):
        seen = 0
        for line in response.iter_lines():
            seen += line.startswith("data: ")
            if seen >= events:
                break


def test_dropped_stream_stops_generation() -> None:
    with serve_in_thread(Settings(token_delay=0.01)) as srv:
        assert _generations(srv.url) == {"active": 0, "started": 0, "finished": 0, "cancelled": 0}
        drop_stream_after(srv.url, 3)
        counts = _wait_for(srv.url, {"active": 0, "started": 1, "finished": 0, "cancelled": 1})
        assert counts == {"active": 0, "started": 1, "finished": 0, "cancelled": 1}
        # ...and the next request is served in full.
        assert data_events(_stream(srv, max_tokens=2).body)[-1] == "[DONE]"
        assert _generations(srv.url)["finished"] == 1


def test_finished_generations_are_counted(server: ServerHandle) -> None:
    before = _generations(server.url)
    _stream(server, max_tokens=2)
    _complete(server, max_tokens=2)
    after = _generations(server.url)
    assert after["finished"] - before["finished"] == 2
    assert after["active"] == 0
