"""Record one HTTP exchange from the wire into a :class:`Transcript`.

The recorder is the only part of the tool that touches the network, and it
treats the server as untrusted: one total deadline covers connect, headers and
every read; the body, the event count and the longest line are capped, and a
run-wide budget bounds the bodies and parsed objects all exchanges keep; and
whatever the server does, :func:`record` returns a transcript whose ``ending``
says how the exchange stopped.  It never raises for a protocol fault.

Times are taken with :func:`time.perf_counter_ns` the moment each read returns
and are counted from just before the request is handed to httpx, so a
transcript's gaps are the gaps a client saw.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json as jsonlib
import ssl
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from .. import __version__
from .cost import METER
from .redact import MASK, redact, redact_header, scrub
from .sse import SSEDecoder
from .transcript import Comment, Diagnostic, Ending, Event, Read, Request, Transcript

__all__ = ["MIB", "USER_AGENT", "BodyBudget", "Limits", "make_client", "record"]

MIB = 1 << 20
USER_AGENT = f"exo-conformance/{__version__}"

#: The encodings the recorder can undo itself; a client must not ask for more.
ACCEPT_ENCODING = "gzip, deflate"
#: Closing a response is a socket close; if it takes longer, give up on it.
CLOSE_TIMEOUT_S = 0.25
#: Longest exception text kept in ``ending_detail``.
MAX_DETAIL_CHARS = 240


#: What each kept parsed object costs the run's budget on top of its text: the
#: object itself and its ints.  Measured on CPython 3.11 (tracemalloc): an
#: Event with its t_ns about 160 bytes plus its data str, a Read 136, a
#: Comment or Diagnostic about 100 plus its str; rounded up, so the budget
#: errs towards less memory.  Strings are counted with sys.getsizeof, which
#: sees 2 or 4 bytes a character in text that is not Latin-1.
EVENT_COST = 192
READ_COST = 144
COMMENT_COST = 128
DIAGNOSTIC_COST = 128


class BodyBudget:
    """Memory that all the exchanges sharing it may keep together: body bytes
    and the parsed objects kept for them (events, comments, diagnostics, reads).

    ``max_body_bytes`` and ``max_events`` bound one exchange, but a run
    records dozens of them, so against a server that answers everything with
    an endless body, or an endless flood of tiny events, the per-exchange caps
    alone would let the run hold dozens of times that.  Each exchange may
    always keep ``floor`` bytes; past that, only what the shared budget has
    left.  Objects are counted at a fixed cost each plus their strings
    (:data:`EVENT_COST` and the others).
    """

    def __init__(self, total: int, *, floor: int = 256 * 1024) -> None:
        self.total = total
        self.floor = floor
        self.used = 0

    def room(self, kept: int) -> int:
        """How many more bytes an exchange that kept ``kept`` bytes may keep."""
        return max(self.total - self.used, self.floor - kept, 0)


@dataclass(frozen=True)
class Limits:
    """Bounds on one exchange, so no server can hang or exhaust the run."""

    deadline_s: float = 120.0
    max_body_bytes: int = 16 * MIB
    max_events: int = 100_000
    #: A longer line ends the exchange (size-cap); what came before is kept.
    #: The decoder never cuts a line: a cap ends decoding, it does not change it.
    max_line_bytes: int = 1 * MIB
    #: Reads past this many are merged into the last one (stamped with the
    #: latest arrival), so a server writing one byte per chunk cannot make the
    #: list of reads outgrow the body it describes.
    max_reads: int = 100_000
    #: How long the body may stay open after ``data: [DONE]`` before the
    #: harness stops waiting.  Clients stop reading at [DONE], so a server
    #: that keeps the body open is judged (stream.closes), not waited for.
    after_done_s: float = 3.0
    #: Shared by the exchanges of one run (None: each exchange on its own).
    budget: BodyBudget | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.deadline_s <= 0 or min(self.max_body_bytes, self.max_events, self.max_reads) < 0:
            raise ValueError(f"limits must be positive: {self}")
        if self.max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1: {self}")


def make_client(
    *,
    api_key: str | None = None,
    limits: Limits = Limits(),
    base_url: str = "",
    keepalive: bool = True,
    connections: int = 100,
) -> httpx.AsyncClient:
    """An httpx client fit for :func:`record`.

    Redirects are never followed (a 307 to another origin must not carry the
    key), proxies from the environment are ignored (the endpoint under test is
    the one named, not whatever ``HTTPS_PROXY`` says), and no single phase may
    outlast the total deadline.  With ``keepalive=False`` each connection is
    closed when its response is, so a client that is never closed holds no
    socket once its responses are read.  ``connections`` bounds the
    connections open at once (the load mode needs one per stream).
    """
    headers = {"user-agent": USER_AGENT, "accept-encoding": ACCEPT_ENCODING}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(limits.deadline_s),
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=(20 if connections <= 100 else connections)
            if keepalive
            else 0,
        ),
    )


class _Stop(Exception):
    """Raised inside the read loop to end the exchange on the harness's terms."""

    def __init__(self, ending: Ending, detail: str, *, truncated: bool = False) -> None:
        super().__init__(detail)
        self.ending = ending
        self.detail = detail
        self.truncated = truncated


