"""A strict, incremental decoder of ``text/event-stream`` bodies.

It follows the WHATWG HTML standard's "event stream interpretation"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
exactly, works on bytes, and gives the same events for any split of the input:
a CRLF pair, a UTF-8 character or the leading BOM may straddle two feeds.

Beyond the events a browser would see, it records what a strict reader flags
(:attr:`SSEDecoder.diagnostics`, codes in :data:`DIAGNOSTIC_CODES`) and the
comment lines (:attr:`SSEDecoder.comments`), each at its byte offset in the
body.  With default arguments it decodes any line and any event exactly, as
the standard has no limits; stored diagnostics and comments have caps.  A
caller that must bound memory (the recorder) gives ``max_line_bytes`` or
``max_event_bytes``: a cap never changes what is decoded, it stops decoding
(:attr:`SSEDecoder.stopped`), so everything dispatched before it is exact.

Speed matters because the recorder decodes every body as it arrives: lines are
found with ``bytes.split``/``find`` (never a loop per byte), each line is
decoded on its own (so a character split across feeds waits, whole, in the
unfinished line), and the common event, a single ``data: ...`` line followed by
a blank line, takes a short path that costs one UTF-8 decode and one Event.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any, Final, NamedTuple

from .transcript import Comment, Diagnostic, Event

__all__ = ["DIAGNOSTIC_CODES", "Comment", "Diagnostic", "Event", "SSEDecoder"]

DIAGNOSTIC_CODES: Final[dict[str, str]] = {
    "bom": "the stream starts with a U+FEFF byte order mark (stripped, as the spec says)",
    "cr-line-end": "a bare CR ends a line (valid, but many clients only split on LF)",
    "unknown-field": "a field other than data, event, id and retry (ignored)",
    "no-colon": "a non-empty line without a colon: a field with an empty value",
    "no-space": "a field value not preceded by a space (valid; naive `line[6:]` readers break)",
    "invalid-utf8": "bytes that are not UTF-8 (decoded as U+FFFD)",
    "id-nul": "an id field whose value contains U+0000 (ignored)",
    "invalid-retry": "a retry field whose value is not ASCII digits only (ignored)",
    "line-too-long": "a line over max_line_bytes (decoding stopped there)",
    "event-too-large": "an event's data over max_event_bytes (decoding stopped there)",
    "unterminated": "the stream ended inside a line or an event (the event is discarded)",
    "too-many-diagnostics": "later diagnostics were not stored",
}

_BOM: Final = b"\xef\xbb\xbf"
_LINE_END: Final = re.compile(rb"(\r\n|\r|\n)")
_FIELDS: Final = frozenset({b"data", b"event", b"id", b"retry"})
_DATA_PREFIX: Final = b"data: "
# Comments are kept for reports, not read by rules: a long one need not be whole.
_MAX_COMMENT_CHARS: Final = 1024
# Python refuses to turn longer digit strings into an int (CVE-2020-10735).
_MAX_RETRY_DIGITS: Final = 4000

#: What no cap means: larger than any body (the short path compares lengths with it).
_NO_CAP: Final = sys.maxsize

_MakeEvent = Callable[[str, str, str, int | None, int, int], Event]


class _CapReached(Exception):
    """Raised inside the decoder when a cap stops it; caught by ``feed``."""


class _Frame(NamedTuple):
    """How the usual event looks in one chunk: ``prefix``, value, ``end`` twice."""

    end: bytes  # the line end looked for: LF, CRLF or CR
    prefix: bytes  # b"data: ", or b"data:" from a server that sends no space
    cr: bool  # the chunk holds a CR, so lines are split on any line end
    flagged: bool  # each short-path event also makes diagnostics (no-space, cr-line-end)


class _EventSlots:
    """Event's slots without Event's frozen ``__setattr__``.

    Event is a frozen dataclass: its generated ``__init__`` sets each field
    through ``object.__setattr__``, which costs more than all the rest of the
    decoding of a typical event.  An object of this class takes its fields by
    plain assignment, then becomes a true Event when its ``__class__`` is
    assigned, which Python allows between classes of the same layout: the
    same event for a third of the cost.  :data:`_FAST_EVENTS` says whether
    that was checked to give what ``Event(...)`` gives.
    """

    __slots__ = ("data", "end", "id", "offset", "retry", "t_ns", "type")


def _fast_event(type_: str, data: str, id_: str, retry: int | None, offset: int, end: int) -> Event:
    event: Any = object.__new__(_EventSlots)
    event.type = type_
    event.data = data
    event.id = id_
    event.retry = retry
    event.offset = offset
    event.end = end
    event.t_ns = 0
    event.__class__ = Event
    return event  # type: ignore[no-any-return]


def _plain_event(
    type_: str, data: str, id_: str, retry: int | None, offset: int, end: int
) -> Event:
    return Event(type_, data, id_, retry, offset=offset, end=end)


def _fast_events_work() -> bool:
    """Whether :func:`_fast_event` builds the Event that the constructor builds.

    Should Event ever change shape, the decoder stays correct, only slower.
    """
    if {f.name for f in dataclasses.fields(Event)} != set(_EventSlots.__slots__):
        return False
    args = ("type", "data", "id", 1, 2, 3)
    try:
        fast = _fast_event(*args)
    except TypeError:  # "object layout differs"
        return False
    plain = _plain_event(*args)
    return (
        type(fast) is Event
        and fast == plain
        and dataclasses.astuple(fast) == dataclasses.astuple(plain)
    )


_FAST_EVENTS: Final = _fast_events_work()
_make_event: Final[_MakeEvent] = _fast_event if _FAST_EVENTS else _plain_event


def _show(raw: bytes, limit: int = 40) -> str:
    """A short printable form of server bytes for a diagnostic message."""
    text = raw[: 4 * limit].decode(errors="replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


class SSEDecoder:
    """Decode an event stream fed in pieces of any size.

    >>> dec = SSEDecoder()
    >>> [e.data for e in dec.feed(b"data: hel") + dec.feed(b"lo\\n\\n")]
    ['hello']
    >>> dec.close()
    []

    ``feed`` returns the events dispatched by the bytes it was given, as soon
    as their blank line arrives; ``close`` ends the stream.  Each event's
    ``id`` is the last-event-ID buffer when it was dispatched and ``retry``
    the reconnection time of the latest valid ``retry`` field (None before
    one).  ``offset`` is where the event's first line (the first line after
    the previous blank line, comments included) starts in the body, counting
    a leading BOM, and ``end`` is just past the blank line that dispatched
    it.  A blank line ended by a CR that is the last byte of a feed
    dispatches at once, so its ``end`` stops after the CR even if the next
    feed starts with the LF of a CRLF pair: the only position that depends on
    how the input was split.

    With default arguments nothing a server sends is cut: lines and events of
    any size decode exactly.  ``max_line_bytes`` and ``max_event_bytes`` (None:
    no cap) bound memory without changing what is decoded: a line longer than
    ``max_line_bytes``, or an event whose data grows past ``max_event_bytes``,
    stops the decoder there.  The feed that met it returns the events
    dispatched before it, :attr:`stopped` is the ``line-too-long`` or
    ``event-too-large`` diagnostic (also in :attr:`diagnostics`), and later
    feeds return nothing.  At most ``max_diagnostics`` diagnostics are stored,
    then one ``too-many-diagnostics``.  Comments are kept for reports, not
    judged: at most ``max_comments`` of them (``comments_dropped`` counts the
    rest), each cut to its first 1024 characters.
    """

    def __init__(
        self,
        *,
        max_line_bytes: int | None = None,
        max_event_bytes: int | None = None,
        max_diagnostics: int = 1000,
        max_comments: int = 10_000,
    ) -> None:
        max_line = _NO_CAP if max_line_bytes is None else max_line_bytes
        max_event = _NO_CAP if max_event_bytes is None else max_event_bytes
        if max_line < 1 or max_event < 1 or max_diagnostics < 0 or max_comments < 0:
            raise ValueError("the caps must be positive")
        self.diagnostics: list[Diagnostic] = []
        self.comments: list[Comment] = []
        self.comments_dropped = 0
        #: The cap that stopped decoding (None while decoding goes on).
        self.stopped: Diagnostic | None = None
        self._max_line = max_line
        self._max_event = max_event
        self._max_diagnostics = max_diagnostics
        self._max_comments = max_comments
        # The short path handles a data line only when no cap can apply to it.
        self._short_max = min(max_line, max_event)
        self._closed = False
        # -- where we are in the bytes -----------------------------------
        self._head: bytes | None = b""  # stream start, held back until the BOM is settled
        self._pos = 0  # body offset of the current (unfinished) line
        self._lineno = 1  # its 1-based line number
        # The kept bytes of the unfinished line: a bytearray, as a list of
        # pieces would cost some 40 bytes a piece when fed a byte at a time.
        self._partial = bytearray()
        self._raw = 0  # bytes of the unfinished line seen
        self._cr_at = -1  # offset of a CR that ended the last feed: an LF next completes it
        self._cr_line = 0
        # -- the event being built (names from the spec) -----------------
        self._data = bytearray()  # data buffer, as UTF-8
        self._type = ""  # event type buffer
        self._last_id = ""  # last event ID buffer
        self._retry: int | None = None  # reconnection time
        self._block = -1  # offset of the first line since the last blank line
        self._block_line = 0

    # -- public ------------------------------------------------------------

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Event]:
        """Decode the next bytes; return the events they dispatched."""
        if self._closed:
            raise RuntimeError("feed() after close()")
        out: list[Event] = []
        if self.stopped is not None:
            return out
        try:
            self._feed(chunk, out)
        except _CapReached:
            self._partial = bytearray()
            self._data = bytearray()
            self._raw = 0
        return out

    def _feed(self, chunk: bytes | bytearray | memoryview, out: list[Event]) -> None:
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        if self._head is not None:
            chunk = self._strip_bom(chunk)
        if self._cr_at >= 0 and chunk:
            chunk = self._after_cr(chunk)
        if self._raw and self._block < 0 and (0x0A in chunk or 0x0D in chunk):
            # An unfinished line that starts an event ends in this chunk: decode
            # the two as one, so that the event can take the short path.
            self._partial += chunk
            chunk = bytes(self._partial)
            self._partial = bytearray()
            self._raw = 0
        # Else end the line and then the event that an earlier feed began, line
        # by line, so that the rest starts a fresh event and can take the short path.
        at = 0
        while at < len(chunk) and (self._raw or self._block >= 0):
            at = self._finish_line(chunk, at, out)
        if at:
            chunk = chunk[at:]
        if chunk:
            self._run(chunk, out)

    def close(self) -> list[Event]:
        """End the stream.  Always ``[]``: an event no blank line ended is discarded."""
        if self._closed:
            return []
        self._closed = True
        if self.stopped is not None:
            return []  # a cap stopped decoding: the rest is not the server's end
        if self._cr_at >= 0:
            self._diag("cr-line-end", "a bare CR ends the last line", self._cr_at, self._cr_line)
        if self._raw or self._head or self._data:
            start, line = self._pos, self._lineno  # where the unfinished line starts
            if self._block >= 0:  # where the event it belongs to starts
                start, line = self._block, self._block_line
            what = "an event" if self._data else "a line"
            self._diag(
                "unterminated",
                f"the stream ended inside {what} that no blank line ended; it was discarded",
                start,
                line,
            )
        self._partial = bytearray()
        self._data = bytearray()
        self._head = None
        return []

    # -- splitting bytes into lines --------------------------------------

    def _strip_bom(self, chunk: bytes) -> bytes:
        """Drop one leading BOM, holding back the first bytes until it is settled."""
        head = (self._head or b"") + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        if not head.startswith(_BOM):
            return head
        self._diag("bom", "the stream starts with a U+FEFF byte order mark", 0, 1)
        self._pos = len(_BOM)
        return head[len(_BOM) :]

    def _after_cr(self, chunk: bytes) -> bytes:
        """Settle the CR the last feed ended with: an LF now makes it a CRLF."""
        cr_at, self._cr_at = self._cr_at, -1
        if chunk[0] == 0x0A:
            self._pos += 1
            return chunk[1:]
        self._diag("cr-line-end", "a bare CR ends this line", cr_at, self._cr_line)
        return chunk

    def _finish_line(self, chunk: bytes, at: int, out: list[Event]) -> int:
        """End the unfinished line with ``chunk[at:]``; return where the next line starts.

        With no line end in ``chunk[at:]``, all of it joins the unfinished line.
        """
        lf = chunk.find(b"\n", at)
        cr = chunk.find(b"\r", at, lf if lf >= 0 else len(chunk))
        if cr >= 0:
            cut, size = cr, 2 if chunk[cr + 1 : cr + 2] == b"\n" else 1
        elif lf >= 0:
            cut, size = lf, 1
        else:
            self._absorb(chunk[at:] if at else chunk)
            return len(chunk)
        self._absorb(chunk[at:cut])
        line = bytes(self._partial)
        self._partial = bytearray()
        start, no = self._pos, self._lineno
        end = start + self._raw + size
        self._raw = 0
        self._line(line, start, end, no, out)
        self._pos, self._lineno = end, no + 1
        if size == 1 and cr >= 0:
            self._bare_cr(end - 1, no, at_chunk_end=cut + 1 == len(chunk))
        return cut + size

    def _absorb(self, piece: bytes) -> None:
        """Add ``piece`` to the unfinished line; stop at max_line_bytes."""
        self._raw += len(piece)
        if self._raw > self._max_line:
            self._too_long(self._pos, self._lineno)
        self._partial += piece

    def _run(self, chunk: bytes, out: list[Event]) -> None:
        """Decode ``chunk``, which starts a line.

        Splitting on a blank line followed by ``data: `` cuts the chunk where
        the usual events start: each piece but the first and last is the value
        of a ``data: `` line, and if it holds no line end, it is a whole event.
        The line end looked for is LF, or CRLF if the chunk holds a CR, or CR
        if it holds no LF; other line ends are still read right, the long way.
        A chunk with no ``data: `` event is split on ``data:`` instead, for
        servers that send no space.
        """
        cr = 0x0D in chunk
        end = b"\r\n" if cr and 0x0A in chunk else b"\r" if cr else b"\n"
        prefix = _DATA_PREFIX
        pieces = chunk.split(end + end + prefix)
        if len(pieces) == 1:
            prefix = b"data:"
            pieces = chunk.split(end + end + prefix)
        last = pieces.pop()
        pos, no = self._pos, self._lineno
        frame = _Frame(end, prefix, cr, prefix != _DATA_PREFIX or end == b"\r")
        if pieces and _FAST_EVENTS:
            pos, no = self._events(pieces, frame, len(chunk), pos, no, out)
            last = prefix + last
        elif pieces:  # the short path needs the fast Event builder: do without both
            last = chunk
        # The last piece: complete lines, then the start of an unfinished one.
        self._pos, self._lineno, rest = self._lines(last, cr, pos, no, out, chunk_end=True)
        if rest:
            self._absorb(rest)

    def _events(
        self, pieces: list[bytes], frame: _Frame, size: int, pos: int, no: int, out: list[Event]
    ) -> tuple[int, int]:
        """Decode ``pieces`` of a chunk of ``size`` bytes; return the next offset and line.

        ``pieces[0]`` is the text of the chunk's first block, the others the
        values of data lines that start a block; each is followed by a blank
        line.  This is the hot loop: it makes an event of a value that holds
        no line end and is valid UTF-8 without a call per line (the checks are
        the cheapest CPython offers: int membership tests, a decode), and hands
        anything else to the line-by-line path.
        """
        end_, prefix, cr, flagged = frame
        it = iter(pieces)
        first = next(it)
        values: Iterator[bytes] = it
        if self._block < 0 and first[: len(prefix)] == prefix:
            values = chain((first[len(prefix) :],), it)
        else:  # not a single data line
            pos, no = self._block_lines(first, frame, pos, no, out)
        gap, space = len(prefix) + 2 * len(end_), prefix == _DATA_PREFIX
        # When small, no value in the chunk can reach max_line_bytes or max_event_bytes.
        small = size + len(prefix) <= self._short_max
        value_max = self._short_max - len(prefix)
        append, last_id, retry = out.append, self._last_id, self._retry
        new, slots, event_class = object.__new__, _EventSlots, Event
        diagnostics, max_diagnostics = self.diagnostics, self._max_diagnostics
        for value in values:
            if (
                0x0A not in value
                and (not cr or 0x0D not in value)
                and (small or len(value) <= value_max)
                and (space or value[:1] != b" ")
            ):
                try:
                    data = value.decode()
                except UnicodeDecodeError:
                    pass  # the long way reports where
                else:
                    if flagged and len(diagnostics) <= max_diagnostics:
                        self._short_diagnostics(value, frame, pos, no)
                    end = pos + len(value) + gap
                    # _fast_event, inlined: the call would cost a third as much again.
                    event: Any = new(slots)
                    event.type = "message"
                    event.data = data
                    event.id = last_id
                    event.retry = retry
                    event.offset = pos
                    event.end = end
                    event.t_ns = 0
                    event.__class__ = event_class
                    append(event)
                    pos = end
                    no += 2
                    continue
            pos, no = self._block_lines(prefix + value, frame, pos, no, out)
            last_id, retry = self._last_id, self._retry
        return pos, no

    def _short_diagnostics(self, value: bytes, frame: _Frame, pos: int, no: int) -> None:
        """What the long way would flag in a short-path event, in the same order."""
        if frame.prefix != _DATA_PREFIX and value:
            self._diag("no-space", "no space after data:", pos, no)
        if frame.end == b"\r":
            at = pos + len(frame.prefix) + len(value)
            self._diag("cr-line-end", "a bare CR ends this line", at, no)
            self._diag("cr-line-end", "a bare CR ends this line", at + 1, no + 1)

    def _block_lines(
        self, block: bytes, frame: _Frame, pos: int, no: int, out: list[Event]
    ) -> tuple[int, int]:
        """Decode the lines of ``block`` and the blank line after it, one by one."""
        end_ = frame.end
        pos, no, _ = self._lines(block + end_, frame.cr, pos, no, out, chunk_end=False)
        end = pos + len(end_)
        self._line(b"", pos, end, no, out)
        if end_ == b"\r":
            self._bare_cr(end - 1, no, at_chunk_end=False)
        return end, no + 1

    def _lines(
        self, text: bytes, cr: bool, pos: int, no: int, out: list[Event], *, chunk_end: bool
    ) -> tuple[int, int, bytes]:
        """Decode the complete lines of ``text``, which starts a line at ``pos``.

        Returns the offset and number of the next line, and the bytes after
        the last line end.  ``cr`` says whether ``text`` may hold a CR;
        ``chunk_end``, whether it ends where the chunk does (so that a CR at
        its end may yet be the first half of a CRLF).
        """
        if not cr:
            lines = text.split(b"\n")
            rest = lines.pop()
            for line in lines:
                end = pos + len(line) + 1
                if line:
                    self._line(line, pos, end, no, out)
                else:  # a blank line, one call sooner
                    self._dispatch(end, out)
                pos, no = end, no + 1
            return pos, no, rest
        parts = _LINE_END.split(text)  # line, line end, line, line end, ..., rest
        rest = parts.pop()
        for k in range(0, len(parts), 2):
            line, line_end = parts[k], parts[k + 1]
            end = pos + len(line) + len(line_end)
            self._line(line, pos, end, no, out)
            if line_end == b"\r":
                at_end = chunk_end and k + 2 == len(parts) and not rest
                self._bare_cr(end - 1, no, at_chunk_end=at_end)
            pos, no = end, no + 1
        return pos, no, rest

    def _bare_cr(self, offset: int, no: int, *, at_chunk_end: bool) -> None:
        """Flag a CR line end, or wait for the next feed when an LF may follow."""
        if at_chunk_end:
            self._cr_at, self._cr_line = offset, no
        else:
            self._diag("cr-line-end", "a bare CR ends this line", offset, no)

    # -- interpreting lines ------------------------------------------------

    def _line(self, line: bytes, start: int, end: int, no: int, out: list[Event]) -> None:
        """Process one complete line (without its line end) found at ``start``.

        The line is read as bytes: every byte the spec's steps look at (the
        colon, the space, the field names) is ASCII and cannot be part of a
        multi-byte character, so this is the spec's reading of the decoded
        text, and only what is kept as text gets decoded.
        """
        if len(line) > self._max_line:
            self._too_long(start, no)
        if not line:
            self._dispatch(end, out)
            return
        if self._block < 0:
            self._block, self._block_line = start, no
        if not line.isascii():
            try:
                line.decode()
            except UnicodeDecodeError as exc:
                bad = f"byte {line[exc.start]:#04x} is not UTF-8"
                self._diag("invalid-utf8", bad, start + exc.start, no)
        if line[0] == 0x3A:  # a colon
            self._comment(line, start)
            return
        name, colon, value = line.partition(b":")
        if not colon:
            self._diag("no-colon", f"{_show(name)} has no colon", start, no)
        elif value[:1] == b" ":
            value = value[1:]
        elif value and name in _FIELDS:
            self._diag("no-space", f"no space after {name.decode()}:", start, no)
        self._field(name, value, start, no)

    def _field(self, name: bytes, value: bytes, start: int, no: int) -> None:
        """Process a field, as the spec's "process the field" steps say."""
        if name == b"data":
            self._data_line(value, start, no)
        elif name == b"event":
            self._type = value.decode(errors="replace")
        elif name == b"id":
            if 0 in value:
                self._diag("id-nul", "an id with U+0000 is ignored", start, no)
            else:
                self._last_id = value.decode(errors="replace")
        elif name == b"retry":
            self._retry_field(value, start, no)
        else:
            self._diag("unknown-field", f"unknown field {_show(name)} ignored", start, no)

    def _data_line(self, value: bytes, start: int, no: int) -> None:
        """Append ``value`` and an LF to the data buffer.

        The buffer holds bytes, decoded once at dispatch: a list of one str
        per line would cost some 60 bytes per line beyond the data, so an
        event of many short lines would escape the max_event_bytes bound.
        Decoding the joined lines gives the same text as decoding each line,
        since no UTF-8 sequence spans an LF.
        """
        if len(self._data) + len(value) + 1 > self._max_event:
            what = f"event data over {self._max_event} bytes (max_event_bytes)"
            self._stop("event-too-large", f"{what}; decoding stopped", start, no)
        self._data += value
        self._data.append(0x0A)

    def _retry_field(self, value: bytes, start: int, no: int) -> None:
        """Set the reconnection time, if ``value`` is ASCII digits only."""
        if not value.isdigit():  # bytes.isdigit: ASCII digits, at least one
            self._diag("invalid-retry", f"retry {_show(value)} is not digits only", start, no)
        elif len(value.lstrip(b"0")) > _MAX_RETRY_DIGITS:
            self._diag("invalid-retry", f"retry has over {_MAX_RETRY_DIGITS} digits", start, no)
        else:
            self._retry = int(value)

    def _comment(self, line: bytes, start: int) -> None:
        """Keep a comment line (``line`` starts with the colon), one space stripped."""
        if len(self.comments) >= self._max_comments:
            self.comments_dropped += 1
            return
        body = line[2:] if line[1:2] == b" " else line[1:]
        # No character takes more than 4 bytes: decode no more than the kept part needs.
        text = body[: 4 * _MAX_COMMENT_CHARS].decode(errors="replace")
        self.comments.append(Comment(text[:_MAX_COMMENT_CHARS], start))

    def _dispatch(self, end: int, out: list[Event]) -> None:
        """A blank line: dispatch the event being built, if it has data."""
        data = self._data
        if data:
            # Drop the last LF in place: a copy of a large buffer would double
            # the peak.  Lines that are not UTF-8 were flagged as they came.
            del data[-1]
            text = data.decode(errors="replace")
            out.append(
                _make_event(
                    self._type or "message", text, self._last_id, self._retry, self._block, end
                )
            )
            self._data = bytearray()
        self._type = ""
        self._block = -1

    # -- diagnostics -------------------------------------------------------

    def _too_long(self, start: int, no: int) -> None:
        what = f"line over {self._max_line} bytes (max_line_bytes)"
        self._stop("line-too-long", f"{what}; decoding stopped", start, no)

    def _stop(self, code: str, message: str, offset: int, line: int) -> None:
        """A cap is reached: record why and unwind to :meth:`feed`."""
        stop = Diagnostic(code, message, offset, line)
        self.stopped = stop
        self.diagnostics.append(stop)  # past max_diagnostics too: it says why decoding ended
        raise _CapReached

    def _diag(self, code: str, message: str, offset: int, line: int) -> None:
        stored = len(self.diagnostics)
        if stored < self._max_diagnostics:
            self.diagnostics.append(Diagnostic(code, message, offset, line))
        elif stored == self._max_diagnostics:
            self.diagnostics.append(
                Diagnostic("too-many-diagnostics", "later diagnostics not stored", offset, line)
            )
