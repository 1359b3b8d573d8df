"""The reading of an OpenAI Responses exchange (``/v1/responses``).

A Responses stream is a typed event protocol: each SSE event's data is a JSON
object whose ``type`` names it (``response.created``, ``response.output_item.added``,
``response.output_text.delta``, ...), numbered by ``sequence_number``, and
the stream ends with one terminal event carrying the whole response.  The
view reads it as openai-python does (``openai/_streaming.py``, then
``lib/streaming/responses``): it stops at a data payload starting with
``[DONE]`` (OpenAI sends none; some servers do), and dispatches on the data's
``type``, not on the ``event:`` line.

Built once, in one pass: the events in order, the output items by
``output_index`` with their content parts and deltas, the events that named
an item or part not added yet (``orphans``), the terminal events and what
followed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .capture.transcript import Event
from .view import View, _json, is_done

__all__ = [
    "ITEM_EVENTS",
    "TERMINAL",
    "Item",
    "Orphan",
    "Part",
    "ResponsesEvent",
    "ResponsesView",
]

#: The events that end a response, each carrying it whole.
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
#: Lifecycle events that carry the response object.
LIFECYCLE = frozenset({"response.created", "response.queued", "response.in_progress", *TERMINAL})
#: Text deltas of a content part (they name ``content_index``), and the done
#: event that closes each.
PART_DELTAS = {
    "response.output_text.delta": "response.output_text.done",
    "response.refusal.delta": "response.refusal.done",
    "response.reasoning_text.delta": "response.reasoning_text.done",
}
#: Events that address an output item by ``output_index`` once it is added.
ITEM_EVENTS = frozenset(
    {
        *PART_DELTAS,
        *PART_DELTAS.values(),
        "response.content_part.added",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.output_item.done",
    }
)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class ResponsesEvent:
    """One event a client reads: its index in ``Transcript.events``, the SSE
    event and its JSON data (None when the data is not JSON)."""

    index: int
    event: Event
    value: Any

    @property
    def data(self) -> dict[str, Any]:
        return self.value if isinstance(self.value, dict) else {}

    @property
    def type(self) -> str | None:
        kind = self.data.get("type")
        return kind if isinstance(kind, str) else None

    @property
    def sequence_number(self) -> int | None:
        return _int(self.data.get("sequence_number"))

    @property
    def output_index(self) -> int | None:
        return _int(self.data.get("output_index"))

    @property
    def content_index(self) -> int | None:
        return _int(self.data.get("content_index"))

    @property
    def offset(self) -> int:
        return self.event.offset

    @property
    def response(self) -> dict[str, Any] | None:
        """The response object a lifecycle event carries."""
        found = self.data.get("response")
        return found if isinstance(found, dict) else None

    def text(self, name: str) -> str:
        value = self.data.get(name)
        return value if isinstance(value, str) else ""


@dataclass
class Part:
    """One content part of an item: when it was added and done, and its deltas."""

    content_index: int
    added: ResponsesEvent | None = None
    done: ResponsesEvent | None = None
    deltas: list[ResponsesEvent] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The joined text deltas (output text, refusal or reasoning text)."""
        return "".join(d.text("delta") for d in self.deltas)