# -- content coding ----------------------------------------------------------


class _Inflater:
    """Undoes gzip or deflate incrementally, never producing more than asked.

    httpx would decompress too, but then the reads' wire sizes would be lost
    and a decompression bomb could fill memory before any cap saw it.
    """

    def __init__(self, coding: str) -> None:
        self.coding = "deflate" if coding == "deflate" else "gzip"
        wbits = zlib.MAX_WBITS if self.coding == "deflate" else zlib.MAX_WBITS | 16
        self._obj = zlib.decompressobj(wbits)
        # HTTP's "deflate" is zlib-wrapped, but many servers send raw deflate;
        # keep the input until the first output so it can be read again raw.
        self._retry_raw = self.coding == "deflate"
        self._seen = b""
        self.produced = False

    def feed(self, data: bytes, budget: int) -> bytes:
        """Up to ``budget + 1`` decoded bytes of ``data`` (one more means: over)."""
        if self._retry_raw:
            self._seen += data
        try:
            return self._inflate(data, budget)
        except zlib.error:
            if not self._retry_raw:
                raise
            self._retry_raw = False
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            seen, self._seen = self._seen, b""
            return self._inflate(seen, budget)

    def _inflate(self, data: bytes, budget: int) -> bytes:
        out = bytearray()
        while data and len(out) <= budget:
            out += self._obj.decompress(data, budget + 1 - len(out))
            data = self._next_input()
        if out:
            self.produced = True
            self._retry_raw, self._seen = False, b""
        return bytes(out)

    def _next_input(self) -> bytes:
        # Output full: the rest waits in unconsumed_tail.  A gzip member ended:
        # several may follow one another (RFC 1952 section 2.2).
        if self._obj.unconsumed_tail:
            return bytes(self._obj.unconsumed_tail)
        if self._obj.eof and self._obj.unused_data and self.coding == "gzip":
            rest = bytes(self._obj.unused_data)
            self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16)
            return rest
        return b""

    @property
    def finished(self) -> bool:
        return bool(self._obj.eof)


def _content_codings(response: httpx.Response) -> list[str]:
    codings: list[str] = []
    for value in response.headers.get_list("content-encoding"):
        codings += [c.strip().lower() for c in value.split(",")]
    return [c for c in codings if c and c != "identity"]


# -- the exchange, as it happens ---------------------------------------------


