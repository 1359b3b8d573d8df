"""The response's lifecycle in a stream: how it opens, how it ends, and that the
ending tells the truth (a cut answer is `incomplete`, a failure is `failed`).

OpenAI's streaming events reference (``response.created``, the three terminal
events) and what openai-python's ``responses.stream()`` requires of them.
"""

from __future__ import annotations

from typing import Any

from ..scenarios.responses import STREAMS
from ..view_responses import TERMINAL, ResponsesEvent, ResponsesView
from . import specs
from .common import CUT_BY_HARNESS
from .registry import Level, Verdict, failed, passed, rule, skipped
from .responses_common import API, no_answer, no_events, no_terminal, output_tokens, where

__all__: list[str] = []

_STATUS_OF = {kind: kind.removeprefix("response.") for kind in TERMINAL}


@rule(
    "responses.created-first",
    level=Level.MUST,
    requirement="The first event is `response.created`.",
    spec=specs.OPENAI_RESPONSES_STREAMING + "/response/created",
    quote="response.created: An event that is emitted when a response is created.",
    breaks=(
        "openai-python responses.stream() (RuntimeError: Expected to have received "
        "`response.created` before ...)",
    ),
    hint="Send `response.created` (with the response object, status `in_progress` and an "
    "empty output) before any other event.",
    scenarios=STREAMS,
    api=API,
)
def created_first(t: ResponsesView) -> Verdict:
    if (skip := no_events(t)) is not None:
        return skip
    first = t.read[0]
    if first.type == "response.created":
        return passed()
    return failed("response.created as the first event", where(first), at=first.offset)


def _status(ev: ResponsesEvent) -> Any:
    response = ev.response
    return response.get("status") if response is not None else None


