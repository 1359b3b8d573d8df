"""The reference proxy in front of real reference servers: passthrough, errors, seed-bug."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from test_reference_support import (
    MODEL,
    Exchange,
    chat_body,
    data_events,
    exchange,
    json_chunks,
    stream_text,
)

from conformance.reference import ServerHandle, Settings, serve_in_thread

DELAY = 0.002
Start = Callable[[Settings], ServerHandle]


@pytest.fixture(scope="module")
def start() -> Iterator[Start]:
    handles: list[ServerHandle] = []

    def start(settings: Settings) -> ServerHandle:
        handles.append(serve_in_thread(settings))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop(wait=False)
    for handle in handles:
        handle.stop()


@pytest.fixture(scope="module")
def upstream(start: Start) -> ServerHandle:
    return start(Settings(token_delay=DELAY))


@pytest.fixture(scope="module")
def proxy(start: Start, upstream: ServerHandle) -> ServerHandle:
    return start(Settings(proxy_to=upstream.url))


_IDENTITY = re.compile(rb'"id":"chatcmpl-[0-9a-f]+","object":"([a-z.]+)","created":\d+')


def _anonymous(body: bytes) -> bytes:
    """The body without the per-answer id and creation time."""
    return _IDENTITY.sub(rb'"id":"-","object":"\1","created":0', body)


# -- passthrough ------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_body",
    [
        chat_body(stream=True),
        chat_body("unicode", stream=True, stream_options={"include_usage": True}),
        chat_body(stream=True, max_tokens=4, stop=["zzz"]),
        chat_body(),
        chat_body(max_tokens=4),
    ],
    ids=["stream", "usage-unicode", "max-tokens", "complete", "complete-max-tokens"],
)
def test_proxy_answers_like_the_server_alone(
    request_body: dict[str, Any], upstream: ServerHandle, proxy: ServerHandle
) -> None:
    direct, proxied = exchange(upstream.url, request_body), exchange(proxy.url, request_body)
    assert proxied.status == direct.status == 200
    assert proxied.headers["content-type"] == direct.headers["content-type"]
    assert _anonymous(proxied.body) == _anonymous(direct.body)
    assert proxied.complete


def test_proxy_keeps_stream_headers(proxy: ServerHandle) -> None:
    ex = exchange(proxy.url, chat_body(stream=True, max_tokens=2))
    assert ex.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert ex.headers["cache-control"] == "no-cache"
    assert ex.headers["x-accel-buffering"] == "no"


def test_proxy_lists_the_upstream_models(upstream: ServerHandle, proxy: ServerHandle) -> None:
    direct = exchange(upstream.url, path="/v1/models")
    proxied = exchange(proxy.url, path="/v1/models")
    assert proxied.status == 200
    assert proxied.body == direct.body


def test_proxy_streams_incrementally(start: Start) -> None:
    slow = start(Settings(token_delay=0.02))
    ex = exchange(start(Settings(proxy_to=slow.url)).url, chat_body(stream=True, max_tokens=10))
    times = [t for t, _ in ex.reads]
    assert times[-1] - times[0] >= 10 * 0.02 * 0.8
    assert len(ex.reads) >= 6


def test_proxy_relays_an_upstream_fault_byte_for_byte(start: Start) -> None:
    for fault in ("crlf", "no-done", "cr"):
        faulty = start(Settings(fault=fault, token_delay=DELAY))
        proxied = exchange(start(Settings(proxy_to=faulty.url)).url, chat_body(stream=True))
        direct = exchange(faulty.url, chat_body(stream=True))
        assert _anonymous(proxied.body) == _anonymous(direct.body), fault


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}, 404),
        ({"model": MODEL}, 400),
        (b"{not json", 400),
    ],
)
def test_upstream_errors_pass_through_as_json(
    upstream: ServerHandle,
    proxy: ServerHandle,
    body: dict[str, Any] | bytes,
    status: int,
    stream: bool,
) -> None:
    if isinstance(body, dict):
        body = body | {"stream": stream}
    direct, proxied = exchange(upstream.url, body), exchange(proxy.url, body)
    assert direct.status == proxied.status == status
    assert proxied.headers["content-type"] == "application/json"
    assert not proxied.is_chunked
    assert proxied.json() == direct.json()


def test_upstream_key_is_forwarded(start: Start) -> None:
    keyed = start(Settings(token_delay=DELAY, api_key="sesame"))
    proxy = start(Settings(proxy_to=keyed.url))
    good = {"Authorization": "Bearer sesame"}
    assert exchange(proxy.url, chat_body(stream=True), headers=good).status == 200
    refused = exchange(proxy.url, chat_body(stream=True), headers={"Authorization": "Bearer x"})
    assert refused.status == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


def test_proxy_checks_its_own_key(start: Start, upstream: ServerHandle) -> None:
    proxy = start(Settings(proxy_to=upstream.url, api_key="gate"))
    assert exchange(proxy.url, chat_body()).status == 401
    assert exchange(proxy.url, path="/v1/models").status == 401
    assert exchange(proxy.url, chat_body(), headers={"Authorization": "Bearer gate"}).status == 200


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("body", "path"),
    [(chat_body(stream=True), "/v1/chat/completions"), (chat_body(), "/v1/chat/completions"),
     (None, "/v1/models")],
    ids=["stream", "complete", "models"],
)  # fmt: skip
def test_unreachable_upstream_is_a_502_json_error(
    start: Start, body: dict[str, Any] | None, path: str
) -> None:
    proxy = start(Settings(proxy_to=_closed_port()))
    ex = exchange(proxy.url, body, path=path)
    assert ex.status == 502
    assert ex.headers["content-type"] == "application/json"
    error = ex.json()["error"]
    assert error["type"] == "server_error"
    assert error["code"] == "upstream_error"


def test_upstream_failure_mid_stream_becomes_an_error_event(
    start: Start, upstream: ServerHandle
) -> None:
    # A seed-bug proxy sends a head and then breaks its body: an upstream
    # that fails after streaming has begun.
    broken = start(Settings(proxy_to=upstream.url, fault="seed-bug"))
    ex = exchange(start(Settings(proxy_to=broken.url)).url, chat_body(stream=True))
    assert ex.status == 200
    assert ex.complete
    events = data_events(ex.body)
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["code"] == "upstream_error"
    assert set(error) == {"message", "type", "param", "code"}


# -- seed-bug -------------------------------------------------------------------


def test_seed_bug_breaks_every_stream_and_survives(start: Start, upstream: ServerHandle) -> None:
    broken = start(Settings(proxy_to=upstream.url, fault="seed-bug"))
    for _ in range(2):
        ex = exchange(broken.url, chat_body(stream=True))
        assert ex.status == 200  # the head went out before the body failed
        assert not ex.complete
        assert data_events(ex.body) == []
    # The process is still up, and the non-stream path was never broken.
    ex = exchange(broken.url, chat_body())
    assert ex.status == 200
    assert ex.json()["choices"][0]["message"]["content"]


def test_seed_bug_fails_for_an_http_client(start: Start, upstream: ServerHandle) -> None:
    broken = start(Settings(proxy_to=upstream.url, fault="seed-bug"))
    url = f"{broken.url}/v1/chat/completions"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json=chat_body(stream=True))


def test_seed_bug_passes_upstream_errors(start: Start, upstream: ServerHandle) -> None:
    broken = start(Settings(proxy_to=upstream.url, fault="seed-bug"))
    ex = exchange(broken.url, chat_body(stream=True, model="no-such-model"))
    assert ex.status == 404
    assert ex.json()["error"]["code"] == "model_not_found"


# -- disconnects ----------------------------------------------------------------


def _counts(url: str) -> dict[str, int]:
    result: dict[str, int] = httpx.get(f"{url}/v1/conformance/generations").json()
    return result


def test_dropping_a_proxied_stream_stops_the_upstream_generation(start: Start) -> None:
    slow = start(Settings(token_delay=0.01))
    proxy = start(Settings(proxy_to=slow.url))
    body = chat_body("long", stream=True)
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{proxy.url}/v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        while not next(lines).startswith("data: {"):
            pass
    deadline = time.monotonic() + 5
    expected = {"active": 0, "started": 1, "finished": 0, "cancelled": 1}
    while (counts := _counts(proxy.url)) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert counts == expected
    ex: Exchange = exchange(proxy.url, chat_body(stream=True, max_tokens=2))
    assert stream_text(ex.body)
    assert json_chunks(ex.body)[-1]["choices"][0]["finish_reason"] == "length"


def test_an_upstream_answer_that_is_not_a_stream_passes_as_it_is(start: Start) -> None:
    lax = start(Settings(fault="error-as-200-json", token_delay=DELAY))
    body = chat_body(stream=True, model="no-such-model")
    direct, proxied = exchange(lax.url, body), exchange(start(Settings(proxy_to=lax.url)).url, body)
    assert direct.status == proxied.status == 200
    assert proxied.headers["content-type"] == "application/json"
    assert proxied.json() == direct.json()
