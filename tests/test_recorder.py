"""The recorder against real loopback servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import tracemalloc
import zlib
from collections.abc import Sequence

import httpx
import pytest
from wire import (
    GB,
    MB,
    SSE_HEADERS,
    Conn,
    Handler,
    ThreadedServer,
    WireServer,
    drip_handler,
    gzip_pieces,
    gzip_sse_handler,
    hang_before_headers_handler,
    headers_then_nothing_handler,
    huge_body_handler,
    huge_line_handler,
    invalid_utf8_handler,
    redirect_handler,
    respond_handler,
    script_markup_handler,
    sse_events,
    sse_events_handler,
    sse_flood_handler,
    sse_forever_handler,
    unused_port,
)

from conformance.capture import (
    MIB,
    USER_AGENT,
    BodyBudget,
    Ending,
    Limits,
    Transcript,
    make_client,
    record,
)
from conformance.view import ChatView

KEY = "sk-test-0123456789abcdef"
STREAM = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


QUICK = Limits(deadline_s=10)
#: What a loaded 2-core machine may add to a deadline before the loop runs the
#: timeout.  Timing tests bound by the deadline plus this, which still tells
#: a deadline kept from one missed (the exchange would run for many seconds
#: more, or forever).
SCHEDULING_SLACK_S = 2.5


async def _record(
    handler: Handler,
    *,
    limits: Limits = QUICK,
    api_key: str | None = None,
    **kwargs: object,
) -> Transcript:
    async with WireServer(handler) as server, make_client(api_key=api_key) as client:
        return await record(
            client,
            "POST",
            server.url + "/v1/chat/completions",
            scenario="test",
            target=server.url,
            json=STREAM,
            limits=limits,
            **kwargs,  # type: ignore[arg-type]
        )


def _data(t: Transcript) -> list[str]:
    return [e.data for e in t.events]


# -- the deadline ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio
async def test_drip_feed_is_cut_at_the_total_deadline() -> None:
    body = b"data: a slow event\n\n" * 10
    start = time.monotonic()
    t = await _record(drip_handler(body, interval=1.0), limits=Limits(deadline_s=2))
    elapsed = time.monotonic() - start
    assert t.ending is Ending.DEADLINE
    # Undisturbed, the drip would take 200 s.
    assert elapsed < 2 + SCHEDULING_SLACK_S
    assert t.status == 200
    assert 1 <= len(t.body) <= 5 and body.startswith(t.body)  # what came before is kept
    assert [r.size for r in t.reads] == [1] * len(t.body)
    assert "2 s deadline" in t.ending_detail
    assert 1.9e9 <= t.t_end_ns <= (2 + SCHEDULING_SLACK_S) * 1e9


@pytest.mark.asyncio
async def test_no_answer_at_all_is_a_deadline() -> None:
    start = time.monotonic()
    t = await _record(hang_before_headers_handler(), limits=Limits(deadline_s=0.5))
    assert time.monotonic() - start < 0.5 + SCHEDULING_SLACK_S
    assert t.ending is Ending.DEADLINE
    assert t.status is None and t.t_headers_ns is None
    assert t.ending_detail == "no response within the 0.5 s deadline"


@pytest.mark.asyncio
async def test_headers_then_silence_keeps_the_status() -> None:
    t = await _record(headers_then_nothing_handler(), limits=Limits(deadline_s=0.5))
    assert t.ending is Ending.DEADLINE
    assert t.status == 200
    assert t.header("content-type") == "text/event-stream"
    assert t.t_headers_ns is not None and t.t_headers_ns < 0.5e9
    assert not t.reads
    assert "but no body" in t.ending_detail


@pytest.mark.asyncio
async def test_outer_cancellation_mid_body_still_closes_the_connection() -> None:
    gone = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.send_head(chunked=True)
        await conn.send_chunk(b"data: 1\n\n")
        if await conn.reader.read() == b"":
            gone.set()

    async with WireServer(handler) as server, make_client() as client:
        task = asyncio.create_task(
            record(client, "POST", server.url, scenario="t", target=server.url, json=STREAM)
        )
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(gone.wait(), 2)


@pytest.mark.asyncio
async def test_outer_cancellation_is_not_swallowed() -> None:
    # An outer timeout is the caller's, not the server's: it must propagate,
    # not turn into a transcript with ending=deadline.
    async with WireServer(hang_before_headers_handler()) as server, make_client() as client:
        call = record(client, "GET", server.url, scenario="t", target=server.url)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(call, 0.2)
        task = asyncio.create_task(
            record(client, "GET", server.url, scenario="t", target=server.url)
        )
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# -- caps --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_huge_body_stops_at_the_size_cap_in_bounded_memory(chunked: bool) -> None:
    limits = Limits(deadline_s=30, max_body_bytes=16 * MIB)
    tracemalloc.start()
    try:
        start = time.monotonic()
        t = await _record(huge_body_handler(GB, chunked=chunked), limits=limits)
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert t.ending is Ending.SIZE_CAP
    assert t.truncated
    assert len(t.body) == 16 * MIB
    assert sum(r.size for r in t.reads) == 16 * MIB
    assert elapsed < 20
    assert peak < 64 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert "16 MiB cap" in t.ending_detail


@pytest.mark.asyncio
async def test_endless_line_is_bounded() -> None:
    limits = Limits(deadline_s=30, max_body_bytes=4 * MIB, max_line_bytes=1 * MIB)
    t = await _record(huge_line_handler(50 * MB), limits=limits)
    assert t.ending is Ending.SIZE_CAP and t.truncated
    # Ended by the line cap, soon after it: not at the body cap.
    assert MIB < len(t.body) < 2 * MIB
    assert [d.code for d in t.diagnostics] == ["line-too-long"]
    assert "1 MiB line cap (max_line_bytes)" in t.ending_detail
    assert not t.events


#: A valid event of about 1.05 MB, one data line.
LONG_DATA = "".join(f"{i:07d} é😀 " for i in range(70_000))
LONG_EVENT = f"data: {LONG_DATA}\n\n".encode()


@pytest.mark.asyncio
async def test_a_line_past_the_line_cap_ends_the_exchange_and_keeps_what_came_before() -> None:
    before = sse_events(3, done=False)
    handler = sse_events_handler([*before, LONG_EVENT, b"data: [DONE]\n\n"])
    t = await _record(handler)  # the default line cap, 1 MiB
    assert len(LONG_EVENT) > 1_050_000 > MIB
    assert t.ending is Ending.SIZE_CAP and t.truncated
    assert "line cap (max_line_bytes)" in t.ending_detail
    offset = sum(len(e) for e in before)
    assert f"starts at byte {offset}" in t.ending_detail
    # The events before the long line are kept, exactly; none is cut.
    assert [e.data for e in t.events] == [e[6:-2].decode() for e in before]
    assert [d.code for d in t.diagnostics] == ["line-too-long"]


@pytest.mark.asyncio
async def test_a_long_line_under_the_line_cap_is_recorded_exactly() -> None:
    handler = sse_events_handler([LONG_EVENT, b"data: [DONE]\n\n"])
    t = await _record(handler, limits=Limits(deadline_s=10, max_line_bytes=2 * MIB))
    assert t.ending is Ending.COMPLETE
    assert _data(t) == [LONG_DATA, "[DONE]"]
    assert t.diagnostics == ()


@pytest.mark.asyncio
async def test_a_flood_of_tiny_events_is_cut_by_the_runs_budget() -> None:
    budget = BodyBudget(2 * MIB, floor=64 * 1024)
    limits = Limits(deadline_s=10, budget=budget)
    async with WireServer(sse_flood_handler()) as server, make_client() as client:
        endings = []
        for i in range(3):
            t = await record(
                client,
                "POST",
                server.url,
                json=STREAM,
                scenario=f"s{i}",
                target=server.url,
                limits=limits,
            )
            endings.append((t.ending, len(t.events)))
            assert t.truncated
            assert "the run's 2 MiB memory budget" in t.ending_detail
            # What came before the cut is kept, and judged as it is.
            assert t.events and all(e.data == "{}" for e in t.events)
    first, later = endings[0][1], [n for _, n in endings[1:]]
    assert all(ending is Ending.EVENT_CAP for ending, _ in endings)
    # The first exchange spends the budget (each event and read is charged,
    # so far fewer events than 2 MiB / 10 bytes); the others keep the floor.
    assert 2000 < first < 2 * MIB // 200
    assert all(0 < n < 64 * 1024 // 200 for n in later)
    assert budget.used <= budget.total + 3 * 64 * 1024


@pytest.mark.asyncio
async def test_events_past_the_event_cap() -> None:
    t = await _record(sse_forever_handler(), limits=Limits(deadline_s=10, max_events=5))
    assert t.ending is Ending.EVENT_CAP
    assert t.truncated
    assert _data(t) == [f'{{"n":{n}}}' for n in range(5)]


@pytest.mark.asyncio
async def test_gzip_bomb_stops_at_the_size_cap() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = b"0" * MIB
    body = comp.compress(b"data: ") + b"".join(comp.compress(zeros) for _ in range(64))
    body += comp.flush()
    assert len(body) < MIB
    headers = [*SSE_HEADERS, ("Content-Encoding", "gzip")]
    limits = Limits(deadline_s=10, max_body_bytes=8 * MIB)
    tracemalloc.start()
    try:
        t = await _record(respond_handler(200, headers, body), limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert t.ending is Ending.SIZE_CAP
    assert len(t.body) == 8 * MIB
    assert sum(r.wire for r in t.reads) <= len(body)
    assert peak < 48 * MIB, f"peak {peak / MIB:.1f} MiB"


@pytest.mark.asyncio
async def test_one_byte_chunks_past_the_read_cap_are_merged() -> None:
    body = b"".join(sse_events(30))

    async def one_byte_chunks(conn: Conn) -> None:
        await conn.send_head(chunked=True)
        for i in range(len(body)):
            await conn.send_chunk(body[i : i + 1])
        await conn.end_chunks()

    t = await _record(one_byte_chunks, limits=Limits(deadline_s=10, max_reads=100))
    assert t.ending is Ending.COMPLETE
    assert t.body == body and len(t.events) == 31
    assert len(t.reads) == 100
    assert sum(r.size for r in t.reads) == len(body)
    assert t.reads[-1].t_ns == t.events[-1].t_ns
    assert "reads past 100 merged" in t.ending_detail


# -- the connection breaks ---------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("then", ["reset", "close"])
async def test_broken_stream_keeps_what_came_before(then: str) -> None:
    events = sse_events(3, done=False)
    t = await _record(sse_events_handler(events, then=then))
    assert t.ending is Ending.RESET
    assert len(t.events) == 3
    assert t.body == b"".join(events)
    assert f"after {len(t.body)} bytes" in t.ending_detail


@pytest.mark.asyncio
async def test_close_before_any_response_is_a_reset() -> None:
    async def close_at_once(conn: Conn) -> None:
        pass

    t = await _record(close_at_once)
    assert t.ending is Ending.RESET
    assert t.status is None
    assert "before a response" in t.ending_detail


@pytest.mark.asyncio
async def test_refused_port_is_an_ending_not_an_exception() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    async with make_client() as client:
        t = await record(client, "GET", url + "/v1/models", scenario="t", target=url)
    assert t.ending is Ending.REFUSED
    assert t.status is None
    assert t.ending_detail.startswith("cannot connect")


@pytest.mark.asyncio
async def test_unsupported_url_is_refused() -> None:
    async with make_client() as client:
        t = await record(client, "GET", "ftp://example.invalid/", scenario="t", target="x")
    assert t.ending is Ending.REFUSED


@pytest.mark.asyncio
async def test_a_server_that_does_not_speak_http_is_a_protocol_ending() -> None:
    async def garbage(conn: Conn) -> None:
        await conn.send(b"HELLO THERE\r\n\r\n")

    t = await _record(garbage)
    assert t.ending is Ending.PROTOCOL
    assert t.status is None


@pytest.mark.asyncio
async def test_tls_to_a_plain_http_server_is_a_tls_ending() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        async with make_client() as client:
            t = await record(client, "GET", url, scenario="t", target=url)
    finally:
        server.close()
        await server.wait_closed()
    assert t.ending is Ending.TLS
    assert t.ending_detail.startswith("TLS handshake failed")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Limits(deadline_s=0)
    with pytest.raises(ValueError):
        Limits(max_line_bytes=0)


# -- content coding ----------------------------------------------------------


@pytest.mark.asyncio
async def test_gzip_stream_counts_wire_bytes_and_decodes_events() -> None:
    events = sse_events(4)
    t = await _record(gzip_sse_handler(events, interval=0.02))
    assert t.ending is Ending.COMPLETE
    assert t.header("content-encoding") == "gzip"
    assert t.body == b"".join(events)
    assert sum(r.wire for r in t.reads) == sum(len(p) for p in gzip_pieces(events))
    assert sum(r.size for r in t.reads) == len(t.body)
    assert [r.offset for r in t.reads] == [
        sum(r.size for r in t.reads[:i]) for i in range(len(t.reads))
    ]
    assert len(t.events) == 5 and t.events[-1].data == "[DONE]"
    assert not t.diagnostics


@pytest.mark.asyncio
@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_in_both_framings(wbits: int) -> None:
    plain = b"".join(sse_events(2))
    comp = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = comp.compress(plain) + comp.flush()
    headers = [*SSE_HEADERS, ("Content-Encoding", "deflate")]
    t = await _record(respond_handler(200, headers, body))
    assert t.ending is Ending.COMPLETE
    assert t.body == plain
    assert len(t.events) == 3


@pytest.mark.asyncio
async def test_unknown_encoding_is_kept_raw_and_noted() -> None:
    headers = [*SSE_HEADERS, ("Content-Encoding", "br")]
    t = await _record(respond_handler(200, headers, b"\x1b\x00\x00not really brotli"))
    assert t.ending is Ending.COMPLETE
    assert t.body == b"\x1b\x00\x00not really brotli"
    assert not t.events
    assert "content-encoding 'br' not decoded" in t.ending_detail


@pytest.mark.asyncio
async def test_corrupt_gzip_is_a_protocol_ending() -> None:
    headers = [*SSE_HEADERS, ("Content-Encoding", "gzip")]
    t = await _record(respond_handler(200, headers, b"this is not gzip at all"))
    assert t.ending is Ending.PROTOCOL
    assert "gzip body is corrupt" in t.ending_detail


# -- what the body says -------------------------------------------------------


@pytest.mark.asyncio
async def test_invalid_utf8_is_a_diagnostic() -> None:
    t = await _record(invalid_utf8_handler())
    assert t.ending is Ending.COMPLETE
    assert "invalid-utf8" in [d.code for d in t.diagnostics]
    assert len(t.events) == 3


@pytest.mark.asyncio
async def test_markup_is_recorded_verbatim() -> None:
    t = await _record(script_markup_handler())
    assert "<script>alert(1)</script>" in t.events[0].data
    assert t.events[1].type == "<script>x</script>"


@pytest.mark.asyncio
async def test_stream_with_a_wrong_content_type_is_still_decoded() -> None:
    body = b"".join(sse_events(2))
    t = await _record(respond_handler(200, [("Content-Type", "application/json")], body))
    assert len(t.events) == 3


@pytest.mark.asyncio
async def test_non_stream_json_is_not_decoded_as_events() -> None:
    body = b'{"object":"chat.completion"}'
    handler = respond_handler(200, [("Content-Type", "application/json")], body)
    async with WireServer(handler) as s, make_client() as client:
        t = await record(client, "POST", s.url, scenario="t", target=s.url, json={"stream": False})
    assert t.json() == {"object": "chat.completion"}
    assert not t.events and not t.diagnostics


@pytest.mark.asyncio
async def test_unterminated_last_event_is_flagged() -> None:
    t = await _record(sse_events_handler([b"data: 1\n\n", b"data: 2\n"]))
    assert t.ending is Ending.COMPLETE
    assert _data(t) == ["1"]
    assert [d.code for d in t.diagnostics] == ["unterminated"]


# -- timing ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_event_gaps_follow_the_server() -> None:
    t = await _record(sse_events_handler(sse_events(5), interval=0.1))
    gaps = ChatView(t).gaps_ms()
    assert len(gaps) == 5
    assert all(60 <= g <= 300 for g in gaps), gaps
    assert t.t_headers_ns is not None
    assert 0 < t.t_headers_ns <= t.reads[0].t_ns <= t.events[0].t_ns <= t.t_end_ns
    assert [e.t_ns for e in t.events] == sorted(e.t_ns for e in t.events)
    assert {e.t_ns for e in t.events} <= {r.t_ns for r in t.reads}


@pytest.mark.asyncio
async def test_drop_after_events_closes_the_connection() -> None:
    disconnected = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.send_head(chunked=True)
        try:
            for event in sse_events(10):
                await conn.send_chunk(event)
                await asyncio.sleep(0.03)
            if await conn.reader.read() == b"":  # the client closed its side
                disconnected.set()
        except ConnectionError:  # a write hit the closed connection
            disconnected.set()

    async with WireServer(handler) as server, make_client() as client:
        t = await record(
            client,
            "POST",
            server.url,
            scenario="t",
            target=server.url,
            json=STREAM,
            drop_after_events=3,
        )
        await asyncio.wait_for(disconnected.wait(), 2)
    assert t.ending is Ending.DROPPED
    assert len(t.events) == 3
    assert t.ended_cleanly and not t.truncated


# -- headers, redirects and secrets -------------------------------------------


@pytest.mark.asyncio
async def test_duplicate_headers_are_kept_in_order() -> None:
    headers = [
        ("Content-Type", "text/event-stream"),
        ("Set-Cookie", "a=1"),
        ("X-Dup", "one"),
        ("Set-Cookie", "b=2"),
        ("x-dup", "two"),
    ]
    t = await _record(respond_handler(200, headers, b"data: [DONE]\n\n"))
    assert t.header_values("set-cookie") == ["a=1", "b=2"]
    assert t.header_values("X-DUP") == ["one", "two"]
    assert [k for k, _ in t.headers][:5] == [k for k, _ in headers]


@pytest.mark.asyncio
async def test_redirect_is_recorded_not_followed() -> None:
    async with WireServer(sse_events_handler(sse_events(1))) as other:
        location = other.url + "/v1/chat/completions"
        t = await _record(redirect_handler(location), api_key=KEY)
        assert other.requests == []  # neither the request nor the key went there
    assert t.status == 307
    assert t.ending is Ending.COMPLETE
    assert t.header("location") == location
    assert KEY not in json.dumps(t.to_json())


@pytest.mark.asyncio
async def test_secrets_never_reach_the_transcript() -> None:
    async def echo(conn: Conn) -> None:
        auth = conn.request.header("authorization") or ""
        event = b'data: {"error":"bad key %s"}\n\n' % auth.encode()
        await conn.send_head(200, [*SSE_HEADERS, ("X-Seen-Auth", auth)], chunked=True)
        await conn.send_chunk(b": " + auth.encode() + b"\n" + event)
        conn.reset()

    async with WireServer(echo) as server, make_client(api_key=KEY) as client:
        t = await record(
            client,
            "POST",
            server.url + f"/v1/chat/completions?k={KEY}",
            scenario="t",
            target=server.url,
            json=STREAM,
            secrets=[KEY],
        )
        assert server.requests[0].header("authorization") == f"Bearer {KEY}"
    dump = json.dumps(t.to_json())
    assert KEY not in dump
    assert t.request.url.endswith("?k=***")
    assert KEY.encode() not in base64.b64decode(t.to_json()["body"])
    assert dict(t.request.headers)["authorization"] == "Bearer ***"
    assert t.header("x-seen-auth") == "Bearer ***"
    assert len(t.body) == sum(r.size for r in t.reads)  # masking keeps offsets true


@pytest.mark.asyncio
async def test_authorization_is_masked_even_without_secrets() -> None:
    t = await _record(respond_handler(200, SSE_HEADERS, b""), api_key=KEY)
    assert dict(t.request.headers)["authorization"] == "Bearer ***"


@pytest.mark.asyncio
async def test_client_identifies_itself_and_ignores_proxy_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port()}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{unused_port()}")
    async with WireServer(respond_handler(200, SSE_HEADERS, b"data: [DONE]\n\n")) as server:
        async with make_client() as client:
            t = await record(client, "GET", server.url, scenario="t", target=server.url)
        sent = server.requests[0]
    assert t.ending is Ending.COMPLETE
    assert sent.header("user-agent") == USER_AGENT
    assert sent.header("authorization") is None
    assert sent.header("accept-encoding") == "gzip, deflate"


# -- the transcript as data ---------------------------------------------------


@pytest.mark.asyncio
async def test_json_round_trip_is_exact() -> None:
    t = await _record(sse_events_handler([b": hello\n\n", *sse_events(3)], interval=0.01))
    data = json.loads(json.dumps(t.to_json()))
    back = Transcript.from_json(data)
    assert back == t
    assert back.to_json() == t.to_json()
    assert [e.t_ns for e in back.events] == [e.t_ns for e in t.events]
    assert t.comments[0].text == "hello" and t.comments[0].t_ns > 0


def test_threaded_server_serves_sync_callers() -> None:
    events: Sequence[bytes] = sse_events(2)
    with ThreadedServer(sse_events_handler(events)) as server:
        response = httpx.post(server.url, json=STREAM, timeout=5)
        assert server.requests[0].method == "POST"
    assert response.content == b"".join(events)


@pytest.mark.asyncio
async def test_a_body_left_open_after_done_is_not_waited_for() -> None:
    handler = sse_events_handler(sse_events(3, done=True), then="hang")
    start = time.monotonic()
    t = await _record(handler, limits=Limits(deadline_s=30, after_done_s=0.5))
    elapsed = time.monotonic() - start
    assert elapsed < 0.5 + SCHEDULING_SLACK_S  # not the 30 s deadline
    assert t.ending is Ending.DEADLINE
    assert "still open" in t.ending_detail and "[DONE]" in t.ending_detail
    assert t.events[-1].data == "[DONE]"


@pytest.mark.asyncio
async def test_the_after_done_wait_never_extends_the_deadline() -> None:
    handler = sse_events_handler(sse_events(3, done=True), interval=0.3, then="hang")
    start = time.monotonic()
    t = await _record(handler, limits=Limits(deadline_s=1.0, after_done_s=10))
    assert time.monotonic() - start < 1.0 + SCHEDULING_SLACK_S  # not the 10 s after [DONE]
    assert t.ending is Ending.DEADLINE
