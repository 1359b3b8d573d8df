"""Streamed tool calls: how the fragments of each call are addressed and joined.

openai-python's stream helper (``lib/streaming/chat/_completions.py``,
``ChatCompletionStreamState``) files every ``delta.tool_calls[]`` fragment
under ``tool_calls[fragment.index]`` and concatenates its string fields, so a
missing index cannot be placed, two calls sharing an index become one call
with joined names and arguments, and a name sent again reads twice.
LangChain's ``tool_call_chunks`` merge by the same index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..scenarios.chat import STREAMS
from ..view import ChatView
from . import specs
from .chunk import FINISH_REASONS
from .common import no_stream
from .registry import Level, Verdict, failed, passed, rule, skipped
from .values import is_int, show

__all__ = ["Call", "calls_of"]

#: Where tool calls are asked for (the rule also reads every other stream).
TOOL_SCENARIOS = ("consistency-tools", "stream-tools-parallel")


@dataclass(slots=True)
class Call:
    """One call as a client assembles it, with where its fragments were."""

    index: int
    first_at: int
    id: str = ""
    type: str = ""
    name: str = ""
    arguments: str = ""
    fragments: int = 0
    problems: list[tuple[str, int]] = field(default_factory=list)


def _fragments(t: ChatView) -> list[tuple[int, dict[str, Any]]]:
    """(byte offset, fragment) of every tool-call fragment of choice 0."""
    out = []
    for event, chunk in t.chunks():
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            for fragment in calls if isinstance(calls, list) else []:
                out.append((event.offset, fragment))
    return out


def _fragment_problem(fragment: Any, known: dict[int, Call]) -> str | None:
    if not isinstance(fragment, dict):
        return f"a tool-call fragment {show(fragment)} that is not an object"
    index = fragment.get("index")
    if not is_int(index):
        return f"a fragment without an integer index ({show(fragment)})"
    if index not in known and index != len(known):
        return f"call index {index} where index {len(known)} comes next"
    if index in known and fragment.get("id") not in (None, "", known[index].id):
        return f"index {index} reused by another call (id {show(fragment.get('id'))})"
    return None


def calls_of(t: ChatView) -> tuple[dict[int, Call], tuple[str, int] | None]:
    """The calls a client assembles, and the first fragment it cannot place."""
    calls: dict[int, Call] = {}
    for at, fragment in _fragments(t):
        if (problem := _fragment_problem(fragment, calls)) is not None:
            return calls, (problem, at)
        index: int = fragment["index"]
        found = fragment.get("function")
        function: dict[str, Any] = found if isinstance(found, dict) else {}
        call = calls.get(index)
        if call is None:
            calls[index] = call = _open(index, at, fragment, function)
        else:
            _later(call, at, fragment, function)
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            call.problems.append((f"call {index} arguments {show(arguments)} are not a string", at))
        call.arguments += arguments if isinstance(arguments, str) else ""
        call.fragments += 1
    return calls, None


def _open(index: int, at: int, fragment: dict[str, Any], function: dict[str, Any]) -> Call:
    """A call from its first fragment, which must name it."""
    call = Call(index, at, str(fragment.get("id") or ""), str(fragment.get("type") or ""))
    call.name = str(function.get("name") or "")
    for name, value in (("id", call.id), ("type", call.type), ("function.name", call.name)):
        if not value:
            call.problems.append((f"the first fragment of call {index} has no {name}", at))
    return call


def _later(call: Call, at: int, fragment: dict[str, Any], function: dict[str, Any]) -> None:
    """A later fragment carries only its index and argument pieces."""
    for name in ("id", "type"):
        if fragment.get(name):
            call.problems.append((f"call {call.index} repeats {name} in a later fragment", at))
    if function.get("name"):
        repeat = f"call {call.index} repeats function.name {show(function['name'])}"
        call.problems.append((f"{repeat}: clients join it to the first", at))


def _named_choice(t: ChatView) -> bool:
    """Whether ``tool_choice`` names one function: OpenAI then finishes with ``stop``."""
    choice = t.asked("tool_choice")
    return isinstance(choice, dict) and choice.get("type") == "function"


def _arguments_problem(call: Call) -> str | None:
    try:
        value = json.loads(call.arguments)
    except ValueError as exc:
        return f"call {call.index} ({call.name}) arguments join to {show(call.arguments)}: {exc}"
    if not isinstance(value, dict):
        return f"call {call.index} ({call.name}) arguments are {show(value)}, not a JSON object"
    return None


@rule(
    "chunk.tool-calls",
    level=Level.MUST,
    requirement="Tool-call fragments carry `index` on every fragment, one index per call "
    "from 0; the first fragment of a call carries `id`, `type` and `function.name`, later "
    "ones only `index` and argument pieces; the arguments join to a JSON object; the "
    'choice finishes with `"tool_calls"` (or `"stop"` when `tool_choice` names the function).',
    spec=specs.OPENAI_CHUNK_TOOL_CALLS,
    quote="openai-python's ChatCompletionStreamState files each fragment under "
    "tool_calls[fragment.index] and concatenates its strings.",
    breaks=(
        "openai-python client.chat.completions.stream() (merges calls by index)",
        "LangChain tool_call_chunks (merged by index)",
    ),
    hint="Give every fragment `index` (0 for the first call, 1 for the next...). Send id, "
    'type "function" and function.name once, in the first fragment of a call; then only '
    "index and `function.arguments` pieces that join to one JSON object; end the choice "
    'with `finish_reason: "tool_calls"`.',
    scenarios=(*STREAMS, *TOOL_SCENARIOS),
)
def tool_calls(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    calls, unplaced = calls_of(t)
    if unplaced is not None:
        problem, at = unplaced
        return failed("every fragment addressed to one call by its index", problem, at=at)
    if not calls:
        if t.errors:
            return skipped("the stream reported an error; see error.stream-event")
        if t.asked("tools"):
            return skipped("the model answered without a tool call; nothing to judge")
        return skipped("the request offered no tools, and the stream made no tool call")
    expected = "tool-call fragments as OpenAI streams them"
    for call in calls.values():
        if call.problems:
            problem, at = call.problems[0]
            return failed(expected, problem, at=at)
    if t.errors:
        return skipped("the stream reported an error; see error.stream-event")
    reasons = [(f.reason, f.event.offset) for f in t.finishes if f.choice == 0]
    if reasons and reasons[-1][0] == "length":
        return skipped("the answer was cut by max_tokens: its arguments may be partial")
    for call in calls.values():
        if (bad := _arguments_problem(call)) is not None:
            return failed("arguments that join to a JSON object", bad, at=call.first_at)
    allowed = ("tool_calls", "stop") if _named_choice(t) else ("tool_calls",)
    # An invented reason ("done") is chunk.finish-reason's to report, not this rule's.
    if reasons and reasons[-1][0] not in allowed and reasons[-1][0] in FINISH_REASONS:
        reason, at = reasons[-1]
        return failed(
            f"finish_reason {' or '.join(map(repr, allowed))} after tool calls",
            f"finish_reason {reason!r} after {len(calls)} tool call(s)",
            at=at,
        )
    names = ", ".join(f"#{c.index} {c.name}" for c in calls.values())
    return passed(f"{len(calls)} tool call(s): {names}")
