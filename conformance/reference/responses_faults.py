"""Faults and valid variants of the reference server's Responses endpoint.

Entries of the same shape as the chat catalog's (``entries.py``), naming the
Responses API in ``apis``: their ``responses`` hook rewrites the correct
event stream (``responses_api.py``) the ways real servers get it wrong, and
their plan hook, where they have one, changes what is generated for the
stream and the non-stream answer alike.  ``faults.py`` and ``variants.py``
list them with the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from . import plans
from . import transforms as t
from .entries import Fault, FaultOptions
from .text import Completion
from .validation import ChatRequest
from .wire import DONE, Data, Item, JsonObject

__all__ = ["RESPONSES_FAULTS", "RESPONSES_VARIANTS"]

Items = AsyncIterator[Item]
API: tuple[str, ...] = ("responses",)
#: Text deltas a failing generation gets out before it fails.
FAIL_AFTER = 3


def _event(item: Item) -> JsonObject | None:
    return item.json() if isinstance(item, Data) and item.text != DONE.text else None


def _out(payload: JsonObject) -> Data:
    kind = payload.get("type")
    return Data.of(payload, event=kind if isinstance(kind, str) else None)


class _Counter:
    """Renumbers events in the order they go out (for hooks that add or move some)."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self, payload: JsonObject) -> Data:
        payload = {**payload, "sequence_number": self.next}
        self.next += 1
        return _out(payload)


async def limit_as_completed(items: Items, options: FaultOptions) -> Items:
    """A response cut by max_output_tokens reported as a finished one."""
    async for item in items:
        payload = _event(item)
        if payload is None:
            yield item
            continue
        if payload.get("type") == "response.incomplete":
            response = dict(payload["response"])
            response.update(status="completed", incomplete_details=None)
            response["output"] = [{**o, "status": "completed"} for o in response["output"]]
            payload = {**payload, "type": "response.completed", "response": response}
        elif payload.get("type") == "response.output_item.done":
            payload = {**payload, "item": {**payload["item"], "status": "completed"}}
        yield _out(payload)


def fail_early(chat: ChatRequest, completion: Completion) -> Completion:
    """The generation stops after a few tokens (it failed there)."""
    if completion.tool_name is not None:
        return completion
    return replace(completion, tokens=completion.tokens[:FAIL_AFTER], finish_reason="stop")


async def error_then_completed(items: Items, options: FaultOptions) -> Items:
    """An ``error`` event after the last text delta, and the stream still ends
    ``response.completed``: a server that reports the failure and then carries on."""
    number = _Counter()
    deltas = 0
    async for item in items:
        payload = _event(item)
        if payload is None:
            yield item
            continue
        yield number(payload)
        if payload.get("type") == "response.output_text.delta":
            deltas += 1
            if deltas == FAIL_AFTER:
                yield number(
                    {
                        "type": "error",
                        "code": "server_error",
                        "message": "The model runner failed during generation.",
                        "param": None,
                    }
                )


async def drop_sequence_numbers(items: Items, options: FaultOptions) -> Items:
    async for item in items:
        payload = _event(item)
        if payload is None:
            yield item
            continue
        payload.pop("sequence_number", None)
        yield _out(payload)


async def delta_before_item(items: Items, options: FaultOptions) -> Items:
    """The first message item (and its content part) announced only after its first delta."""
    number = _Counter()
    held: list[JsonObject] = []
    moved = False
    async for item in items:
        payload = _event(item)
        if payload is None:
            yield item
            continue
        kind = payload.get("type")
        is_message = (
            kind == "response.output_item.added" and payload["item"].get("type") == "message"
        )
        if not moved and is_message:
            held.append(payload)
            continue
        if not moved and held and kind == "response.content_part.added":
            held.append(payload)
            continue
        yield number(payload)
        if held and not moved and kind == "response.output_text.delta":
            moved = True
            for late in held:
                yield number(late)


async def output_differs(items: Items, options: FaultOptions) -> Items:
    """The terminal response's message text lacks the last delta the stream sent."""
    last: dict[tuple[int, int], str] = {}
    async for item in items:
        payload = _event(item)
        if payload is None:
            yield item
            continue
        kind = payload.get("type")
        if kind == "response.output_text.delta":
            last[(payload["output_index"], payload["content_index"])] = payload["delta"]
        elif kind in ("response.completed", "response.incomplete"):
            payload = {**payload, "response": _without_last(payload["response"], last)}
        yield _out(payload)


def _without_last(response: JsonObject, last: dict[tuple[int, int], str]) -> JsonObject:
    output = []
    for index, entry in enumerate(response.get("output", [])):
        if entry.get("type") == "message":
            content = []
            for ci, part in enumerate(entry.get("content", [])):
                cut = last.get((index, ci), "")
                text = part.get("text", "")
                if cut and text.endswith(cut):
                    part = {**part, "text": text[: -len(cut)]}
                content.append(part)
            entry = {**entry, "content": content}
        output.append(entry)
    return {**response, "output": output}


