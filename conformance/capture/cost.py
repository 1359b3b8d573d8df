"""What a run costs the endpoints: requests sent, tokens asked for, tokens generated.

Every exchange the harness sends goes through the recorder, which tells
:data:`METER`; a run reads the meter's difference between its start and its
end, so it counts its preflight and probes too.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from .transcript import Ending, Transcript

__all__ = ["METER", "Cost", "Meter", "requested_tokens"]

#: Paths that generate text (every API the suite speaks).
_GENERATING = ("/chat/completions", "/responses", "/messages", "/api/chat")
#: Events at the end of a stream searched for usage.
_TAIL_EVENTS = 4


@dataclass(frozen=True, slots=True)
class Cost:
    requests: int = 0
    requested_tokens: int = 0
    #: generation requests that named no token bound (their cost is the endpoint's choice)
    unbounded_requests: int = 0
    #: from usage, where the endpoint sent it
    generated_tokens: int = 0

    def __sub__(self, other: Cost) -> Cost:
        return Cost(
            self.requests - other.requests,
            self.requested_tokens - other.requested_tokens,
            self.unbounded_requests - other.unbounded_requests,
            self.generated_tokens - other.generated_tokens,
        )

    def to_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "requested_tokens": self.requested_tokens,
            "unbounded_requests": self.unbounded_requests,
            "generated_tokens": self.generated_tokens,
        }


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def requested_tokens(body: Any) -> int | None:
    """The completion tokens a request body asks for at most, or None without a bound."""
    if not isinstance(body, dict):
        return None
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        if (found := _int(body.get(key))) is not None:
            return found
    options = body.get("options")
    return _int(options.get("num_predict")) if isinstance(options, dict) else None


def _usage_of(value: Any) -> int | None:
    if not isinstance(value, dict):
        return None
    usage = value.get("usage")
    if isinstance(usage, dict):
        for key in ("completion_tokens", "output_tokens"):
            if (found := _int(usage.get(key))) is not None:
                return found
    response = value.get("response")  # Responses API terminal events
    if isinstance(response, dict):
        return _usage_of(response)
    return _int(value.get("eval_count"))  # Ollama's final object


def generated_tokens(t: Transcript) -> int:
    """Completion tokens the endpoint says it generated (0 when it does not say)."""
    if t.events:
        for event in reversed(t.events[-_TAIL_EVENTS:]):
            try:
                found = _usage_of(json.loads(event.data))
            except ValueError:
                continue
            if found is not None:
                return found
        return 0
    tail = t.body[-4096:].rsplit(b"\n", 2)[-2:] if b"\n" in t.body[:-1] else [t.body]
    for piece in reversed(tail):
        try:
            found = _usage_of(json.loads(piece))
        except ValueError:
            continue
        if found is not None:
            return found
    return 0


class Meter:
    """Counts exchanges as the recorder makes them (thread-safe: runs may record
    from a worker thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cost = Cost()

    def saw(self, path: str, body: Any, t: Transcript) -> None:
        if t.ending is Ending.REFUSED and t.status is None:
            return  # nothing reached the endpoint
        asked = requested_tokens(body)
        generating = body is not None and path.endswith(_GENERATING)
        made = generated_tokens(t) if generating and t.status == 200 else 0
        with self._lock:
            c = self._cost
            self._cost = Cost(
                c.requests + 1,
                c.requested_tokens + (asked or 0),
                c.unbounded_requests + (generating and asked is None),
                c.generated_tokens + made,
            )

    def reading(self) -> Cost:
        with self._lock:
            return self._cost


METER = Meter()
