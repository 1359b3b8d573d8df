"""The one parsed reading of a transcript: what rules and reports read.

A transcript is the raw record (status, headers, body, reads, SSE events); a
view is how a client reads it, computed once and shared by every rule.  For a
chat stream that is how openai-python's ``Stream`` reads it
(``openai/_streaming.py``):

- it stops at the first event whose data *starts with* ``[DONE]``, whatever
  follows on the line;
- an event whose JSON data has a truthy ``error`` raises ``APIError``,
  whatever the event's type (``event: error`` included), so that is an
  error event; ``"error": null`` is not;
- every other JSON object before ``[DONE]`` is a chunk.

Views of the exchanges a scenario keeps beside its main one (``related``)
are built on first use and kept.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .capture.transcript import Comment, Diagnostic, Ending, Event, Read, Request, Transcript

__all__ = ["DONE", "ChatView", "ErrorEvent", "Finish", "Payload", "View", "view_of"]

#: What a data payload starts with to end an OpenAI stream.
DONE = "[DONE]"


@dataclass(frozen=True, slots=True)
class Payload:
    """A data event and its JSON value (None when the data is not JSON)."""

    index: int
    event: Event
    value: Any


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An event a client raises on: its index in ``Transcript.events``, event and payload."""

    index: int
    event: Event
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Finish:
    """A non-null ``finish_reason``: the choice it ends, the reason, the chunk carrying it."""

    choice: int
    reason: str
    event: Event


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # a hostile body may nest past the stack
        return None


def is_done(event: Event) -> bool:
    """Whether a client stops reading at this event (openai-python: data starts with [DONE])."""
    return event.data.startswith(DONE)


def _is_error(event: Event, value: Any) -> bool:
    if isinstance(value, dict) and value.get("error"):
        return True
    return event.type == "error"


