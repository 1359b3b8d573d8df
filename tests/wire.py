"""Raw loopback HTTP/1.1 servers for tests, with every byte and pause scripted.

A :class:`WireServer` listens on ``127.0.0.1`` (a free port) and runs one
handler coroutine per connection.  The handler gets a :class:`Conn` whose
request head and body are already read, and writes whatever bytes it likes:
no framework stands between a test and the wire, so tests can send what no
well-behaved server would (a stall, a reset, a 50 MB line, broken UTF-8).

Use it in the test's own event loop (``async with WireServer(handler)``) or in
a background thread with its own loop (``with ThreadedServer(handler)``), for
sync tests and ``pytester`` runs.  The ``*_handler`` functions build ready-made
behaviours; :func:`chunk` frames bytes for chunked transfer coding.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

__all__ = [
    "LAST_CHUNK",
    "SSE_HEADERS",
    "Conn",
    "Handler",
    "RequestHead",
    "ThreadedServer",
    "WireServer",
    "chunk",
    "drip_handler",
    "gzip_pieces",
    "gzip_sse_handler",
    "hang_before_headers_handler",
    "headers_then_nothing_handler",
    "huge_body_handler",
    "huge_line_handler",
    "invalid_utf8_handler",
    "redirect_handler",
    "respond_handler",
    "script_markup_handler",
    "sse_events",
    "sse_events_handler",
    "sse_flood_handler",
    "sse_forever_handler",
    "unused_port",
]

MB = 1_000_000
GB = 1_000_000_000
#: Size of each write of a lazily generated body: big enough to be fast,
#: small enough that a huge body never sits in memory.
PIECE = 64 * 1024

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
)
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of chunked transfer coding."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse_events(count: int, *, done: bool = True) -> list[bytes]:
    """``count`` small chat-completion-like events, then ``data: [DONE]``."""
    events = [
        b'data: {"object":"chat.completion.chunk","n":%d,"choices":[{"delta":'
        b'{"content":"w%d "}}]}\n\n' % (i, i)
        for i in range(count)
    ]
    return [*events, b"data: [DONE]\n\n"] if done else events


@dataclass
class RequestHead:
    """A request as the server read it."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        key = name.lower()
        return next((v for k, v in self.headers if k.lower() == key), None)


async def read_request(reader: asyncio.StreamReader) -> RequestHead:
    """Read one request head and its body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    start, *lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = start.split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    request = RequestHead(method, target, version, headers)
    if (request.header("transfer-encoding") or "").lower() == "chunked":
        request.body = await _read_chunked(reader)
    elif length := int(request.header("content-length") or 0):
        request.body = await reader.readexactly(length)
    return request


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")  # no trailers expected: just the final CRLF
    return bytes(body)


@dataclass
class Conn:
    """One accepted connection, its request already read."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    request: RequestHead
    #: (perf_counter_ns after the write drained, bytes written) per send
    sends: list[tuple[int, int]] = field(default_factory=list)

    async def send(self, data: bytes) -> None:
        """Write and drain; raises ConnectionError once the peer is gone."""
        if self.writer.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self.writer.write(data)
        await self.writer.drain()
        self.sends.append((time.perf_counter_ns(), len(data)))

    async def send_head(
        self,
        status: int = 200,
        headers: Iterable[tuple[str, str]] = SSE_HEADERS,
        *,
        chunked: bool = False,
        reason: str = "",
    ) -> None:
        """Status line and headers; adds ``Connection: close`` (one request per
        connection keeps the client's pool out of the way) and, if asked,
        ``Transfer-Encoding: chunked``."""
        pairs = list(headers)
        names = {k.lower() for k, _ in pairs}
        if chunked and "transfer-encoding" not in names:
            pairs.append(("Transfer-Encoding", "chunked"))
        if "connection" not in names:
            pairs.append(("Connection", "close"))
        lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in pairs]
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def send_chunk(self, data: bytes) -> None:
        await self.send(chunk(data))

    async def end_chunks(self) -> None:
        await self.send(LAST_CHUNK)

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), as a crashed peer would."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def hang(self) -> None:
        """Send nothing more until the server is closed."""
        await asyncio.Event().wait()


Handler = Callable[[Conn], Awaitable[None]]

_REASONS = {200: "OK", 307: "Temporary Redirect", 404: "Not Found", 500: "Internal Server Error"}


class WireServer:
    """A loopback server that runs ``handler`` for each connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        #: every request head received, in order (also when the handler fails)
        self.requests: list[RequestHead] = []
        self.conns: list[Conn] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> WireServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        """Stop listening, cancel handlers that still run, close every socket."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> WireServer:
        return await self.start()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            request = await read_request(reader)
            self.requests.append(request)
            conn = Conn(reader, writer, request)
            self.conns.append(conn)
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # the client went away or sent garbage: this connection is over
        except asyncio.CancelledError:
            # Only close() cancels a handler; ending quietly keeps asyncio from
            # logging every hanging handler as an error on 3.11.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