async def arguments_cut(items: Items, options: FaultOptions) -> Items:
    """A function call's last argument piece is lost everywhere: the stream, the done
    events and the terminal output agree on arguments that are not JSON."""
    number = _Counter()
    pending: JsonObject | None = None  # the latest argument piece, held back
    cut = ""  # the piece that was never sent
    async for item in items:
        payload = _event(item)
        if payload is None:
            yield item
            continue
        if payload.get("type") == "response.function_call_arguments.delta":
            if pending is not None:
                yield number(pending)
            pending = payload
            continue
        if pending is not None:  # the call's pieces ended: its last one is lost
            cut, pending = pending["delta"], None
        yield number(_without_piece(payload, cut))


def _without_piece(payload: JsonObject, cut: str) -> JsonObject:
    """The payload with ``cut`` removed from the end of every function call's arguments."""

    def trim(arguments: str) -> str:
        return arguments[: -len(cut)] if cut and arguments.endswith(cut) else arguments

    if isinstance(payload.get("arguments"), str):
        payload = {**payload, "arguments": trim(payload["arguments"])}
    item = payload.get("item")
    if isinstance(item, dict) and item.get("type") == "function_call":
        payload = {**payload, "item": {**item, "arguments": trim(item["arguments"])}}
    response = payload.get("response")
    if isinstance(response, dict):
        output = [
            {**o, "arguments": trim(o["arguments"])} if o.get("type") == "function_call" else o
            for o in response.get("output", [])
        ]
        payload = {**payload, "response": {**response, "output": output}}
    return payload


async def drop_terminal(items: Items, options: FaultOptions) -> Items:
    async for item in items:
        payload = _event(item)
        if payload is not None and payload.get("type") in (
            "response.completed",
            "response.incomplete",
            "response.failed",
        ):
            continue
        yield item


async def done_after_terminal(items: Items, options: FaultOptions) -> Items:
    async for item in items:
        yield item
    yield DONE


RESPONSES_FAULTS: tuple[Fault, ...] = (
    Fault(
        "responses-limit-as-completed",
        "fault",
        "A Responses answer cut by max_output_tokens ends `response.completed`, status "
        "`completed`, with no incomplete_details.",
        "adapters that map every finish to completed",
        scope="server",
        apis=API,
        responses=limit_as_completed,
    ),
    Fault(
        "responses-failed-as-completed",
        "fault",
        "Every Responses text generation fails after 3 tokens: an `error` event, then "
        "`response.completed` with what was generated.",
        "adapters that report an engine error and fall through to the normal ending",
        scope="server",
        apis=API,
        plan=fail_early,
        responses=error_then_completed,
    ),
    Fault(
        "responses-no-sequence",
        "fault",
        "Responses events carry no `sequence_number`.",
        "adapters written from the event names alone",
        scope="server",
        apis=API,
        responses=drop_sequence_numbers,
    ),
    Fault(
        "responses-delta-before-item",
        "fault",
        "The first text delta comes before its message item and content part are added.",
        "adapters that open the item lazily, on the first token",
        scope="server",
        apis=API,
        responses=delta_before_item,
    ),
    Fault(
        "responses-output-mismatch",
        "fault",
        "The terminal response's message text lacks the last delta the stream sent.",
        "servers that build the final response from a separate, lagging accumulator",
        scope="server",
        apis=API,
        responses=output_differs,
    ),
    Fault(
        "responses-bad-arguments",
        "fault",
        "A streamed function call loses its last argument piece: its arguments are not JSON.",
        "adapters that drop the tokenizer's last buffered bytes when the call ends",
        scope="server",
        apis=API,
        responses=arguments_cut,
    ),
    Fault(
        "responses-no-terminal",
        "fault",
        "A Responses stream ends after its last item, without a terminal event.",
        "adapters that stop when the generator is exhausted",
        scope="server",
        apis=API,
        responses=drop_terminal,
    ),
)

RESPONSES_VARIANTS: tuple[Fault, ...] = (
    Fault(
        "responses-keepalive",
        "valid-variant",
        "A `: ping` comment precedes every Responses event after the first.",
        "servers and proxies that send heartbeats",
        scope="server",
        apis=API,
        responses=t.comment_between_events,
    ),
    Fault(
        "responses-reasoning",
        "valid-variant",
        "Every Responses answer opens with a reasoning item (12 reasoning_text deltas) "
        "before its message or function call; max_output_tokens counts both.",
        "reasoning models served through the Responses API",
        scope="server",
        apis=API,
        plan=plans.reason_first,
    ),
    Fault(
        "responses-done",
        "valid-variant",
        "`data: [DONE]` follows the terminal event, as the Open Responses specification asks.",
        "Open Responses servers",
        scope="server",
        apis=API,
        responses=done_after_terminal,
    ),
)