@rule(
    "responses.terminal",
    level=Level.MUST,
    requirement="A stream ends with exactly one terminal event (`response.completed`, "
    "`response.incomplete` or `response.failed`) whose response has the matching status; "
    "nothing follows it but `[DONE]`.",
    spec=specs.OPENAI_RESPONSES_STREAMING + "/response/completed",
    quote="response.completed: Emitted when the model response is complete.",
    breaks=(
        "openai-python get_final_response() (RuntimeError: Didn't receive a "
        "`response.completed` event)",
        "Codex CLI (stream closed before response.completed)",
    ),
    hint="End every stream with one terminal event carrying the whole response, also when "
    "the generation fails (`response.failed`) or is cut (`response.incomplete`), then "
    "close the body.",
    scenarios=STREAMS,
    api=API,
)
def terminal(t: ResponsesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    if t.ending in CUT_BY_HARNESS and t.terminal is None:
        return failed(
            "a terminal event, then the end of the body",
            f"no terminal event when the harness stopped reading: {t.ending_detail or t.ending}",
            at=len(t.body),
        )
    if t.terminal is None:
        last = where(t.read[-1]) if t.read else "no event"
        return failed(
            "response.completed, response.incomplete or response.failed last",
            f"the stream ended without one; last: {last}",
            at=len(t.body),
        )
    end = t.terminal
    if _status(end) != _STATUS_OF[end.type or ""]:
        return failed(
            f"{end.type} carrying status {_STATUS_OF[end.type or '']!r}",
            f"status {_status(end)!r} ({where(end)})",
            at=end.offset,
        )
    if t.after_terminal:
        extra = t.after_terminal[0]
        return failed("nothing after the terminal event", where(extra), at=extra.offset)
    if t.after_done:
        late = t.after_done[0]
        return failed("nothing after [DONE]", f"an event at byte {late.offset}", at=late.offset)
    return passed()


def _cut_size(t: ResponsesView, response: dict[str, Any]) -> tuple[int, str]:
    """How many tokens the answer took: usage when present, else its text deltas."""
    counted = output_tokens(response)
    if counted is not None:
        return counted, "usage.output_tokens"
    deltas = sum(len(part.deltas) for item in t.items.values() for part in item.parts.values())
    deltas += sum(len(item.arguments) for item in t.items.values())
    return deltas, "deltas counted (no usage)"


@rule(
    "responses.incomplete",
    level=Level.MUST,
    requirement="A response cut by `max_output_tokens` ends `incomplete` with "
    "`incomplete_details.reason: max_output_tokens`, and uses no more tokens than asked.",
    spec=specs.OPENAI_RESPONSES_STREAMING + "/response/incomplete",
    quote="response.incomplete: An event that is emitted when a response finishes as incomplete.",
    breaks=(
        "openai-python (a cut answer ending `completed` is returned by get_final_response() "
        "as a finished one; nothing tells the caller the text is truncated)",
        "Codex CLI (acts on a truncated answer as if it were whole)",
    ),
    hint="When generation stops at the token limit, end with `response.incomplete`, status "
    '`incomplete` and `incomplete_details: {"reason": "max_output_tokens"}`; never '
    "`response.completed`.",
    scenarios=("responses-max-output-tokens",),
    api=API,
)
def incomplete(t: ResponsesView) -> Verdict:
    if (skip := no_terminal(t)) is not None:
        return skip
    asked = t.asked_int("max_output_tokens", 0)
    if asked <= 0:
        return skipped("the request set no max_output_tokens")
    response = t.final_response or {}
    end = t.terminal
    assert end is not None  # no_terminal checked it
    used, how = _cut_size(t, response)
    if used > asked:
        return failed(
            f"at most {asked} output tokens (max_output_tokens)",
            f"{used} ({how})",
            at=end.offset,
        )
    status = response.get("status")
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        if reason != "max_output_tokens":
            return failed(
                "incomplete_details.reason: max_output_tokens",
                f"incomplete_details {details!r} ({where(end)})",
                at=end.offset,
            )
        return passed()
    if status == "completed" and used < asked:
        return skipped(f"the answer ended on its own after {used} tokens of {asked} ({how})")
    return failed(
        "response.incomplete with incomplete_details.reason max_output_tokens",
        f"{end.type} with status {status!r} after {used} tokens of {asked} ({how})",
        at=end.offset,
    )


@rule(
    "responses.failed",
    level=Level.MUST,
    requirement="A stream that reports an `error` event ends with `response.failed`, whose "
    "response carries the `error`; a failure never ends as `completed`.",
    spec=specs.OPENAI_RESPONSES_STREAMING + "/response/failed",
    quote="response.failed: An event that is emitted when a response fails.",
    breaks=(
        "openai-python (yields the error event without raising; a `response.completed` "
        "after it makes get_final_response() return the broken answer as a success)",
    ),
    hint="After a generation failure send `error`, then `response.failed` with status "
    '`failed` and `error: {"code", "message"}`.',
    scenarios=STREAMS,
    api=API,
)
def failed_terminal(t: ResponsesView) -> Verdict:
    if (skip := no_terminal(t)) is not None:
        return skip
    end = t.terminal
    assert end is not None
    response = t.final_response or {}
    if t.error_events and end.type != "response.failed":
        first = t.error_events[0]
        return failed(
            "response.failed after the error event",
            f"{end.type} after {where(first)}",
            at=end.offset,
        )
    if end.type == "response.failed":
        error = response.get("error")
        if not (isinstance(error, dict) and isinstance(error.get("message"), str)):
            return failed(
                'response.error {"code", "message"} on response.failed',
                f"error {error!r} ({where(end)})",
                at=end.offset,
            )
    return passed()


_COUNTS = ("input_tokens", "output_tokens", "total_tokens")


def _usage_problem(response: dict[str, Any]) -> str:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return f"usage {usage!r}"
    counts: list[Any] = [usage.get(k) for k in _COUNTS]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts):
        return f"usage {usage!r}: {', '.join(_COUNTS)} must be counts"
    given, made, total = counts
    if given + made != total:
        return f"usage {usage!r}: input_tokens + output_tokens != total_tokens"
    if given == 0:
        return f"usage {usage!r}: input_tokens 0 for a prompt of several words"
    return ""


@rule(
    "responses.usage",
    level=Level.SHOULD,
    requirement="The final response carries `usage` with input, output and total token "
    "counts that add up.",
    spec=specs.OPENAI_RESPONSES_OBJECT,
    quote="usage: Represents token usage details including input tokens, output tokens, a "
    "breakdown of output tokens, and the total tokens used.",
    breaks=(
        "cost and context accounting in agents (Codex CLI reads usage from the final response)",
    ),
    hint="Count the prompt and the generated tokens and put them on the terminal "
    "response (and on a non-stream answer).",
    scenarios=(*STREAMS, "responses-nonstream"),
    api=API,
)
def usage(t: ResponsesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    if t.asked("stream") is True:
        if (skip := no_terminal(t)) is not None:
            return skip
        response, at = t.final_response or {}, t.terminal.offset if t.terminal else 0
    else:
        if t.answer is None:
            return skipped("no response object to read; see responses.schema")
        response, at = t.answer, 0
    if response.get("status") == "failed":
        return skipped("the response failed: usage is optional then")
    problem = _usage_problem(response)
    if problem:
        return failed("usage with input_tokens + output_tokens = total_tokens", problem, at=at)
    return passed()
