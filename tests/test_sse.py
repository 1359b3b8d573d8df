"""conformance.sse against the WHATWG HTML event-stream rules.

Every vector is decoded three ways: fed whole, fed one byte at a time, and
cut at random points (hypothesis).  Events, their offsets, diagnostics
(code, offset, line) and comments must come out the same each time, and
each event must be returned by the feed that delivered its last byte.
A reference decoder written straight from the spec, over the whole text,
checks random streams as well.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.capture import Diagnostic
from conformance.capture.sse import (
    _FAST_EVENTS,
    DIAGNOSTIC_CODES,
    Comment,
    Event,
    SSEDecoder,
    _fast_event,
    _make_event,
    _plain_event,
)

BOM = b"\xef\xbb\xbf"
Diag = tuple[str, int, int]  # code, offset, line


def ev(
    data: str,
    offset: int,
    end: int,
    *,
    type: str = "message",
    id: str = "",
    retry: int | None = None,
) -> Event:
    return Event(type=type, data=data, id=id, retry=retry, offset=offset, end=end)


@dataclass(frozen=True)
class Vector:
    name: str
    body: bytes
    events: list[Event]
    diagnostics: list[Diag] = field(default_factory=list)
    comments: list[Comment] | None = None  # None: not checked
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    events: list[Event]
    diagnostics: list[Diag]
    comments: list[Comment]
    fed_at: list[int]  # for each event, the bytes fed when it was returned


def decode(body: bytes, cuts: list[int], **options: Any) -> Outcome:
    """Feed ``body`` cut at ``cuts``, then close."""
    decoder = SSEDecoder(**options)
    events: list[Event] = []
    fed_at: list[int] = []
    bounds = [0, *sorted(set(cuts)), len(body)]
    for start, stop in itertools.pairwise(bounds):
        fresh = decoder.feed(body[start:stop])
        events += fresh
        fed_at += [stop] * len(fresh)
    assert decoder.close() == []
    assert decoder.close() == []
    diagnostics = [(d.code, d.offset, d.line) for d in decoder.diagnostics]
    return Outcome(events, diagnostics, decoder.comments, fed_at)


def positions(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.offset, e.end) for e in events]


def expected_end(body: bytes, end: int, cuts: list[int]) -> int:
    """Where an event ends when fed with ``cuts``.

    A blank line ended by a CR that is the last byte of a feed dispatches at
    once, before the LF of its CRLF pair arrives.
    """
    if end - 1 in cuts and body[end - 2 : end] == b"\r\n":
        return end - 1
    return end


def check(vector: Vector, cuts: list[int]) -> None:
    got = decode(vector.body, cuts, **vector.options)
    assert got.events == vector.events
    want = [(e.offset, expected_end(vector.body, e.end, cuts)) for e in vector.events]
    assert positions(got.events) == want
    assert got.diagnostics == vector.diagnostics
    if vector.comments is not None:
        assert got.comments == vector.comments
    for (_, end), fed in zip(want, got.fed_at, strict=True):
        # Returned by the feed that carried the event's last byte.
        assert fed >= end and not any(end <= cut < fed for cut in cuts)
    assert all(d[0] in DIAGNOSTIC_CODES for d in got.diagnostics)


LONG = b"x" * 2048

VECTORS = [
    # -- line ends --------------------------------------------------------
    Vector("lf", b"data: x\n\n", [ev("x", 0, 9)]),
    Vector("cr", b"data: x\r\r", [ev("x", 0, 9)], [("cr-line-end", 7, 1), ("cr-line-end", 8, 2)]),
    Vector("crlf", b"data: x\r\n\r\n", [ev("x", 0, 11)]),
    Vector(
        "crlf-events",
        b"data: a\r\n\r\ndata: b\r\n\r\n",
        [ev("a", 0, 11), ev("b", 11, 22)],
    ),
    Vector(
        "mixed",
        b"data: a\rdata: b\ndata: c\r\n\n",
        [ev("a\nb\nc", 0, 26)],
        [("cr-line-end", 7, 1)],
    ),
    Vector(
        "lf-then-cr-is-two-line-ends",
        b"data: a\n\rdata: b\r\n\r\n",
        [ev("a", 0, 9), ev("b", 9, 20)],
        [("cr-line-end", 8, 2)],
    ),
    Vector(
        "cr-inside-an-lf-stream",
        b"data: a\rb\n\n",
        [ev("a", 0, 11)],
        [("cr-line-end", 7, 1), ("no-colon", 8, 2), ("unknown-field", 8, 2)],
    ),
    Vector(
        "cr-only-events",
        b"data: a\r\rdata: b\r\r: c\r\rdata: d\r\rdata: e\rdata: f\r\r",
        [ev("a", 0, 9), ev("b", 9, 18), ev("d", 23, 32), ev("e\nf", 32, 49)],
        [
            ("cr-line-end", 7, 1),
            ("cr-line-end", 8, 2),
            ("cr-line-end", 16, 3),
            ("cr-line-end", 17, 4),
            ("cr-line-end", 21, 5),
            ("cr-line-end", 22, 6),
            ("cr-line-end", 30, 7),
            ("cr-line-end", 31, 8),
            ("cr-line-end", 39, 9),
            ("cr-line-end", 47, 10),
            ("cr-line-end", 48, 11),
        ],
        comments=[Comment("c", 18)],
    ),
    Vector(
        "cr-only-diagnostics-cap",
        b"data: a\r\rdata: b\r\rdata: c\r\r",
        [ev("a", 0, 9), ev("b", 9, 18), ev("c", 18, 27)],
        [
            ("cr-line-end", 7, 1),
            ("cr-line-end", 8, 2),
            ("cr-line-end", 16, 3),
            ("too-many-diagnostics", 17, 4),
        ],
        options={"max_diagnostics": 3},
    ),
    Vector("blank-lines-only", b"\n\n\r\n\r\r", [], [("cr-line-end", 4, 4), ("cr-line-end", 5, 5)]),
    Vector("empty", b"", []),
    # -- byte order mark -----------------------------------------------------
    Vector("bom", BOM + b"data: x\n\n", [ev("x", 3, 12)], [("bom", 0, 1)]),
    Vector("bom-crlf", BOM + b"data: x\r\n\r\n", [ev("x", 3, 14)], [("bom", 0, 1)]),
    Vector(
        "double-bom",
        BOM + BOM + b"data: 1\n\ndata: 2\n\n",
        [ev("2", 15, 24)],
        [("bom", 0, 1), ("unknown-field", 3, 1)],
    ),
    Vector(
        "bom-later-is-text",
        b"data: 1\n\n" + BOM + b"data: 2\n\n",
        [ev("1", 0, 9)],
        [("unknown-field", 9, 3)],
    ),
    Vector(
        "bom-prefix-is-not-a-bom",
        b"\xef\xbbdata: x\n\n",
        [],
        [("invalid-utf8", 0, 1), ("unknown-field", 0, 1)],
    ),
    Vector("bom-alone", BOM, [], [("bom", 0, 1)]),
    Vector("bom-cut-short", b"\xef\xbb", [], [("unterminated", 0, 1)]),
    # -- field parsing -------------------------------------------------------
    Vector("no-space", b"data:x\n\n", [ev("x", 0, 8)], [("no-space", 0, 1)]),
    Vector(
        "no-space-events",
        b"data:a\n\ndata:b\n\ndata:\n\ndata: c\n\ndata:d\ndata:e\n\n",
        [ev("a", 0, 8), ev("b", 8, 16), ev("", 16, 23), ev("c", 23, 32), ev("d\ne", 32, 47)],
        [("no-space", 0, 1), ("no-space", 8, 3), ("no-space", 32, 9), ("no-space", 39, 10)],
    ),
    Vector(
        "no-space-crlf",
        b"data:a\r\n\r\ndata:b\r\n\r\n",
        [ev("a", 0, 10), ev("b", 10, 20)],
        [("no-space", 0, 1), ("no-space", 10, 3)],
    ),
    Vector(
        "no-space-cr",
        b"data:a\r\rdata:b\r\r",
        [ev("a", 0, 8), ev("b", 8, 16)],
        [
            ("no-space", 0, 1),
            ("cr-line-end", 6, 1),
            ("cr-line-end", 7, 2),
            ("no-space", 8, 3),
            ("cr-line-end", 14, 3),
            ("cr-line-end", 15, 4),
        ],
    ),
    Vector("two-spaces", b"data:  x\n\n", [ev(" x", 0, 10)]),
    Vector("tab-is-kept", b"data:\tx\n\n", [ev("\tx", 0, 9)], [("no-space", 0, 1)]),
    Vector("space-only", b"data: \n\n", [ev("", 0, 8)]),
    Vector("empty-value", b"data:\n\n", [ev("", 0, 7)]),
    Vector("no-colon-data", b"data\n\n", [ev("", 0, 6)], [("no-colon", 0, 1)]),
    Vector(
        "two-empty-data-lines",
        b"data\ndata\n\n",
        [ev("\n", 0, 11)],
        [("no-colon", 0, 1), ("no-colon", 5, 2)],
    ),
    Vector("colons-in-value", b"data: a:b: c\n\n", [ev("a:b: c", 0, 14)]),
    Vector("nul-in-data", b"data: \x00\n\n", [ev("\x00", 0, 9)]),
    Vector(
        "names-are-case-sensitive",
        b"Data: x\ndata : y\ndata: z\n\n",
        [ev("z", 0, 26)],
        [("unknown-field", 0, 1), ("unknown-field", 8, 2)],
    ),
    Vector(
        "unknown-fields",
        b"foo: bar\nhello\ndata: y\n\n",
        [ev("y", 0, 24)],
        [("unknown-field", 0, 1), ("no-colon", 9, 2), ("unknown-field", 9, 2)],
    ),
    Vector(
        "space-before-name",
        b" data: x\ndata: y\n\n",
        [ev("y", 0, 18)],
        [("unknown-field", 0, 1)],
    ),
    # -- data ------------------------------------------------------------------
    Vector("multi-line", b"data: a\ndata: b\ndata: c\n\n", [ev("a\nb\nc", 0, 25)]),
    Vector(
        "blank-data-lines-inside",
        b"data: a\ndata:\ndata: b\n\n",
        [ev("a\n\nb", 0, 23)],
    ),
    Vector(
        "empty-buffer-dispatches-nothing",
        b"event: e\n\ndata: x\n\n",
        [ev("x", 10, 19)],
    ),
    Vector(
        "extra-blank-lines",
        b"data: a\n\n\n\ndata: b\n\n",
        [ev("a", 0, 9), ev("b", 11, 20)],
    ),
    # -- comments ---------------------------------------------------------------
    Vector(
        "comments",
        b": hello\n:world\n:\n:  two\ndata: x\n\n",
        [ev("x", 0, 33)],
        comments=[Comment("hello", 0), Comment("world", 8), Comment("", 15), Comment(" two", 17)],
    ),
    Vector(
        "comment-blocks",
        b": ping\n\ndata: x\n\n: bye\n\n",
        [ev("x", 8, 17)],
        comments=[Comment("ping", 0), Comment("bye", 17)],
    ),
    Vector(
        "comment-looks-like-data",
        b":data: no\ndata: yes\n\n",
        [ev("yes", 0, 21)],
        comments=[Comment("data: no", 0)],
    ),
    Vector(
        "comment-fest",
        b"data:1\r:\x00\n:\r\ndata:2\n:"
        + LONG
        + b"\rdata:3\n:data:fail\r:"
        + LONG
        + b"\ndata:4\n\n",
        [ev("1\n2\n3\n4", 0, 4146)],
        [
            ("no-space", 0, 1),
            ("cr-line-end", 6, 1),
            ("no-space", 13, 4),
            ("cr-line-end", 2069, 5),
            ("no-space", 2070, 6),
            ("cr-line-end", 2087, 7),
            ("no-space", 4138, 9),
        ],
    ),
    # -- event type ---------------------------------------------------------------
    Vector(
        "event-type",
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [ev("1", 0, 20, type="add"), ev("2", 20, 29)],
    ),
    Vector("empty-event-type", b"event:\ndata: x\n\n", [ev("x", 0, 16)]),
    Vector("event-type-space", b"event: \ndata: x\n\n", [ev("x", 0, 17)]),
    Vector(
        "event-type-reset-by-empty-block",
        b"event: a\n\ndata: x\n\n",
        [ev("x", 10, 19)],
    ),
    Vector(
        "last-event-type-wins",
        b"event: a\nevent: b\ndata: x\n\n",
        [ev("x", 0, 27, type="b")],
    ),
    # -- id -----------------------------------------------------------------------
    Vector(
        "id-persists",
        b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 3\n\ndata: d\n\n",
        [
            ev("a", 0, 15, id="1"),
            ev("b", 15, 24, id="1"),
            ev("c", 24, 36, id=""),
            ev("d", 43, 52, id="3"),
        ],
        [("no-colon", 24, 6)],
    ),
    Vector(
        "id-with-nul-is-ignored",
        b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\nid: \x00\n\ndata: c\n\n",
        [ev("a", 0, 15, id="1"), ev("b", 15, 32, id="1"), ev("c", 39, 48, id="1")],
        [("id-nul", 15, 4), ("id-nul", 32, 7)],
    ),
    Vector("id-keeps-spaces", b"id:  1 \ndata: a\n\n", [ev("a", 0, 17, id=" 1 ")]),
    Vector(
        "id-set-after-data",
        b"data: a\nid: 7\n\n",
        [ev("a", 0, 15, id="7")],
    ),
    # -- retry --------------------------------------------------------------------
    Vector(
        "retry",
        b"retry: 1000\ndata: a\n\nretry: 12x\ndata: b\n\nretry: 0500\ndata: c\n\n",
        [ev("a", 0, 21, retry=1000), ev("b", 21, 41, retry=1000), ev("c", 41, 62, retry=500)],
        [("invalid-retry", 21, 4)],
    ),
    Vector(
        "retry-bogus",
        b"retry:\nretry\nretry: \nretry:  5\nretry: +5\nretry: -1\nretry: 1.5\n"
        b"retry: 0x10\nretry: \xd9\xa1\xd9\xa2\ndata: x\n\n",
        [ev("x", 0, 95)],
        [
            ("invalid-retry", 0, 1),
            ("no-colon", 7, 2),
            ("invalid-retry", 7, 2),
            ("invalid-retry", 13, 3),
            ("invalid-retry", 21, 4),
            ("invalid-retry", 31, 5),
            ("invalid-retry", 41, 6),
            ("invalid-retry", 51, 7),
            ("invalid-retry", 62, 8),
            ("invalid-retry", 74, 9),
        ],
    ),
    Vector(
        "retry-without-data",
        b"retry: 10\n\ndata: x\n\n",
        [ev("x", 11, 20, retry=10)],
    ),
    Vector(
        "retry-huge",
        b"retry: 1" + b"0" * 30 + b"\ndata: x\n\n",
        [ev("x", 0, 48, retry=10**30)],
    ),
    # -- end of stream --------------------------------------------------------------
    Vector(
        "unterminated-event",
        b"data: a\n\ndata: b\n",
        [ev("a", 0, 9)],
        [("unterminated", 9, 3)],
    ),
    Vector(
        "unterminated-line",
        b"data: a\n\nevent: x\ndata: b",
        [ev("a", 0, 9)],
        [("unterminated", 9, 3)],
    ),
    Vector(
        "unterminated-comment",
        b"data: a\n\n: bye",
        [ev("a", 0, 9)],
        [("unterminated", 9, 3)],
    ),
    Vector(
        "unterminated-cr",
        b"data: a\n\ndata: b\r",
        [ev("a", 0, 9)],
        [("cr-line-end", 16, 3), ("unterminated", 9, 3)],
    ),
    Vector("fields-without-data-at-end", b"data: a\n\nevent: x\nid: 1\n", [ev("a", 0, 9)]),
    # -- UTF-8 ----------------------------------------------------------------------
    Vector(
        "utf8",
        "data: café 日本 😀\n\n".encode(),
        [ev("café 日本 😀", 0, 25)],
    ),
    Vector("invalid-utf8", b"data: a\xffb\n\n", [ev("a\ufffdb", 0, 11)], [("invalid-utf8", 7, 1)]),
    Vector(
        "truncated-utf8",
        b"data: a\xe6\x97\n\ndata: b\n\n",
        [ev("a\ufffd", 0, 11), ev("b", 11, 20)],
        [("invalid-utf8", 7, 1)],
    ),
    Vector(
        "invalid-utf8-in-name",
        b"d\xffta: x\n\n",
        [],
        [("invalid-utf8", 1, 1), ("unknown-field", 0, 1)],
    ),
    Vector(
        "invalid-utf8-per-line",
        b"data: \xff\ndata: \xfe\n\n",
        [ev("\ufffd\n\ufffd", 0, 17)],
        [("invalid-utf8", 6, 1), ("invalid-utf8", 14, 2)],
    ),
    # -- caps -----------------------------------------------------------------------
    # A cap never changes what is decoded: past it, decoding stops, and what
    # was dispatched before is exact.
    Vector(
        "line-at-the-cap",
        b"data: 0123456789\n\n",
        [ev("0123456789", 0, 18)],
        options={"max_line_bytes": 16},
    ),
    Vector(
        "line-too-long",
        b"data: ok\n\ndata: 0123456789abcdefXYZ\n\ndata: no\n\n",
        [ev("ok", 0, 10)],
        [("line-too-long", 10, 3)],
        options={"max_line_bytes": 16},
    ),
    Vector(
        "line-too-long-on-a-character",
        "data: a\n\ndata: éé\n\n".encode(),
        [ev("a", 0, 9)],
        [("line-too-long", 9, 3)],
        options={"max_line_bytes": 9},
    ),
    Vector(
        "line-too-long-comment",
        b"data: a\n\n: " + b"c" * 40 + b"\ndata: x\n\n",
        [ev("a", 0, 9)],
        [("line-too-long", 9, 3)],
        comments=[],
        options={"max_line_bytes": 16},
    ),
    Vector(
        "line-too-long-never-ends",
        b"data: 0123456789abcdef",
        [],
        [("line-too-long", 0, 1)],
        options={"max_line_bytes": 8},
    ),
    Vector(
        "line-too-long-mid-event",
        b"data: 1\ndata: 0123456789\n\n",
        [],
        [("line-too-long", 8, 2)],
        options={"max_line_bytes": 8},
    ),
    Vector(
        "event-too-large",
        b"data: ok\n\ndata: 1234\ndata: 5678\ndata: 9\n\ndata: ok\n\n",
        [ev("ok", 0, 10)],
        [("event-too-large", 21, 4)],
        options={"max_event_bytes": 8},
    ),
    Vector(
        "event-at-the-cap",
        b"data: 123\ndata: 4567\n\n",
        [ev("123\n4567", 0, 22)],
        options={"max_event_bytes": 9},
    ),
    Vector(
        "too-many-diagnostics",
        b"a\nb\nc\ndata: x\n\n",
        [ev("x", 0, 15)],
        [
            ("no-colon", 0, 1),
            ("unknown-field", 0, 1),
            ("no-colon", 2, 2),
            ("too-many-diagnostics", 2, 2),
        ],
        options={"max_diagnostics": 3},
    ),
    Vector(
        "comments-cap",
        b":1\n:2\n:3\ndata: x\n\n",
        [ev("x", 0, 18)],
        comments=[Comment("1", 0), Comment("2", 3)],
        options={"max_comments": 2},
    ),
    # -- from the web-platform-tests EventSource suite ------------------------------
    Vector(
        "wpt-field-parsing",
        b"data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\r"
        b"data_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
        [ev("\x00\n 2\n1\n3\n\n4", 0, 92)],
        [
            ("no-space", 0, 1),
            ("cr-line-end", 15, 2),
            ("unknown-field", 16, 3),
            ("unknown-field", 23, 4),
            ("no-space", 31, 5),
            ("cr-line-end", 37, 5),
            ("unknown-field", 38, 6),
            ("unknown-field", 46, 7),
            ("cr-line-end", 53, 7),
            ("no-colon", 54, 8),
            ("unknown-field", 54, 8),
            ("no-space", 61, 9),
            ("cr-line-end", 67, 9),
            ("unknown-field", 75, 11),
            ("no-space", 84, 12),
        ],
    ),
    Vector(
        "wpt-leading-space",
        b"data:\ttest\rdata: \ndata:test\n\n",
        [ev("\ttest\n\ntest", 0, 29)],
        [("no-space", 0, 1), ("cr-line-end", 10, 1), ("no-space", 18, 3)],
    ),
    Vector(
        "wpt-newlines",
        b"data:test\r\ndata\ndata:test\r\n\r\n",
        [ev("test\n\ntest", 0, 29)],
        [("no-space", 0, 1), ("no-colon", 11, 2), ("no-space", 16, 3)],
    ),
    # -- what an OpenAI-compatible server sends ------------------------------------
    Vector(
        "chat-stream",
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"h\xc3\xa9"}}]}\n\n'
        b": keep-alive\n\n"
        b"data: [DONE]\n\n",
        [
            ev('{"choices":[{"delta":{"role":"assistant"}}]}', 0, 52),
            ev('{"choices":[{"delta":{"content":"hé"}}]}', 52, 101),
            ev("[DONE]", 115, 129),
        ],
        comments=[Comment("keep-alive", 101)],
    ),
]


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector_fed_whole(vector: Vector) -> None:
    check(vector, [])


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector_fed_byte_by_byte(vector: Vector) -> None:
    check(vector, list(range(1, len(vector.body))))


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_vector_fed_in_random_pieces(vector: Vector, data: st.DataObject) -> None:
    top = max(1, len(vector.body) - 1)
    cuts = data.draw(st.lists(st.integers(1, top), max_size=12), label="cuts")
    check(vector, sorted(set(cuts)))


# -- a reference decoder, straight from the spec ------------------------------


def reference(body: bytes) -> list[Event]:
    """The spec's steps over the whole decoded text, with no care for speed or pieces."""
    text = body.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split("\r\n|\r|\n", text)[:-1]  # the last piece never ended
    events: list[Event] = []
    data, kind, last_id, retry = "", "", "", None
    for line in lines:
        if line == "":
            if data:
                events.append(Event(kind or "message", data.removesuffix("\n"), last_id, retry))
            data, kind = "", ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            kind = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return events