class _Recording:
    """Mutable state of one exchange, turned into a Transcript at the end."""

    def __init__(
        self,
        limits: Limits,
        *,
        sse: bool,
        drop_after: int | None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.limits = limits
        self.on_event = on_event
        self.wants_sse = sse
        self.drop_after = drop_after
        self.t0 = time.perf_counter_ns()
        self.status: int | None = None
        self.http_version = ""
        self.headers: tuple[tuple[str, str], ...] = ()
        self.t_headers_ns: int | None = None
        self.t_end_ns = 0
        self.body = bytearray()
        self.wire = 0
        self.merged_reads = 0
        #: What this exchange has kept, in budget bytes: body and parsed objects.
        self.kept = 0
        self.diagnostics_seen = 0
        self.reads: list[Read] = []
        self.events: list[Event] = []
        self.comments: list[Comment] = []
        self.diagnostics: list[Diagnostic] = []
        self.decoder: SSEDecoder | None = None
        self.inflater: _Inflater | None = None
        self.ending = Ending.COMPLETE
        self.detail = ""
        self.notes: list[str] = []
        self.truncated = False
        #: When ``data: [DONE]`` arrived, if it has.
        self.t_done_ns: int | None = None

    def now(self) -> int:
        return time.perf_counter_ns() - self.t0

    # -- headers -------------------------------------------------------------

    def on_headers(self, response: httpx.Response, t_ns: int) -> None:
        self.t_headers_ns = t_ns
        self.status = response.status_code
        self.http_version = response.http_version
        self.headers = tuple(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
        )
        codings = _content_codings(response)
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
            self.inflater = _Inflater(codings[0])
        elif codings:
            self.notes.append(
                f"content-encoding {', '.join(codings)!r} not decoded; body kept as sent"
            )
            return  # compressed bytes are not an event stream; do not decode them
        content_type = response.headers.get("content-type", "").lower()
        if self.wants_sse or content_type.startswith("text/event-stream"):
            # A line past max_line_bytes stops the decoder (on_read then ends
            # the exchange), so a line that never ends cannot grow without
            # bound even below the body cap, and no line is ever cut.
            self.decoder = SSEDecoder(max_line_bytes=self.limits.max_line_bytes)

    # -- body ----------------------------------------------------------------

    def on_read(self, data: bytes, t_ns: int) -> None:
        """Take one read; raises _Stop when a cap or the drop point is reached."""
        self.wire += len(data)
        cap = self.limits.max_body_bytes
        budget = cap - len(self.body)
        shared = self.limits.budget
        run_room = shared.room(self.kept) if shared is not None else budget
        by_run = run_room < budget  # the run's budget, not this exchange's cap, binds
        budget = min(budget, run_room)
        try:
            plain = self.inflater.feed(data, budget) if self.inflater else data
        except zlib.error as exc:
            self.reads.append(Read(t_ns, len(self.body), 0, len(data)))
            raise _Stop(Ending.PROTOCOL, self._corrupt(exc)) from None
        over = len(plain) > budget
        plain = plain[:budget]
        self._add_read(Read(t_ns, len(self.body), len(plain), len(data)))
        self.body += plain
        self._charge(len(plain))
        if self.decoder is not None:
            self._decode(plain, t_ns)
        got = f"after {len(self.body)} bytes"
        if over and by_run and shared is not None:
            detail = f"the run's {_size(shared.total)} body budget (all exchanges) ran out {got}"
            raise _Stop(Ending.SIZE_CAP, detail, truncated=True)
        if over or self.wire > cap:
            what = "compressed body" if self.wire > cap and not over else "body"
            detail = f"{what} passed the {_size(cap)} cap (max_body_bytes) {got}"
            raise _Stop(Ending.SIZE_CAP, detail, truncated=True)

    def _charge(self, cost: int) -> None:
        """Count ``cost`` budget bytes as kept by this exchange (and the run)."""
        self.kept += cost
        if self.limits.budget is not None:
            self.limits.budget.used += cost

    def _room(self) -> int | None:
        """Budget bytes this exchange may still keep (None: no run budget)."""
        shared = self.limits.budget
        return None if shared is None else shared.room(self.kept)

    def _add_read(self, read: Read) -> None:
        # A read is always kept (its bytes were charged just before, or fit
        # the floor); past max_reads it merges, which costs nothing more.
        if len(self.reads) < max(1, self.limits.max_reads):
            self.reads.append(read)
            self._charge(READ_COST)
            return
        if not self.merged_reads:
            self.notes.append(f"reads past {self.limits.max_reads} merged into the last one")
        self.merged_reads += 1
        last = self.reads[-1]
        self.reads[-1] = Read(read.t_ns, last.offset, last.size + read.size, last.wire + read.wire)

    def _corrupt(self, exc: zlib.error) -> str:
        coding = self.inflater.coding if self.inflater else "?"
        return f"{coding} body is corrupt after {self.wire} wire bytes: {exc}"

    def _decode(self, plain: bytes, t_ns: int) -> None:
        assert self.decoder is not None
        self._take(self.decoder.feed(plain), t_ns)
        stopped = self.decoder.stopped
        if stopped is not None:
            cap = _size(self.limits.max_line_bytes)
            detail = (
                f"a line longer than the {cap} line cap (max_line_bytes) starts at byte "
                f"{stopped.offset}; the exchange ends there, what came before is kept"
            )
            raise _Stop(Ending.SIZE_CAP, detail, truncated=True)

    def _take(self, fresh: list[Event], t_ns: int) -> None:
        assert self.decoder is not None
        room = self._room()
        cost = 0
        kept: list[Event] = []
        size = sys.getsizeof
        for event in fresh:
            one = EVENT_COST + size(event.data) + len(event.type) + len(event.id)
            if room is not None and cost + one > room:
                break
            cost += one
            # Built directly: dataclasses.replace costs several times more, and
            # under load this runs for every event of every stream.
            kept.append(
                Event(event.type, event.data, event.id, event.retry, event.offset, event.end, t_ns)
            )
        self.events += kept
        self._charge(cost)
        if self.on_event is not None:
            for event in kept:
                self.on_event(event)
        if self.t_done_ns is None and any(e.data == "[DONE]" for e in kept):
            self.t_done_ns = t_ns
        over = len(kept) < len(fresh)
        if not over:
            over = self._take_comments(t_ns)
        self._charge_diagnostics()
        if over:
            assert self.limits.budget is not None
            total = _size(self.limits.budget.total)
            detail = (
                f"the run's {total} memory budget (bodies and parsed events of all "
                f"exchanges) ran out after {len(self.events)} events ({len(self.body)} bytes)"
            )
            raise _Stop(Ending.EVENT_CAP, detail, truncated=True)
        cap = self.limits.max_events
        if len(self.events) > cap:
            del self.events[cap:]
            raise _Stop(Ending.EVENT_CAP, f"more than {cap} events (max_events)", truncated=True)
        if self.drop_after is not None and len(self.events) >= self.drop_after:
            got = f"{len(self.events)} events ({len(self.body)} bytes)"
            raise _Stop(Ending.DROPPED, f"closed by the harness after {got}")

    def _take_comments(self, t_ns: int) -> bool:
        """Keep the decoder's new comments; True if the run's budget ran out."""
        assert self.decoder is not None
        fresh = self.decoder.comments[len(self.comments) :]
        room = self._room()
        cost = 0
        fitting = len(fresh)
        for i, comment in enumerate(fresh):
            one = COMMENT_COST + sys.getsizeof(comment.text)
            if room is not None and cost + one > room:
                fitting = i
                break
            cost += one
        self.comments += [dataclasses.replace(c, t_ns=t_ns) for c in fresh[:fitting]]
        self._charge(cost)
        return fitting < len(fresh)

    def _charge_diagnostics(self) -> None:
        """Count the decoder's new diagnostics (at most max_diagnostics an exchange)."""
        assert self.decoder is not None
        fresh = self.decoder.diagnostics[self.diagnostics_seen :]
        if fresh:
            self.diagnostics_seen += len(fresh)
            self._charge(sum(DIAGNOSTIC_COST + sys.getsizeof(d.message) for d in fresh))

    # -- the end -------------------------------------------------------------

    def end(self, ending: Ending, detail: str = "", *, truncated: bool = False) -> None:
        self.t_end_ns = self.now()
        self.ending = ending
        self.detail = detail
        self.truncated = truncated
        # The stream ended as the server left it: let the decoder say what a
        # reader makes of the tail.  Caps and drops are our own cut, not the
        # server's, so they get no end-of-stream verdict.
        if ending not in (Ending.SIZE_CAP, Ending.EVENT_CAP, Ending.DROPPED):
            self._finish_body()

    def _finish_body(self) -> None:
        if self.inflater is not None and self.inflater.produced and not self.inflater.finished:
            self.diagnostics.append(
                Diagnostic(
                    "content-encoding",
                    f"the {self.inflater.coding} stream ends before its end marker",
                    offset=len(self.body),
                )
            )
        if self.decoder is not None:
            last = self.reads[-1].t_ns if self.reads else self.t_end_ns
            self.events += [dataclasses.replace(e, t_ns=last) for e in self.decoder.close()]
            del self.events[self.limits.max_events :]

    def transcript(self, request: Request, *, scenario: str, target: str) -> Transcript:
        found = [*self.decoder.diagnostics] if self.decoder is not None else []
        diagnostics = sorted([*found, *self.diagnostics], key=lambda d: d.offset)
        detail = "; ".join(d for d in (self.detail, *self.notes) if d)
        return Transcript(
            scenario=scenario,
            target=target,
            request=request,
            status=self.status,
            http_version=self.http_version,
            headers=self.headers,
            body=bytes(self.body),
            reads=tuple(self.reads),
            events=tuple(self.events),
            comments=tuple(self.comments),
            diagnostics=tuple(diagnostics),
            ending=self.ending,
            ending_detail=detail,
            t_headers_ns=self.t_headers_ns,
            t_end_ns=self.t_end_ns,
            truncated=self.truncated,
        )


# -- classifying failures ----------------------------------------------------

#: What the network, TLS and HTTP layers raise for a server's misdeeds.  Other
#: exceptions are harness bugs and must surface as such, not as a verdict.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TransportError,
    httpx.DecodingError,
    httpx.TooManyRedirects,
    httpcore.ProtocolError,
    httpcore.NetworkError,
    httpcore.TimeoutException,
    OSError,
    EOFError,
)