class ThreadedServer:
    """A :class:`WireServer` on its own event loop in a daemon thread."""

    def __init__(self, handler: Handler) -> None:
        self.server = WireServer(handler)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="wire-server", daemon=True)
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[RequestHead]:
        return self.server.requests

    def start(self) -> str:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("wire server did not start")
        return self.url

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
            self._ready.set()
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def __enter__(self) -> ThreadedServer:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def unused_port() -> int:
    """A loopback port nothing listens on (free when asked; racy, like all such)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- ready-made behaviours ---------------------------------------------------


def respond_handler(
    status: int = 200, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
) -> Handler:
    """One fixed response with a Content-Length body."""

    async def handle(conn: Conn) -> None:
        await conn.send_head(status, [*headers, ("Content-Length", str(len(body)))])
        await conn.send(body)

    return handle


def hang_before_headers_handler() -> Handler:
    """Read the request, then never answer."""

    async def handle(conn: Conn) -> None:
        await conn.hang()

    return handle


def headers_then_nothing_handler(status: int = 200) -> Handler:
    """Send an event-stream head, then no body byte ever."""

    async def handle(conn: Conn) -> None:
        await conn.send_head(status, chunked=True)
        await conn.hang()

    return handle


def drip_handler(data: bytes, interval: float) -> Handler:
    """An event-stream body of ``data``, one byte (one chunk) per ``interval``."""

    async def handle(conn: Conn) -> None:
        await conn.send_head(chunked=True)
        for i in range(len(data)):
            await conn.send_chunk(data[i : i + 1])
            await asyncio.sleep(interval)
        await conn.end_chunks()

    return handle


def sse_events_handler(
    events: Sequence[bytes],
    *,
    interval: float = 0.0,
    then: str = "end",
    headers: Sequence[tuple[str, str]] = SSE_HEADERS,
) -> Handler:
    """``events`` as chunks, ``interval`` apart; then ``end`` the body,
    ``hang``, ``close`` the socket without the last chunk, or ``reset``."""

    async def handle(conn: Conn) -> None:
        await conn.send_head(200, headers, chunked=True)
        for i, event in enumerate(events):
            if i and interval:
                await asyncio.sleep(interval)
            await conn.send_chunk(event)
        if then == "end":
            await conn.end_chunks()
        elif then == "hang":
            await conn.hang()
        elif then == "reset":
            await asyncio.sleep(0.05)  # let the events leave before the RST
            conn.reset()
        # "close": return, and the server closes the socket mid-body

    return handle


def sse_forever_handler(interval: float = 0.0) -> Handler:
    """Valid events with no end."""

    async def handle(conn: Conn) -> None:
        await conn.send_head(chunked=True)
        n = 0
        while True:
            await conn.send_chunk(b'data: {"n":%d}\n\n' % n)
            n += 1
            await asyncio.sleep(interval)

    return handle


def sse_flood_handler(event: bytes = b"data: {}\n\n", per_write: int = 1000) -> Handler:
    """``event`` forever, as fast as the client reads: one chunk each (so each
    may be a read of its own), ``per_write`` chunks to a write."""
    block = chunk(event) * per_write

    async def handle(conn: Conn) -> None:
        await conn.send_head(chunked=True)
        writer = conn.writer
        while not writer.is_closing():
            writer.write(block)
            await writer.drain()  # not conn.send: its log of sends would grow forever

    return handle


def huge_line_handler(size: int = 50 * MB) -> Handler:
    """``data: xxxx...`` of ``size`` bytes with no line end, made lazily."""

    async def handle(conn: Conn) -> None:
        await conn.send_head(chunked=True)
        await conn.send_chunk(b"data: ")
        piece = b"x" * PIECE
        for start in range(0, size, PIECE):
            await conn.send_chunk(piece[: min(PIECE, size - start)])
        await conn.end_chunks()

    return handle


def huge_body_handler(size: int = GB, *, chunked: bool = False) -> Handler:
    """A ``size``-byte body of comment lines, made lazily, with Content-Length
    or chunked."""
    line = b": " + b"p" * 1021 + b"\n"
    piece = line * (PIECE // len(line))

    async def handle(conn: Conn) -> None:
        framing = [] if chunked else [("Content-Length", str(size))]
        await conn.send_head(200, [*SSE_HEADERS, *framing], chunked=chunked)
        left = size
        while left:
            data = piece[: min(len(piece), left)]
            await (conn.send_chunk(data) if chunked else conn.send(data))
            left -= len(data)
        if chunked:
            await conn.end_chunks()

    return handle


def gzip_pieces(events: Sequence[bytes]) -> list[bytes]:
    """``events`` gzip-compressed, one sync-flushed piece each, then the trailer."""
    comp = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    pieces = [comp.compress(e) + comp.flush(zlib.Z_SYNC_FLUSH) for e in events]
    return [*pieces, comp.flush()]


def gzip_sse_handler(events: Sequence[bytes], *, interval: float = 0.0) -> Handler:
    """``events`` gzip-compressed (Content-Encoding: gzip), one chunk each."""

    async def handle(conn: Conn) -> None:
        head = [*SSE_HEADERS, ("Content-Encoding", "gzip")]
        await conn.send_head(200, head, chunked=True)
        for i, piece in enumerate(gzip_pieces(events)):
            if i and interval:
                await asyncio.sleep(interval)
            await conn.send_chunk(piece)
        await conn.end_chunks()

    return handle


def invalid_utf8_handler() -> Handler:
    """An event whose data is not UTF-8, between two valid ones."""
    events = [b'data: {"n":0}\n\n', b"data: caf\xe9 \xff\xfe\n\n", b"data: [DONE]\n\n"]
    return sse_events_handler(events)


def script_markup_handler() -> Handler:
    """Events carrying HTML markup, for reports that must escape it."""
    events = [
        b'data: {"choices":[{"delta":{"content":"<script>alert(1)</script>"}}]}\n\n',
        b"event: <script>x</script>\ndata: <img src=x onerror=alert(2)>\n\n",
        b"data: [DONE]\n\n",
    ]
    return sse_events_handler(events)


def redirect_handler(location: str, status: int = 307) -> Handler:
    """A redirect to ``location`` with an empty body."""
    return respond_handler(status, [("Location", location)])