NAMES = st.sampled_from(["data"] * 6 + ["event", "id", "retry", "", "x", "Data"])
VALUES = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]))
DIGITS = st.text("0123456789", min_size=1, max_size=6)
LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def field_lines(draw: st.DrawFn) -> bytes:
    """One line: a field (value after one optional space), a comment or a bare name."""
    name = draw(NAMES)
    kind = draw(st.sampled_from(["field", "field", "comment", "bare"]))
    if kind == "comment":
        return b":" + draw(VALUES).encode()
    if kind == "bare":
        return name.encode()
    value = draw(DIGITS) if name == "retry" and draw(st.booleans()) else draw(VALUES)
    space = b" " if draw(st.booleans()) else b""
    return name.encode() + b":" + space + value.encode()


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Events of valid fields, with any line ends, and perhaps a BOM and a cut-off tail.

    Half the streams keep to one line end, so that whole chunks of LF, CRLF
    or CR alone come up, as they do from real servers.
    """
    out = [BOM] if draw(st.booleans()) else []
    line_ends = st.just(draw(LINE_ENDS)) if draw(st.booleans()) else LINE_ENDS
    for _ in range(draw(st.integers(0, 6))):
        for line in draw(st.lists(field_lines(), max_size=4)):
            out += [line, draw(line_ends)]
        out.append(draw(line_ends))
    if draw(st.booleans()):
        out.append(draw(field_lines()))
    return b"".join(out)


@settings(max_examples=300, deadline=None)
@given(body=streams(), data=st.data())
def test_random_streams_match_the_reference_under_any_split(
    body: bytes, data: st.DataObject
) -> None:
    whole = decode(body, [])
    assert whole.events == reference(body)
    cuts = data.draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=20))
    split = decode(body, cuts)
    assert split.events == whole.events
    ends = [expected_end(body, e.end, sorted(set(cuts))) for e in whole.events]
    assert positions(split.events) == [
        (e.offset, end) for e, end in zip(whole.events, ends, strict=True)
    ]
    assert split.diagnostics == whole.diagnostics
    assert split.comments == whole.comments


@settings(max_examples=300, deadline=None)
@given(
    body=st.lists(
        st.sampled_from(
            [
                b"data",
                b":",
                b" ",
                b"\n",
                b"\r",
                b"\r\n",
                b"x",
                b"\xc3\xa9",
                b"\xff",
                b"\xe6\x97",
                BOM,
                b"id",
                b"event",
                b"retry",
                b"7",
                b"\x00",
            ]
        ),
        max_size=40,
    ).map(b"".join),
    data=st.data(),
)
def test_random_bytes_match_the_reference_under_any_split(body: bytes, data: st.DataObject) -> None:
    whole = decode(body, [], max_line_bytes=24)
    assert decode(body, []).events == reference(body)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(body) - 1)), max_size=20))))
    split = decode(body, cuts, max_line_bytes=24)
    assert split.events == whole.events
    ends = [expected_end(body, e.end, cuts) for e in whole.events]
    assert positions(split.events) == [
        (e.offset, end) for e, end in zip(whole.events, ends, strict=True)
    ]
    assert split.diagnostics == whole.diagnostics
    assert split.comments == whole.comments


# -- the API ------------------------------------------------------------------


def test_events_come_out_as_soon_as_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [Event(data="a")]
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\r") == [Event(data="b")]  # no wait for a possible LF
    assert decoder.feed(b"\n") == []  # a blank line: it dispatches nothing
    assert decoder.close() == []


def test_close_discards_the_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [Event(data="a")]
    assert decoder.close() == []
    assert [d.code for d in decoder.diagnostics] == ["unterminated"]


def test_feed_after_close_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(RuntimeError):
        decoder.feed(b"data: x\n\n")


def test_bytes_like_input() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(bytearray(b"data: a\n\n")) == [Event(data="a")]
    assert decoder.feed(memoryview(b"data: b\n\n")) == [Event(data="b")]


@pytest.mark.parametrize(
    "options",
    [{"max_line_bytes": 0}, {"max_event_bytes": 0}, {"max_diagnostics": -1}, {"max_comments": -1}],
)
def test_caps_must_be_positive(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        SSEDecoder(**options)


def test_the_fast_event_constructor_is_in_use_and_builds_true_events() -> None:
    # If Event changes shape the decoder falls back to Event(...): still right,
    # but slower, and this test says so.
    event = _make_event("add", "x", "1", 5, 10, 20)
    assert type(event) is Event
    assert dataclasses.astuple(event) == ("add", "x", "1", 5, 10, 20, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "y"  # type: ignore[misc]
    assert _FAST_EVENTS and _make_event is _fast_event


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector_without_the_fast_event_builder(
    vector: Vector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The decoder a changed Event would get: no short path, Event(...) for all.
    monkeypatch.setattr("conformance.capture.sse._FAST_EVENTS", False)
    monkeypatch.setattr("conformance.capture.sse._make_event", _plain_event)
    check(vector, [])
    check(vector, list(range(1, len(vector.body))))


def test_diagnostics_carry_a_message() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"foo: 1\nretry: x\n\n")
    decoder.close()
    assert all(isinstance(d, Diagnostic) and d.message for d in decoder.diagnostics)


def test_memory_stays_bounded_on_an_endless_line() -> None:
    decoder = SSEDecoder(max_line_bytes=1024)
    assert decoder.feed(b"data: ok\n\ndata: ") == [Event(data="ok")]
    piece = b"x" * 4096
    for _ in range(256):  # 1 MiB of one line
        assert decoder.feed(piece) == []
    assert len(decoder._partial) <= 1024
    assert decoder.feed(b"\n\ndata: y\n\n") == []  # stopped: nothing after the cap
    assert decoder.stopped is not None and decoder.stopped.code == "line-too-long"
    assert decoder.stopped.offset == 10
    assert decoder.close() == []
    assert [d.code for d in decoder.diagnostics] == ["line-too-long"]  # not "unterminated"


def test_memory_stays_bounded_on_an_endless_event() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    for _ in range(1000):
        decoder.feed(b"data: x\n" * 100)
    assert len(decoder._data) <= 1000
    assert decoder.feed(b"\n") == []
    assert decoder.stopped is not None and decoder.stopped.code == "event-too-large"
    assert [d.code for d in decoder.diagnostics] == ["event-too-large"]


def test_the_stop_is_recorded_past_the_diagnostics_cap() -> None:
    decoder = SSEDecoder(max_line_bytes=8, max_diagnostics=1)
    decoder.feed(b"a\nb\ndata: 0123456789\n\n")
    assert [d.code for d in decoder.diagnostics] == [
        "no-colon",
        "too-many-diagnostics",
        "line-too-long",
    ]
    assert decoder.stopped is decoder.diagnostics[-1]


#: A valid event longer than 1 MiB, whose line the old 1 MiB default cut.
BIG_DATA = "".join(f"{i:07d} é😀 " for i in range(70_000))
BIG_EVENT = b"data: ok\n\nid: 7\ndata: " + BIG_DATA.encode() + b"\n\ndata: [DONE]\n\n"
BIG_EVENTS = [Event(data="ok"), Event(data=BIG_DATA, id="7"), Event(data="[DONE]", id="7")]


def test_a_long_event_decodes_exactly_with_default_arguments() -> None:
    assert len(BIG_EVENT) > 1_050_000
    want = BIG_EVENTS
    whole = decode(BIG_EVENT, [])
    assert whole.events == want and whole.diagnostics == []
    assert whole.events[1].offset == 10 and whole.events[1].end == len(BIG_EVENT) - 14
    # Byte by byte, through the unfinished-line path (the slow way: 1 MB of feeds).
    decoder = SSEDecoder()
    events = [e for i in range(len(BIG_EVENT)) for e in decoder.feed(BIG_EVENT[i : i + 1])]
    decoder.close()
    assert events == want and decoder.diagnostics == []
    assert positions(events) == positions(whole.events)


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(1, len(BIG_EVENT) - 1), max_size=40))
def test_a_long_event_decodes_exactly_in_random_pieces(cuts: list[int]) -> None:
    got = decode(BIG_EVENT, sorted(set(cuts)))
    assert got.events == BIG_EVENTS
    assert got.diagnostics == []


def test_every_code_is_documented() -> None:
    codes = {v for vec in VECTORS for v, _, _ in vec.diagnostics}
    assert codes == set(DIAGNOSTIC_CODES)