class View:
    """The parsed reading of one transcript, built once.

    The raw record is ``transcript``; its fields are also read through the
    view (``view.status``, ``view.header(...)``, ``view.body``) so a rule
    needs only the view.  ``asked(name)`` reads the JSON request body, so a
    rule judges what was asked, never a scenario's name.
    """

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self._related: dict[str, ChatView | None] = {}

    # -- what was asked ------------------------------------------------------

    @cached_property
    def request_json(self) -> Any:
        """The request body as JSON, or None when it was not JSON."""
        return self.transcript.request.json()

    def asked(self, name: str, default: Any = None) -> Any:
        """A top-level field of the JSON request body, or ``default``."""
        body = self.request_json
        return body.get(name, default) if isinstance(body, dict) else default

    def asked_int(self, name: str, default: int) -> int:
        """An integer field of the request body (``true`` is not one), or ``default``."""
        value = self.asked(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    @property
    def asked_usage(self) -> bool:
        """Whether the request set ``stream_options.include_usage``."""
        options = self.asked("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    # -- the raw record, read through the view ----------------------------------

    @property
    def scenario(self) -> str:
        return self.transcript.scenario

    @property
    def target(self) -> str:
        return self.transcript.target

    @property
    def request(self) -> Request:
        return self.transcript.request

    @property
    def status(self) -> int | None:
        return self.transcript.status

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.transcript.headers

    def header(self, name: str) -> str | None:
        return self.transcript.header(name)

    def header_values(self, name: str) -> list[str]:
        return self.transcript.header_values(name)

    @property
    def body(self) -> bytes:
        return self.transcript.body

    def json(self) -> Any:
        return self.transcript.json()

    @property
    def events(self) -> tuple[Event, ...]:
        return self.transcript.events

    @property
    def comments(self) -> tuple[Comment, ...]:
        return self.transcript.comments

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.transcript.diagnostics

    @property
    def reads(self) -> tuple[Read, ...]:
        return self.transcript.reads

    @property
    def ending(self) -> Ending:
        return self.transcript.ending

    @property
    def ending_detail(self) -> str:
        return self.transcript.ending_detail

    @property
    def ended_cleanly(self) -> bool:
        return self.transcript.ended_cleanly

    @property
    def truncated(self) -> bool:
        return self.transcript.truncated

    @property
    def t_headers_ns(self) -> int | None:
        return self.transcript.t_headers_ns

    @property
    def t_end_ns(self) -> int:
        return self.transcript.t_end_ns

    @property
    def ttfb_ms(self) -> float | None:
        return self.transcript.ttfb_ms

    @property
    def duration_ms(self) -> float:
        return self.transcript.duration_ms

    def bytes_around(self, offset: int, before: int = 120, after: int = 200) -> bytes:
        return self.transcript.bytes_around(offset, before, after)

    # -- the other exchanges of the scenario -------------------------------------

    def other(self, name: str) -> ChatView | None:
        """The view of the related exchange stored under ``name``, or None."""
        if name not in self._related:
            found = self.transcript.other(name)
            self._related[name] = ChatView(found) if found is not None else None
        return self._related[name]

    def others(self, prefix: str = "") -> list[tuple[str, ChatView]]:
        """The views of the related exchanges whose names start with ``prefix``, in order."""
        out = []
        for name, _ in self.transcript.related:
            if name.startswith(prefix) and (view := self.other(name)) is not None:
                out.append((name, view))
        return out


class ChatView(View):
    """A chat-completions exchange as openai-python reads it."""

    def data_events(self) -> tuple[Event, ...]:
        """Events of type ``message`` (the unnamed ones OpenAI-style clients read)."""
        return self._data_events

    @cached_property
    def _data_events(self) -> tuple[Event, ...]:
        return tuple(e for e in self.transcript.events if e.type == "message")

    def done_index(self) -> int | None:
        """Index in ``Transcript.events`` of the event a client stops at, or None."""
        return self._done_index

    @cached_property
    def _done_index(self) -> int | None:
        return next((i for i, e in enumerate(self.transcript.events) if is_done(e)), None)

    @property
    def done(self) -> Event | None:
        index = self._done_index
        return None if index is None else self.transcript.events[index]

    @cached_property
    def read(self) -> tuple[Payload, ...]:
        """Every event a client reads: those before ``[DONE]``, with their JSON values."""
        events = self.transcript.events
        stop = len(events) if self._done_index is None else self._done_index
        return tuple(Payload(i, e, _json(e.data)) for i, e in enumerate(events[:stop]))

    @cached_property
    def after_done(self) -> tuple[Event, ...]:
        """Events after ``[DONE]``: no client reads them."""
        events = self.transcript.events
        return () if self._done_index is None else events[self._done_index + 1 :]

    def payloads(self) -> tuple[tuple[Event, Any], ...]:
        """Each ``message`` event before ``[DONE]`` with its JSON value (None if not JSON)."""
        return self._payloads

    @cached_property
    def _payloads(self) -> tuple[tuple[Event, Any], ...]:
        return tuple((p.event, p.value) for p in self.read if p.event.type == "message")

    @cached_property
    def errors(self) -> tuple[ErrorEvent, ...]:
        """The events a client raises on, before ``[DONE]``: a truthy ``error`` in the
        JSON data, or a typed ``event: error``."""
        return tuple(
            ErrorEvent(p.index, p.event, p.value if isinstance(p.value, dict) else {})
            for p in self.read
            if _is_error(p.event, p.value)
        )

    def chunks(self) -> tuple[tuple[Event, dict[str, Any]], ...]:
        """The JSON-object payloads before ``[DONE]`` that are not error events."""
        return self._chunks

    @cached_property
    def _chunks(self) -> tuple[tuple[Event, dict[str, Any]], ...]:
        return tuple(
            (e, v) for e, v in self._payloads if isinstance(v, dict) and not _is_error(e, v)
        )

    @cached_property
    def finishes(self) -> tuple[Finish, ...]:
        """Every non-null ``finish_reason`` in the chunks, in stream order.

        A choice without an integer ``index`` is read as choice 0, as a
        single-choice client does.
        """
        out = []
        for event, chunk in self._chunks:
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict) or choice.get("finish_reason") is None:
                    continue
                index = choice.get("index", 0)
                number = index if isinstance(index, int) and not isinstance(index, bool) else 0
                out.append(Finish(number, str(choice["finish_reason"]), event))
        return tuple(out)

    @cached_property
    def t_first_content_ns(self) -> int | None:
        """When the first chunk with non-empty delta content arrived."""
        for event, chunk in self._chunks:
            for choice in chunk.get("choices") or []:
                if isinstance(choice, dict):
                    delta = choice.get("delta")
                    if isinstance(delta, dict) and delta.get("content"):
                        return event.t_ns
        return None

    def gaps_ms(self) -> list[float]:
        """Gaps between consecutive events' arrival, in ms."""
        times = [e.t_ns for e in self.transcript.events]
        return [(b - a) / 1e6 for a, b in itertools.pairwise(times)]


def view_of(transcript: Transcript, api: str = "chat") -> View:
    """The view of a transcript, for the API its scenario speaks."""
    # The API catalog imports each API's view module, which imports this one:
    # it is read here, at call time, not at import.
    from .apis import view_class

    return view_class(api)(transcript)