_CLOSE_ERRORS: tuple[type[Exception], ...] = (TimeoutError, *_TRANSPORT_ERRORS)

_DISCONNECTS = ("peer closed", "disconnected", "connection closed", "connectionterminated")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _is_tls(exc: BaseException) -> bool:
    return any(
        isinstance(e, ssl.SSLError | ssl.CertificateError)
        or "[SSL" in str(e)
        or "CERTIFICATE" in str(e).upper()
        for e in _chain(exc)
    )


def _text(exc: BaseException) -> str:
    """The exception's message on one line; httpx often wraps an OSError
    and leaves its own text empty, so the first message in the chain wins."""
    messages = (" ".join(str(e).split()) for e in _chain(exc))
    text = next((m for m in messages if m), type(exc).__name__)
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


def _classify(exc: Exception, rec: _Recording) -> tuple[Ending, str]:
    """The ending a transport failure means, and one line saying why."""
    got = f"after {len(rec.body)} bytes" if rec.status is not None else "before a response"
    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException | TimeoutError):
        return Ending.DEADLINE, f"timed out {got}: {_text(exc)}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpcore.UnsupportedProtocol):
        return Ending.REFUSED, f"cannot connect: {_text(exc)}"
    if isinstance(exc, httpx.ConnectError | httpcore.ConnectError | ConnectionRefusedError):
        if _is_tls(exc):
            return Ending.TLS, f"TLS handshake failed: {_text(exc)}"
        return Ending.REFUSED, f"cannot connect: {_text(exc)}"
    if isinstance(exc, httpx.RemoteProtocolError | httpcore.RemoteProtocolError):
        if any(d in str(exc).lower() for d in _DISCONNECTS):
            return Ending.RESET, f"connection closed {got}: {_text(exc)}"
        return Ending.PROTOCOL, f"the server broke HTTP {got}: {_text(exc)}"
    if isinstance(exc, ssl.SSLError) and rec.status is None:
        return Ending.TLS, f"TLS failed: {_text(exc)}"
    if isinstance(exc, httpx.NetworkError | httpcore.NetworkError | OSError | EOFError):
        if rec.status is None and isinstance(exc, OSError) and not _is_reset(exc):
            return Ending.REFUSED, f"cannot connect: {_text(exc)}"
        return Ending.RESET, f"connection reset {got}: {_text(exc)}"
    return Ending.PROTOCOL, f"the exchange failed {got}: {_text(exc)}"


