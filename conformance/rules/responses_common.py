"""Helpers the Responses rule groups share: the guards that route one deviation
to the one rule that owns it."""

from __future__ import annotations

from typing import Any

from ..view_responses import ResponsesEvent, ResponsesView
from .common import media_type, no_answer_skip
from .registry import Verdict, skipped

__all__ = ["API", "no_answer", "no_events", "no_terminal", "output_tokens", "where"]

API = "responses"


def no_answer(t: ResponsesView) -> Verdict | None:
    """A skip when there is no 200 answer to judge (responses.status judges that)."""
    return no_answer_skip(t, "responses.status")


def no_events(t: ResponsesView) -> Verdict | None:
    """A skip when there is no event stream to read (status or content type owns it)."""
    if (skip := no_answer(t)) is not None:
        return skip
    if media_type(t.header("content-type")) != "text/event-stream" and not t.read:
        return skipped("the answer is not an event stream; see responses.content-type")
    if not t.read:
        return skipped("the stream carried no event; see responses.terminal")
    return None


def no_terminal(t: ResponsesView) -> Verdict | None:
    """A skip when the stream has no terminal event (``responses.terminal`` judges it)."""
    if (skip := no_events(t)) is not None:
        return skip
    if t.terminal is None or t.final_response is None:
        return skipped("no terminal event carrying the response; see responses.terminal")
    return None


def where(ev: ResponsesEvent) -> str:
    """``event 7 (response.output_text.delta) at byte 812``, for Actual: lines."""
    return f"event {ev.index} ({ev.type or 'no type'}) at byte {ev.offset}"


def output_tokens(response: dict[str, Any]) -> int | None:
    """``usage.output_tokens`` when it is an integer."""
    usage = response.get("usage")
    value = usage.get("output_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
