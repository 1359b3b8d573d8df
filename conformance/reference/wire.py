"""What a reply is made of on the wire: a head, SSE items, and their encoding.

The server and the proxy both build replies from these pieces, so a fault can
transform either one at the same stage: the head (status and headers), the
items (events and comments), the framing (line ends, the space after the
colon) or the writes (the bytes and where one write ends and the next begins).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "DONE",
    "PLAIN_FRAMING",
    "Comment",
    "Data",
    "Framing",
    "Head",
    "Item",
    "JsonObject",
    "dump_json",
    "encode",
    "encode_item",
    "json_head",
    "sse_head",
]

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Head:
    """Status and headers, in the order they go out."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def without(self, name: str) -> Head:
        lowered = name.lower()
        return replace(self, headers=tuple(h for h in self.headers if h[0].lower() != lowered))

    def with_header(self, name: str, value: str) -> Head:
        rest = self.without(name)
        return replace(rest, headers=(*rest.headers, (name, value)))


@dataclass(frozen=True, slots=True)
class Data:
    """A ``data:`` event; ``text`` is the payload exactly as sent.

    ``event`` is the event's type (an ``event:`` line before the data), or None
    for the default type (``message``), which is what chat streams send.
    """

    text: str
    event: str | None = None

    def json(self) -> JsonObject | None:
        """The payload as a JSON object, or None if it is not one."""
        try:
            value = json.loads(self.text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @classmethod
    def of(cls, obj: JsonObject, event: str | None = None) -> Data:
        return cls(dump_json(obj), event)


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line (``: text``), which readers ignore."""

    text: str = "keep-alive"


Item = Data | Comment

DONE = Data("[DONE]")


@dataclass(frozen=True, slots=True)
class Framing:
    """How items become text: the line end, and the space after ``data:``."""

    line_end: str = "\n"
    space: bool = True

    @property
    def is_default(self) -> bool:
        return self.line_end == "\n" and self.space


PLAIN_FRAMING = Framing()


def dump_json(obj: Any) -> str:
    # Compact and ASCII-unescaped, as EXO and OpenAI send it: multi-byte
    # characters reach the wire as UTF-8, where a reader can split them.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sse_head() -> Head:
    return Head(
        200,
        (
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
            ("Connection", "keep-alive"),
        ),
    )


def json_head(status: int, body: bytes) -> Head:
    return Head(
        status,
        (("Content-Type", "application/json"), ("Content-Length", str(len(body)))),
    )


def encode_item(item: Item, framing: Framing = PLAIN_FRAMING) -> bytes:
    eol = framing.line_end
    if isinstance(item, Comment):
        return f":{' ' if framing.space else ''}{item.text}{eol}{eol}".encode()
    space = " " if framing.space else ""
    head = f"event:{space}{item.event}{eol}" if item.event is not None else ""
    lines = item.text.splitlines() or [""]
    return (head + "".join(f"data:{space}{line}{eol}" for line in lines) + eol).encode()


async def encode(items: AsyncIterator[Item], framing: Framing) -> AsyncIterator[bytes]:
    """One write per item, so write boundaries follow event boundaries."""
    async for item in items:
        yield encode_item(item, framing)
