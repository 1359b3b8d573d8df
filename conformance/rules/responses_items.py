"""Output items in a stream: their lifecycle (added, content parts, deltas, done)
and the terminal response's ``output`` that must hold them as streamed.

OpenAI's streaming events reference, the Open Responses specification's "Items
are streamable", and the checks openai-python's accumulator makes
(``lib/streaming/responses/_responses.py``: it raises on a content event
before its item, a repeated ``output_index``, an item whose identity changes
between added and done, and a completed response with unfinished items).
"""

from __future__ import annotations

import json
from typing import Any

from ..scenarios.responses import STREAMS
from ..view_responses import Item, ResponsesView
from . import specs
from .common import preview
from .registry import Level, Verdict, failed, passed, rule, skipped
from .responses_common import API, no_events, no_terminal, where

__all__: list[str] = []


def _identity(item: Any) -> tuple[Any, Any]:
    return (item.get("type"), item.get("id")) if isinstance(item, dict) else (None, None)


def _order_problem(t: ResponsesView) -> Verdict | None:
    """Items numbered 0, 1, ... as added; parts of each numbered 0, 1, ... as added."""
    for position, item in enumerate(t.items.values()):
        if item.output_index != position:
            return failed(
                f"output_index {position} for the item added {position + 1}{_nth(position)}",
                f"output_index {item.output_index} ({where(item.added)})",
                at=item.added.offset,
            )
        for slot, part in enumerate(item.parts.values()):
            if part.content_index != slot and part.added is not None:
                return failed(
                    f"content_index {slot} for part {slot + 1}{_nth(slot)} of item {position}",
                    f"content_index {part.content_index} ({where(part.added)})",
                    at=part.added.offset,
                )
    return None


def _nth(n: int) -> str:
    return {0: "st", 1: "nd", 2: "rd"}.get(n, "th")


def _unfinished(t: ResponsesView) -> Verdict | None:
    """On a completed response, every item done (and unchanged) before the terminal event."""
    end = t.terminal
    for item in t.items.values():
        done = item.done
        if done is not None and _identity(done.data.get("item")) != _identity(
            item.added.data.get("item")
        ):
            added, finished = (
                _identity(item.added.data.get("item")),
                _identity(done.data.get("item")),
            )
            return failed(
                f"the item of output_index {item.output_index} done as added {added}",
                f"done as {finished} ({where(done)})",
                at=done.offset,
            )
        if end is None or end.type != "response.completed":
            continue
        if done is None or done.index > end.index:
            return failed(
                f"response.output_item.done for output_index {item.output_index} before "
                "response.completed",
                f"none before {where(end)}",
                at=end.offset,
            )
    return None


@rule(
    "responses.item-lifecycle",
    level=Level.MUST,
    requirement="Every output item is added (`response.output_item.added`, output_index "
    "0, 1, ... in order) before any event names it, its content parts are added before "
    "their deltas, and a completed response has every item done first.",
    spec=specs.OPEN_RESPONSES_ITEMS,
    quote="The first event MUST always be `response.output_item.added`. ... Such content "
    "MUST be backed by a content part. The first event in such cases MUST be "
    "`response.content_part.added`",
    breaks=(
        "openai-python responses.stream() (RuntimeError: Received a content event for "
        "output index N before receiving its output item; Duplicate response output index; "
        "Cannot complete response with unfinished output items; IndexError on a delta "
        "before its content part)",
    ),
    hint="For each item send output_item.added, then (for messages) content_part.added, "
    "the deltas, output_text.done, content_part.done, and output_item.done, all before "
    "the terminal event; number items by their position in `output`.",
    scenarios=STREAMS,
    api=API,
)
def item_lifecycle(t: ResponsesView) -> Verdict:
    if (skip := no_events(t)) is not None:
        return skip
    if t.duplicate_items:
        ev = t.duplicate_items[0]
        return failed(
            "one response.output_item.added per output_index",
            f"output_index {ev.output_index} added again ({where(ev)})",
            at=ev.offset,
        )
    if t.orphans:
        orphan = t.orphans[0]
        return failed(
            "every event to name an item (and content part) already added and not yet done",
            f"{where(orphan.event)}: {orphan.reason}",
            at=orphan.event.offset,
        )
    return _order_problem(t) or _unfinished(t) or passed()


def _text_parts(entry: dict[str, Any]) -> dict[int, str]:
    content = entry.get("content")
    out: dict[int, str] = {}
    for i, part in enumerate(content if isinstance(content, list) else []):
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            out[i] = part["text"]
    return out