def _is_reset(exc: OSError) -> bool:
    return isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError)


def _deadline_detail(rec: _Recording, deadline_s: float) -> str:
    limit = f"the {deadline_s:g} s deadline"
    if rec.t_done_ns is not None:
        waited = (rec.now() - rec.t_done_ns) / 1e9
        return f"the body was still open {waited:.1f} s after data: [DONE]; stopped waiting"
    if rec.status is None:
        return f"no response within {limit}"
    if not rec.reads:
        return f"headers (status {rec.status}) but no body within {limit}"
    return f"{limit} ran out after {len(rec.body)} bytes in {len(rec.reads)} reads"


# -- what was sent ---------------------------------------------------------


def _request_record(request: httpx.Request, secrets: Sequence[str]) -> Request:
    body = request.content
    for secret in secrets:
        if secret:
            body = body.replace(secret.encode(), MASK.encode())
    url = request.url
    if url.password:  # userinfo in the URL is a credential too
        url = url.copy_with(password=MASK)
    return Request(
        method=request.method,
        url=redact(str(url), secrets),
        headers=tuple(
            (k, redact_header(k, v, secrets))
            for k, v in ((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)
        ),
        body=body,
    )


def _asks_stream(json: Any, content: bytes | None) -> bool:
    body = json
    if body is None and content:
        try:
            body = jsonlib.loads(content)
        except ValueError:
            return False
    return isinstance(body, dict) and body.get("stream") is True


# -- the public entry point ------------------------------------------------


async def record(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    scenario: str,
    target: str,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    limits: Limits = Limits(),
    drop_after_events: int | None = None,
    secrets: Sequence[str] = (),
    on_event: Callable[[Event], None] | None = None,
) -> Transcript:
    """Send one request and record everything that comes back.

    Always returns a transcript, whatever the server does.  Cancellation from
    outside still propagates (after the connection is closed).  ``on_event``
    sees each event as it is kept, so a scenario can act while the stream runs
    (the cancel scenario cancels it once it has shown its id).
    """
    # Longest first, so a secret that contains another is masked whole.
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
    rec = _Recording(
        limits, sse=_asks_stream(json, content), drop_after=drop_after_events, on_event=on_event
    )
    try:
        request = client.build_request(method, url, json=json, content=content, headers=headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        rec.end(Ending.REFUSED, f"cannot send to {url!r}: {_text(exc)}")
        bare = Request(method, redact(url, secrets), (), content or b"")
        return scrub(rec.transcript(bare, scenario=scenario, target=target), secrets)
    rec.t0 = time.perf_counter_ns()
    await _exchange(client, request, rec)
    sent = _request_record(request, secrets)
    t = rec.transcript(sent, scenario=scenario, target=redact(target, secrets))
    METER.saw(request.url.path, json if json is not None else _json_or_none(content), t)
    return scrub(t, secrets)


def _json_or_none(content: bytes | None) -> Any:
    try:
        return jsonlib.loads(content) if content else None
    except ValueError:
        return None


async def _exchange(client: httpx.AsyncClient, request: httpx.Request, rec: _Recording) -> None:
    """Run the exchange under one total deadline; record how it ended."""
    deadline = asyncio.timeout(rec.limits.deadline_s)
    response: httpx.Response | None = None
    stream: AsyncIterator[bytes] | None = None
    try:
        async with deadline:
            # follow_redirects=False here too: a caller's own client must not
            # carry the key to another origin either.
            response = await client.send(request, stream=True, follow_redirects=False)
            rec.on_headers(response, rec.now())
            stream = response.aiter_raw()
            async for data in stream:
                seen_done = rec.t_done_ns is not None
                rec.on_read(data, rec.now())
                if not seen_done and rec.t_done_ns is not None:
                    _shorten(deadline, rec.limits.after_done_s)
            rec.end(Ending.COMPLETE)
    except _Stop as stop:
        rec.end(stop.ending, stop.detail, truncated=stop.truncated)
    except TimeoutError as exc:
        if deadline.expired():
            rec.end(Ending.DEADLINE, _deadline_detail(rec, rec.limits.deadline_s))
        else:
            rec.end(*_classify(exc, rec))
    except _TRANSPORT_ERRORS as exc:
        rec.end(*_classify(exc, rec))
    finally:
        await _close(stream, response)


def _shorten(deadline: asyncio.Timeout, seconds: float) -> None:
    """Bring the deadline forward to ``seconds`` from now, never push it back."""
    soon = asyncio.get_running_loop().time() + seconds
    when = deadline.when()
    deadline.reschedule(soon if when is None else min(when, soon))


async def _close(stream: AsyncIterator[bytes] | None, response: httpx.Response | None) -> None:
    """Close the body and the connection, bounded in time, swallowing failures.

    An unfinished body makes httpcore drop the connection instead of pooling
    it, which is what a disconnect test needs the server to see.
    """
    if response is None:
        return
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
            await response.aclose()
    except _CLOSE_ERRORS:
        pass  # the transcript is already complete; a stuck close changes nothing


def _size(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"
