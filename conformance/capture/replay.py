"""Serve a recorded exchange again, from a loopback socket, as it arrived.

A client (an official SDK) pointed at the replay reads the very bytes the
harness judged, in the same reads, with the same pauses between them, so what
the client makes of them is about that exchange, not about a second request
that may have gone differently.  Every request the replay gets is answered
with the recording; nothing is sent anywhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .transcript import Transcript

__all__ = ["replay_server"]

#: Response headers the replay sets itself: framing and compression are its
#: own (the recorded body is already decoded).
_OWN_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"}
)
#: Longest pause replayed between two reads: the recording's own timing is
#: kept, but a stall the recorder waited out is not waited out twice.
MAX_PAUSE_S = 1.0
#: The most bytes of a request head the replay reads before answering.
MAX_HEAD_BYTES = 64 * 1024


def _head(t: Transcript) -> bytes:
    status = t.status if t.status is not None else 502
    lines = [f"HTTP/1.1 {status} Replayed"]
    lines += [f"{k}: {v}" for k, v in t.headers if k.lower() not in _OWN_HEADERS]
    lines += ["Transfer-Encoding: chunked", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1", "replace")


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD_BYTES:
        return
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            await reader.readexactly(int(value.strip()))


async def _answer(t: Transcript, writer: asyncio.StreamWriter) -> None:
    writer.write(_head(t))
    await writer.drain()
    previous = t.reads[0].t_ns if t.reads else 0
    for read in t.reads:
        pause = min(MAX_PAUSE_S, max(0.0, (read.t_ns - previous) / 1e9))
        previous = read.t_ns
        if pause:
            await asyncio.sleep(pause)
        piece = t.body[read.offset : read.offset + read.size]
        if piece:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


@asynccontextmanager
async def replay_server(t: Transcript) -> AsyncIterator[str]:
    """``async with replay_server(t) as url:`` a base URL on 127.0.0.1 that answers
    every request with ``t``'s status, headers and body, read by read."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_request(reader)
            await _answer(t, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client left; nothing to replay to
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_HEAD_BYTES)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