@dataclass
class Item:
    """One output item as the stream built it."""

    output_index: int
    added: ResponsesEvent
    done: ResponsesEvent | None = None
    parts: dict[int, Part] = field(default_factory=dict)
    #: function_call_arguments deltas
    arguments: list[ResponsesEvent] = field(default_factory=list)

    @property
    def type(self) -> str | None:
        item = self.added.data.get("item")
        kind = item.get("type") if isinstance(item, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def joined_arguments(self) -> str:
        return "".join(d.text("delta") for d in self.arguments)


@dataclass(frozen=True, slots=True)
class Orphan:
    """An event that named an item or part the stream had not added (yet)."""

    event: ResponsesEvent
    reason: str


class ResponsesView(View):
    """A Responses exchange as openai-python reads it."""

    @cached_property
    def done_index(self) -> int | None:
        """Index in ``Transcript.events`` of a ``[DONE]`` payload, where clients stop."""
        return next((i for i, e in enumerate(self.transcript.events) if is_done(e)), None)

    @cached_property
    def read(self) -> tuple[ResponsesEvent, ...]:
        """Every event a client reads (those before ``[DONE]``), with its JSON data."""
        events = self.transcript.events
        stop = len(events) if self.done_index is None else self.done_index
        return tuple(ResponsesEvent(i, e, _json(e.data)) for i, e in enumerate(events[:stop]))

    @cached_property
    def after_done(self) -> tuple[Event, ...]:
        index = self.done_index
        return () if index is None else self.transcript.events[index + 1 :]

    @cached_property
    def terminals(self) -> tuple[ResponsesEvent, ...]:
        return tuple(e for e in self.read if e.type in TERMINAL)

    @property
    def terminal(self) -> ResponsesEvent | None:
        """The first terminal event (the one a client finishes on)."""
        return self.terminals[0] if self.terminals else None

    @cached_property
    def after_terminal(self) -> tuple[ResponsesEvent, ...]:
        """Events read after the first terminal event."""
        first = self.terminal
        return () if first is None else tuple(e for e in self.read if e.index > first.index)

    @property
    def final_response(self) -> dict[str, Any] | None:
        """The response the terminal event carries, or None."""
        return self.terminal.response if self.terminal is not None else None

    @cached_property
    def error_events(self) -> tuple[ResponsesEvent, ...]:
        """``error`` events (``type: error``): openai-python yields them, it does not raise."""
        return tuple(e for e in self.read if e.type == "error")

    @cached_property
    def answer(self) -> dict[str, Any] | None:
        """A non-stream answer: the response object of a JSON body."""
        value = self.transcript.json()
        return value if isinstance(value, dict) else None

    @property
    def streamed(self) -> bool:
        return bool(self.transcript.events)

    def twin(self, name: str) -> ResponsesView | None:
        """The view of a related exchange of the scenario (``stream`` twin, ...)."""
        found = self.transcript.other(name)
        return ResponsesView(found) if found is not None else None

    # -- items, built in one pass ----------------------------------------------

    @cached_property
    def _built(self) -> tuple[dict[int, Item], tuple[Orphan, ...], tuple[ResponsesEvent, ...]]:
        items: dict[int, Item] = {}
        orphans: list[Orphan] = []
        duplicates: list[ResponsesEvent] = []
        for ev in self.read:
            kind, index = ev.type, ev.output_index
            if kind == "response.output_item.added":
                if index is None:
                    orphans.append(Orphan(ev, "no integer output_index"))
                elif index in items:
                    duplicates.append(ev)
                else:
                    items[index] = Item(index, ev)
                continue
            if kind not in ITEM_EVENTS:
                continue
            item = items.get(index) if index is not None else None
            if item is None:
                orphans.append(Orphan(ev, f"output_index {index} was not added"))
                continue
            if item.done is not None:
                orphans.append(Orphan(ev, f"output_index {index} was already done"))
                continue
            _place(item, ev, orphans)
        return items, tuple(orphans), tuple(duplicates)

    @property
    def items(self) -> dict[int, Item]:
        """Output items by ``output_index``, in the order they were added."""
        return self._built[0]

    @property
    def orphans(self) -> tuple[Orphan, ...]:
        """Events naming an item or content part not added yet (or already done)."""
        return self._built[1]

    @property
    def duplicate_items(self) -> tuple[ResponsesEvent, ...]:
        """``output_item.added`` events reusing an ``output_index``."""
        return self._built[2]

    @property
    def streamed_text(self) -> str:
        """The joined output-text deltas of every message item, in ``output_index`` order."""
        return "".join(
            part.text
            for item in sorted(self.items.values(), key=lambda i: i.output_index)
            if item.type == "message"
            for _, part in sorted(item.parts.items())
        )


def _place(item: Item, ev: ResponsesEvent, orphans: list[Orphan]) -> None:
    """File an event under its (already added) item."""
    kind = ev.type
    if kind == "response.output_item.done":
        item.done = ev
    elif kind in ("response.function_call_arguments.delta",):
        item.arguments.append(ev)
    elif kind == "response.content_part.added":
        ci = ev.content_index
        if ci is None or ci in item.parts:
            orphans.append(Orphan(ev, f"content_index {ci} cannot be added (again)"))
        else:
            item.parts[ci] = Part(ci, added=ev)
    elif kind in PART_DELTAS or kind == "response.content_part.done":
        part = item.parts.get(ev.content_index) if ev.content_index is not None else None
        if part is None:
            orphans.append(Orphan(ev, f"content_index {ev.content_index} was not added"))
        elif part.done is not None:
            orphans.append(Orphan(ev, f"content_index {ev.content_index} was already done"))
        elif kind == "response.content_part.done":
            part.done = ev
        elif kind in PART_DELTAS:
            part.deltas.append(ev)
