"""The reading of an Ollama chat exchange (``/api/chat``), as ollama-python reads it.

ollama-python's streaming ``_request`` (``ollama/_client.py``) reads the body
with httpx's ``iter_lines`` and, for every line, ``json.loads`` it, raises
``ResponseError`` when it has a truthy ``error``, and otherwise builds a
``ChatResponse`` (pydantic: ``message.tool_calls[].function.arguments`` must be
a mapping).  ``iter_lines`` splits like ``str.splitlines``: on ``\\n``, ``\\r``,
``\\r\\n`` and also on ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, U+0085, U+2028
and U+2029, so a raw one of those inside a JSON string cuts the line in two;
an empty line fails ``json.loads``.

:class:`OllamaView` gives the NDJSON lines byte-exactly (split on ``\\n``
only, each with its offset and whether it was terminated) and the lines as
the SDK sees them; rules read it, never the raw body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .view import View

__all__ = ["DONE_REASONS", "MAX_LINES", "SDK_LINE_BREAKS", "Line", "OllamaView"]

#: done_reason values Ollama's server sends (``llm/server.go`` DoneReason, api docs).
DONE_REASONS = frozenset({"stop", "length", "load", "unload"})
#: Lines the view parses at most, as the recorder keeps at most this many SSE events: a
#: body of millions of tiny lines must not cost the run millions of parsed objects.
MAX_LINES = 100_000
#: Characters besides LF that httpx's ``iter_lines`` (so ollama-python) breaks lines on.
SDK_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@dataclass(frozen=True, slots=True)
class Line:
    """One NDJSON line: its bytes (without the LF), where it starts, whether an LF
    ended it, its text (None if not UTF-8) and JSON value (None if not JSON)."""

    number: int
    offset: int
    raw: bytes
    terminated: bool
    text: str | None
    value: Any

    @property
    def is_object(self) -> bool:
        return isinstance(self.value, dict)


def _parse(raw: bytes) -> tuple[str | None, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, None
    try:
        return text, json.loads(text)
    except (ValueError, RecursionError):  # a hostile body may nest past the stack
        return text, None


class OllamaView(View):
    """An Ollama chat exchange as ollama-python reads it."""

    #: The offset where the view stopped parsing lines (:data:`MAX_LINES`), or None.
    capped_at: int | None = None

    @property
    def is_stream(self) -> bool:
        return self.asked("stream") is not False

    @cached_property
    def lines(self) -> tuple[Line, ...]:
        """The body split on LF, byte-exactly; a last line without LF is kept, unterminated."""
        out: list[Line] = []
        body = self.transcript.body
        start = 0
        while start < len(body):
            if len(out) == MAX_LINES:
                self.capped_at = start
                break
            end = body.find(b"\n", start)
            terminated = end >= 0
            stop = end if terminated else len(body)
            raw = body[start:stop]
            text, value = _parse(raw)
            out.append(Line(len(out) + 1, start, raw, terminated, text, value))
            start = stop + 1
        return tuple(out)

    @cached_property
    def objects(self) -> tuple[tuple[Line, dict[str, Any]], ...]:
        """Every line that is a JSON object, with its value."""
        return tuple((ln, ln.value) for ln in self.lines if isinstance(ln.value, dict))

    @cached_property
    def error_line(self) -> tuple[Line, dict[str, Any]] | None:
        """The first line with a truthy ``error``: ollama-python raises there."""
        return next(((ln, v) for ln, v in self.objects if v.get("error")), None)

    @cached_property
    def read(self) -> tuple[tuple[Line, dict[str, Any]], ...]:
        """The objects the SDK turns into responses: those before the first error line."""
        out = []
        for ln, value in self.objects:
            if value.get("error"):
                break
            out.append((ln, value))
        return tuple(out)

    @cached_property
    def done_lines(self) -> tuple[tuple[Line, dict[str, Any]], ...]:
        return tuple((ln, v) for ln, v in self.read if v.get("done") is True)

    def content(self) -> str:
        """The joined message content of the lines read (the body's for a non-stream answer)."""
        if not self.is_stream:
            body = self.json()
            message = body.get("message") if isinstance(body, dict) else None
            return str(message.get("content") or "") if isinstance(message, dict) else ""
        parts = []
        for _, value in self.read:
            message = value.get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                parts.append(message["content"])
        return "".join(parts)

    def tool_calls(self) -> list[tuple[Line | None, Any]]:
        """Every tool call of the answer, with the line it came on (None when not streamed)."""
        if not self.is_stream:
            body = self.json()
            message = body.get("message") if isinstance(body, dict) else None
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            return [(None, c) for c in calls] if isinstance(calls, list) else []
        out: list[tuple[Line | None, Any]] = []
        for ln, value in self.read:
            message = value.get("message")
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            if isinstance(calls, list):
                out.extend((ln, c) for c in calls)
        return out
