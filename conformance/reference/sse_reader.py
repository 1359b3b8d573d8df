"""A small incremental reader that cuts an upstream byte stream at event boundaries.

The proxy uses it to forward whole events (so an upstream failure never lands
in the middle of one) and, when a fault needs them, to get the events back as
items.  It splits lines on CR, LF and CRLF across any split of the input, like
the WHATWG event-stream parser; it keeps only ``event`` and ``data`` lines and comments.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire import Comment, Data, Item

__all__ = ["Piece", "SSEReader"]

# An upstream that never ends a line must not make the proxy hold it all.
_MAX_PENDING = 1 << 20


@dataclass(frozen=True, slots=True)
class Piece:
    """The exact bytes up to a dispatch, and the item they made (None: nothing)."""

    raw: bytes
    item: Item | None


class SSEReader:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._buffer = bytearray()
        self._raw = bytearray()
        self._data: list[str] = []
        self._event: str | None = None
        self._comment: str | None = None

    def feed(self, chunk: bytes) -> list[Piece]:
        self._buffer += chunk
        pieces: list[Piece] = []
        while (line := self._next_line()) is not None:
            piece = self._take(line)
            if piece is not None:
                pieces.append(piece)
        if len(self._raw) + len(self._buffer) > _MAX_PENDING:
            pieces.append(Piece(self.close(), None))
        return pieces

    def close(self) -> bytes:
        """The bytes of an unterminated last event (which readers discard)."""
        rest = bytes(self._raw + self._buffer)
        self._reset()
        return rest

    def _next_line(self) -> bytes | None:
        ends = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
        if not ends:
            return None
        end = min(ends)
        if self._buffer[end : end + 1] == b"\r" and end + 1 == len(self._buffer):
            # A CR that ends the buffer may be half of a CRLF split across reads:
            # wait for the next byte, so the LF stays with the event it ends.
            return None
        line = bytes(self._buffer[:end])
        self._consume(end + (2 if self._buffer[end : end + 2] == b"\r\n" else 1))
        return line

    def _consume(self, size: int) -> None:
        self._raw += self._buffer[:size]
        del self._buffer[:size]

    def _take(self, line: bytes) -> Piece | None:
        if line:
            self._field(line.decode("utf-8", errors="replace"))
            return None
        item: Item | None = None
        if self._data:
            item = Data("\n".join(self._data), self._event)
        elif self._comment is not None:
            item = Comment(self._comment)
        piece = Piece(bytes(self._raw), item)
        self._raw.clear()
        self._data, self._event, self._comment = [], None, None
        return piece

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if not name:
            if self._comment is None:
                self._comment = value
        elif name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value or None
