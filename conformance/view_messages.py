"""The reading of an Anthropic Messages exchange (``/v1/messages``), as anthropic-python reads it.

anthropic-python's ``Stream`` (``anthropic/_streaming.py``) and its message
accumulator (``anthropic/lib/streaming/_messages.py``) read a stream so:

- an event named one of the message events (``message_start``,
  ``content_block_start``, ``content_block_delta``, ``content_block_stop``,
  ``message_delta``, ``message_stop``) is parsed as JSON and dispatched on the
  data's ``type`` (the event name fills a missing one);
- ``event: ping`` is skipped; ``event: error`` raises at once, so nothing
  after it is read; an event with no ``event:`` line (its SSE type is None to
  the SDK's decoder) or any other name is dropped without a word.  The
  transcript cannot tell an explicit ``event: message`` (which the SDK would
  read) from no event line, so it reads both as unnamed;
- the first event must be ``message_start`` (anything else raises); its
  ``message`` is the snapshot;
- ``content_block_start`` *appends* its block to the content, whatever its
  ``index``; a delta or stop addresses ``content[index]``: text deltas join
  the text, ``input_json_delta`` pieces join a buffer parsed as the tool input,
  thinking and signature deltas join a thinking block;
- ``message_delta`` sets stop_reason, stop_sequence and output usage.

:class:`MessagesView` gives the events in that reading and the message the
accumulator ends with; rules read it, never the raw stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .capture.transcript import Event
from .view import View

__all__ = [
    "MESSAGE_EVENTS",
    "STOP_REASONS",
    "SUCCESS_STOP_REASONS",
    "Block",
    "MessageEvent",
    "MessagesView",
]

#: Event names anthropic-python parses and dispatches (besides unnamed ones).
MESSAGE_EVENTS = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
    }
)
#: stop_reason values of the Messages API (anthropic-python's ``StopReason``).
STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
)
#: The stop reasons of an answer that ended as generated (not refused, paused or cut short).
SUCCESS_STOP_REASONS = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use"})


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """An event the SDK dispatches: its position in ``Transcript.events``, the
    event, its JSON data (None if not an object) and its type as dispatched."""

    index: int
    event: Event
    value: dict[str, Any] | None
    type: str


@dataclass(slots=True)
class Block:
    """One content block as the accumulator builds it, with the events that built it."""

    position: int
    start: MessageEvent
    type: str
    value: dict[str, Any]
    deltas: list[MessageEvent] = field(default_factory=list)
    stop: MessageEvent | None = None
    #: joined ``input_json_delta`` pieces (tool_use blocks)
    partial_json: str = ""


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # a hostile body may nest past the stack
        return None
    return value if isinstance(value, dict) else None


class MessagesView(View):
    """A Messages exchange as anthropic-python reads it."""

    @property
    def is_stream(self) -> bool:
        return self.asked("stream") is True

    @cached_property
    def dispatched(self) -> tuple[MessageEvent, ...]:
        """The events the SDK parses, in order, up to the first ``event: error``
        (excluded: see :attr:`error`)."""
        out: list[MessageEvent] = []
        for i, e in enumerate(self.transcript.events):
            if e.type == "error":
                break
            if e.type not in MESSAGE_EVENTS:
                continue  # ping, unnamed and unknown events: dropped
            value = _object(e.data)
            kind = value.get("type") if value is not None else None
            out.append(MessageEvent(i, e, value, kind if isinstance(kind, str) else e.type))
        return tuple(out)

    @cached_property
    def error(self) -> MessageEvent | None:
        """The ``event: error`` the SDK raises on, if one came."""
        for i, e in enumerate(self.transcript.events):
            if e.type == "error":
                return MessageEvent(i, e, _object(e.data), "error")
        return None

    @cached_property
    def untyped_errors(self) -> tuple[MessageEvent, ...]:
        """Error payloads (``"type": "error"``) sent without ``event: error``: the SDK
        raises nothing on them."""
        out = []
        for i, e in enumerate(self.transcript.events):
            value = _object(e.data) if e.type != "error" else None
            if value is not None and value.get("type") == "error":
                out.append(MessageEvent(i, e, value, "error"))
        return tuple(out)

    @property
    def pings(self) -> tuple[Event, ...]:
        return tuple(e for e in self.transcript.events if e.type == "ping")

    def of_type(self, kind: str) -> tuple[MessageEvent, ...]:
        return tuple(m for m in self.dispatched if m.type == kind)

    @cached_property
    def start(self) -> MessageEvent | None:
        """``message_start``, when it is the first event dispatched (as the SDK requires)."""
        first = self.dispatched[0] if self.dispatched else None
        return first if first is not None and first.type == "message_start" else None

    @cached_property
    def blocks(self) -> tuple[Block, ...]:
        """The content blocks in the order ``content_block_start`` appended them."""
        out: list[Block] = []
        for m in self.dispatched:
            value = m.value or {}
            if m.type == "content_block_start":
                block = value.get("content_block")
                body = dict(block) if isinstance(block, dict) else {}
                kind = body.get("type")
                out.append(Block(len(out), m, kind if isinstance(kind, str) else "", body))
                continue
            index = value.get("index")
            if m.type not in ("content_block_delta", "content_block_stop"):
                continue
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(out):
                continue  # the SDK fails here; messages.blocks says so
            if m.type == "content_block_stop":
                out[index].stop = m
            else:
                _apply(out[index], m)
        return tuple(out)

    @cached_property
    def message_deltas(self) -> tuple[MessageEvent, ...]:
        return self.of_type("message_delta")

    @cached_property
    def message_stop(self) -> MessageEvent | None:
        stops = self.of_type("message_stop")
        return stops[0] if stops else None

    @property
    def stop_reason(self) -> Any:
        """The last ``message_delta``'s stop_reason (None when none came)."""
        if not self.message_deltas:
            return None
        delta = (self.message_deltas[-1].value or {}).get("delta")
        return delta.get("stop_reason") if isinstance(delta, dict) else None

    @cached_property
    def input_tokens(self) -> Any:
        message = (self.start.value or {}).get("message") if self.start else None
        usage = message.get("usage") if isinstance(message, dict) else None
        return usage.get("input_tokens") if isinstance(usage, dict) else None

    @cached_property
    def output_tokens(self) -> Any:
        if not self.message_deltas:
            return None
        usage = (self.message_deltas[-1].value or {}).get("usage")
        return usage.get("output_tokens") if isinstance(usage, dict) else None

    def final_message(self) -> dict[str, Any] | None:
        """The message the accumulator ends with (the non-stream body when not streamed)."""
        if not self.is_stream:
            body = self.json()
            return body if isinstance(body, dict) else None
        if self.start is None:
            return None
        message = (self.start.value or {}).get("message")
        out = dict(message) if isinstance(message, dict) else {}
        out["content"] = [_finished(b) for b in self.blocks]
        if self.message_deltas:
            out["stop_reason"] = self.stop_reason
            usage = dict(out.get("usage") or {})
            usage["output_tokens"] = self.output_tokens
            out["usage"] = usage
        return out

    def text(self) -> str:
        """The joined text of the final message's text blocks."""
        message = self.final_message() or {}
        content = message.get("content")
        if not isinstance(content, list):
            return ""
        return "".join(
            str(b.get("text", ""))
            for b in content
            if isinstance(b, dict) and b.get("type") == "text"
        )


def _apply(block: Block, m: MessageEvent) -> None:
    delta = (m.value or {}).get("delta")
    if not isinstance(delta, dict):
        return
    block.deltas.append(m)
    kind = delta.get("type")
    if kind == "text_delta" and block.type == "text":
        block.value["text"] = str(block.value.get("text", "")) + str(delta.get("text", ""))
    elif kind == "input_json_delta":
        block.partial_json += str(delta.get("partial_json", ""))
    elif kind == "thinking_delta" and block.type == "thinking":
        block.value["thinking"] = str(block.value.get("thinking", "")) + str(
            delta.get("thinking", "")
        )
    elif kind == "signature_delta" and block.type == "thinking":
        block.value["signature"] = delta.get("signature")


def _finished(block: Block) -> dict[str, Any]:
    out = dict(block.value)
    if block.type == "tool_use" and block.partial_json:
        parsed = _object(block.partial_json)
        out["input"] = parsed if parsed is not None else block.partial_json
    return out