def _item_mismatch(item: Item, entry: Any) -> str:
    """How the terminal output's entry differs from the streamed item, or ""."""
    if not isinstance(entry, dict):
        return f"output[{item.output_index}] is {preview(repr(entry))}"
    if entry.get("type") != item.type:
        return f"output[{item.output_index}] has type {entry.get('type')!r}, streamed {item.type!r}"
    streamed_id = _identity(item.added.data.get("item"))[1]
    if streamed_id is not None and entry.get("id") not in (None, streamed_id):
        return f"output[{item.output_index}] has id {entry.get('id')!r}, streamed {streamed_id!r}"
    if item.type == "message":
        final = _text_parts(entry)
        for ci, part in item.parts.items():
            if part.deltas and final.get(ci) != part.text:
                return (
                    f"output[{item.output_index}].content[{ci}].text is "
                    f"{preview(str(final.get(ci)))!r}, the deltas joined give "
                    f"{preview(part.text)!r}"
                )
    if (
        item.type == "function_call"
        and item.arguments
        and entry.get("arguments") != item.joined_arguments
    ):
        return (
            f"output[{item.output_index}].arguments is {preview(str(entry.get('arguments')))!r}"
            f", the deltas joined give {preview(item.joined_arguments)!r}"
        )
    return ""


@rule(
    "responses.output",
    level=Level.MUST,
    requirement="The terminal response's `output` holds the streamed items in "
    "`output_index` order, each text (and function-call arguments) equal to its joined "
    "deltas.",
    spec=specs.OPENAI_RESPONSES_STREAMING + "/response/completed",
    quote="response: Properties of the completed response.",
    breaks=(
        "openai-python get_final_response() (returns the terminal response's output: a "
        "client reading it gets other text than was streamed; RuntimeError: Completed "
        "response output identity changed)",
        "Codex CLI (keeps the final output items as the conversation history)",
    ),
    hint="Build the terminal response's `output` from the same items the stream sent "
    "(the text of each part as its deltas joined), not from a separate generation, and "
    "never leave it empty after streaming items.",
    scenarios=STREAMS,
    api=API,
)
def output(t: ResponsesView) -> Verdict:
    if (skip := no_terminal(t)) is not None:
        return skip
    if t.orphans or t.duplicate_items:
        return skipped("the items were not streamed in order; see responses.item-lifecycle")
    end = t.terminal
    assert end is not None
    if end.type == "response.failed":
        return skipped("a failed response's output may hold only part of what was streamed")
    final = (t.final_response or {}).get("output")
    if not isinstance(final, list):
        return skipped(f"the terminal response's output is {final!r}; see responses.schema")
    items = sorted(t.items.values(), key=lambda i: i.output_index)
    if len(final) != len(items):
        kinds = [i.type for i in items]
        return failed(
            f"{len(items)} output items ({', '.join(map(str, kinds)) or 'none'}), as streamed",
            f"output holds {len(final)} ({where(end)})",
            at=end.offset,
        )
    for item in items:
        entry = final[item.output_index] if item.output_index < len(final) else None
        if problem := _item_mismatch(item, entry):
            return failed(
                "the streamed item, as streamed", f"{problem} ({where(end)})", at=end.offset
            )
    return passed()


def _tool_names(t: ResponsesView) -> set[str]:
    tools = t.asked("tools")
    return {
        tool["name"]
        for tool in (tools if isinstance(tools, list) else [])
        if isinstance(tool, dict) and isinstance(tool.get("name"), str)
    }


def _call_problem(entry: dict[str, Any], names: set[str]) -> str:
    where_ = f"function_call {entry.get('name')!r}"
    if entry.get("name") not in names:
        return f"{where_}: not one of the request's tools ({', '.join(sorted(names))})"
    if not isinstance(entry.get("call_id"), str) or not entry["call_id"]:
        return f"{where_}: call_id {entry.get('call_id')!r}"
    arguments = entry.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return f"{where_}: arguments {preview(repr(arguments))} do not parse as a JSON object"
    return ""


@rule(
    "responses.tool-call",
    level=Level.MUST,
    requirement="A request with `tool_choice: required` gets a `function_call` item naming "
    "one of its tools, with a `call_id` and `arguments` that parse as a JSON object.",
    spec=specs.OPENAI_RESPONSES_CREATE,
    quote="required means the model must call one or more tools.",
    breaks=(
        "openai-python responses.stream(tools=[strict tool]) (json.loads the arguments of "
        "each function_call on response.completed: JSONDecodeError)",
        "Codex CLI and agent loops (run the named tool with the parsed arguments)",
    ),
    hint="Stream the call as a function_call item (name and call_id when added, the "
    "arguments in function_call_arguments.delta pieces) and put the whole, valid JSON "
    "arguments in the terminal response's output.",
    scenarios=("responses-tools",),
    api=API,
)
def tool_call(t: ResponsesView) -> Verdict:
    if (skip := no_terminal(t)) is not None:
        return skip
    end = t.terminal
    assert end is not None
    final = (t.final_response or {}).get("output")
    if not isinstance(final, list):
        return skipped(f"the terminal response's output is {final!r}; see responses.schema")
    calls = [o for o in final if isinstance(o, dict) and o.get("type") == "function_call"]
    if not calls:
        kinds = [o.get("type") for o in final if isinstance(o, dict)]
        return failed(
            "a function_call item (tool_choice: required)",
            f"output items {kinds} ({where(end)})",
            at=end.offset,
        )
    names = _tool_names(t)
    for entry in calls:
        if problem := _call_problem(entry, names):
            return failed(
                "a call to a declared tool with JSON-object arguments",
                f"{problem} ({where(end)})",
                at=end.offset,
            )
    return passed()
