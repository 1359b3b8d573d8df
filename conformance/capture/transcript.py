"""The recorded form of one HTTP exchange: what rules read and reports render.

A transcript is plain, immutable, typed data.  It is built by the recorder from
the wire, from a body alone (:func:`conformance.capture.build.from_bytes`),
and read back from JSON (:meth:`Transcript.from_json`), so rules, failing
fixtures and reports all share one form.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Comment",
    "Diagnostic",
    "Ending",
    "Event",
    "Read",
    "Request",
    "Transcript",
]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something a strict reader flags, at a byte offset and line of the body."""

    code: str
    message: str
    offset: int = 0
    line: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """A dispatched server-sent event, as the WHATWG HTML standard defines it.

    ``offset`` and ``end`` locate the event's bytes in the body (from its first
    line to just past the blank line that dispatched it); ``t_ns`` is when its
    last byte arrived, in ns since the request was sent.  They are positions,
    not content, so they take no part in equality.
    """

    type: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None
    offset: int = field(default=0, compare=False, repr=False)
    end: int = field(default=0, compare=False, repr=False)
    t_ns: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line (``: text``), with where and when it arrived."""

    text: str
    offset: int = 0
    t_ns: int = 0


@dataclass(frozen=True, slots=True)
class Read:
    """One read from the socket, at ``t_ns``.

    ``wire`` bytes arrived as sent (compressed, if the server compressed);
    they added ``size`` bytes of decoded body at ``offset``.
    """

    t_ns: int
    offset: int
    size: int
    wire: int = 0


class Ending(StrEnum):
    """How an exchange ended."""

    COMPLETE = "complete"  # the server closed the body normally
    DROPPED = "dropped"  # the harness closed it on purpose (disconnect test)
    DEADLINE = "deadline"  # the total deadline of the exchange ran out
    SIZE_CAP = "size-cap"  # the body grew past the byte cap
    EVENT_CAP = "event-cap"  # more events than the event cap
    RESET = "reset"  # the connection broke mid-exchange
    REFUSED = "refused"  # nothing listened, or the name did not resolve
    TLS = "tls"  # the TLS handshake failed
    PROTOCOL = "protocol"  # the server broke HTTP itself
    REDIRECT = "redirect"  # a redirect was refused (credentials stay at home)
    NOT_SENT = "not-sent"  # the harness did not send it: the target had stopped answering


@dataclass(frozen=True, slots=True)
class Request:
    """What was sent.  Header values that carry secrets are already redacted."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def json(self) -> Any:
        """The request body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # a hostile body may nest past the stack
            return None


_CLEAN_ENDINGS = (Ending.COMPLETE, Ending.DROPPED)


@dataclass(frozen=True, slots=True)
class Transcript:
    """One exchange: request, status, headers, raw body with timing, events.

    Times are nanoseconds on a monotonic clock, counted from the moment the
    request was sent.  ``related`` holds the other exchanges of a scenario that
    needs more than one (the non-stream twin of a stream, the request after a
    dropped connection, concurrent streams), each under a name.
    """

    scenario: str
    target: str
    request: Request
    status: int | None = None
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    reads: tuple[Read, ...] = ()
    events: tuple[Event, ...] = ()
    comments: tuple[Comment, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    ending: Ending = Ending.COMPLETE
    ending_detail: str = ""
    t_headers_ns: int | None = None
    t_end_ns: int = 0
    truncated: bool = False
    related: tuple[tuple[str, Transcript], ...] = ()

    # -- headers -----------------------------------------------------------

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, in the order received."""
        key = name.lower()
        return [v for k, v in self.headers if k.lower() == key]

    # -- body --------------------------------------------------------------

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # a hostile body may nest past the stack
            return None

    def bytes_around(self, offset: int, before: int = 120, after: int = 200) -> bytes:
        """The body bytes near ``offset``, for evidence in a failure message."""
        start = max(0, offset - before)
        return self.body[start : offset + after]

    def other(self, name: str) -> Transcript | None:
        """The related exchange stored under ``name``, or None."""
        for key, value in self.related:
            if key == name:
                return value
        return None

    # -- timing ------------------------------------------------------------

    @property
    def ttfb_ms(self) -> float | None:
        """Time to the first body byte, in ms (None when no body arrived)."""
        return self.reads[0].t_ns / 1e6 if self.reads else None

    @property
    def duration_ms(self) -> float:
        return self.t_end_ns / 1e6

    @property
    def ended_cleanly(self) -> bool:
        return self.ending in _CLEAN_ENDINGS

    # -- serialization -----------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; bytes are base64, so nothing is lost."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "body":
                value = base64.b64encode(value).decode("ascii")
            elif f.name == "request":
                value = {
                    "method": value.method,
                    "url": value.url,
                    "headers": [list(h) for h in value.headers],
                    "body": base64.b64encode(value.body).decode("ascii"),
                }
            elif f.name == "related":
                value = [[name, t.to_json()] for name, t in value]
            elif f.name in ("reads", "events", "comments", "diagnostics"):
                value = [_slots_dict(item) for item in value]
            elif f.name == "headers":
                value = [list(h) for h in value]
            elif f.name == "ending":
                value = str(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transcript:
        req = data["request"]
        return cls(
            scenario=data["scenario"],
            target=data["target"],
            request=Request(
                method=req["method"],
                url=req["url"],
                headers=tuple((k, v) for k, v in req["headers"]),
                body=base64.b64decode(req["body"]),
            ),
            status=data["status"],
            http_version=data["http_version"],
            headers=tuple((k, v) for k, v in data["headers"]),
            body=base64.b64decode(data["body"]),
            reads=tuple(Read(**r) for r in data["reads"]),
            events=tuple(Event(**e) for e in data["events"]),
            comments=tuple(Comment(**c) for c in data["comments"]),
            diagnostics=tuple(Diagnostic(**d) for d in data["diagnostics"]),
            ending=Ending(data["ending"]),
            ending_detail=data["ending_detail"],
            t_headers_ns=data["t_headers_ns"],
            t_end_ns=data["t_end_ns"],
            truncated=data["truncated"],
            related=tuple((n, cls.from_json(t)) for n, t in data["related"]),
        )


def _slots_dict(item: Any) -> dict[str, Any]:
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
