"""The faults only repetition or load reveal, on the wire: right once and alone,
wrong on the fourth identical request or past 8 streams in flight."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_reference_support import chat_body, data_events, exchange, json_chunks, stream_text

from conformance.reference import ServerHandle, Settings, serve_in_thread
from conformance.reference.load_faults import BUSY_ABOVE, CUT_AFTER, EVERY
from conformance.scenarios.nonce import make_nonce, nonce_prompt, nonces_in

#: Slow enough that BUSY_ABOVE + 4 streams started together overlap on any host.
DELAY = 0.05
MANY = BUSY_ABOVE + 4


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(fault=request.param, token_delay=DELAY)) as srv:
        yield srv


def _at_once(url: str, bodies: list[dict[str, object]]) -> list[bytes]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return [x.body for x in pool.map(lambda b: exchange(url, b, timeout=60), bodies)]


def _nonce_bodies(count: int) -> tuple[list[str], list[dict[str, object]]]:
    nonces = [make_nonce() for _ in range(count)]
    return nonces, [chat_body(nonce_prompt(n), stream=True, max_tokens=12) for n in nonces]


def test_the_reference_echoes_the_nonce_first() -> None:
    with serve_in_thread(Settings(token_delay=0.0)) as srv:
        nonce = make_nonce()
        text = stream_text(exchange(srv.url, chat_body(nonce_prompt(nonce), stream=True)).body)
    assert text.split()[0] == nonce and nonces_in(text) == [nonce]


@pytest.mark.parametrize("server", ["done-sometimes"], indirect=True)
def test_done_sometimes_drops_done_on_every_fourth_identical_request(
    server: ServerHandle,
) -> None:
    body = chat_body(stream=True, max_tokens=3)
    other = chat_body("Something else.", stream=True, max_tokens=3)
    ends = []
    for i in range(2 * EVERY):
        ends.append(data_events(exchange(server.url, body).body)[-1])
        if i in (0, 2):  # another request between them does not count for this one
            assert data_events(exchange(server.url, other).body)[-1] == "[DONE]"
    dropped = [i for i, end in enumerate(ends) if end != "[DONE]"]
    assert dropped == [EVERY - 1, 2 * EVERY - 1]


@pytest.mark.parametrize("server", ["cross-talk"], indirect=True)
def test_cross_talk_mixes_nonces_only_past_the_busy_mark(server: ServerHandle) -> None:
    nonces, bodies = _nonce_bodies(BUSY_ABOVE)
    few = [nonces_in(stream_text(b)) for b in _at_once(server.url, bodies)]
    assert few == [[n] for n in nonces]
    nonces, bodies = _nonce_bodies(MANY)
    many = [nonces_in(stream_text(b)) for b in _at_once(server.url, bodies)]
    foreign = [found for found, own in zip(many, nonces, strict=True) if found != [own]]
    assert foreign, many


@pytest.mark.parametrize("server", ["cut-under-load"], indirect=True)
def test_cut_under_load_cuts_streams_past_the_busy_mark(server: ServerHandle) -> None:
    _, bodies = _nonce_bodies(BUSY_ABOVE)
    assert all(data_events(b)[-1] == "[DONE]" for b in _at_once(server.url, bodies))
    _, bodies = _nonce_bodies(MANY)
    cut = [b for b in _at_once(server.url, bodies) if data_events(b)[-1] != "[DONE]"]
    assert cut
    for body in cut:
        chunks = json_chunks(body)
        assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) == CUT_AFTER
        assert all(c["choices"][0].get("finish_reason") is None for c in chunks)
