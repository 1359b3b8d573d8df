"""The Responses API of the reference server: a ``POST /v1/responses`` body read
into the same request the chat endpoint plans from, and a completion turned
into the Responses event stream (or the response object) OpenAI sends.

The stream, in order: ``response.created``, ``response.in_progress``; per
output item ``response.output_item.added``, then for a message
``response.content_part.added``, one ``response.output_text.delta`` per token,
``response.output_text.done``, ``response.content_part.done`` (a function call
streams ``response.function_call_arguments.delta`` pieces and ``.done``
instead), ``response.output_item.done``; then one terminal event:
``response.completed``, or ``response.incomplete`` when ``max_output_tokens``
cut the answer.  Every event has an ``event:`` line equal to its ``type`` and a
``sequence_number`` counting from 0.  Reasoning, when planned, is an item of
its own before the answer.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .generation import GenerationTracker
from .text import Completion
from .tools import NO_TOOLS, Tool, ToolChoice
from .validation import ChatRequest
from .wire import Data, Item, JsonObject

__all__ = ["MIN_OUTPUT_TOKENS", "ResponseBuilder", "read_request", "response_events"]

#: OpenAI rejects a smaller ``max_output_tokens``.
MIN_OUTPUT_TOKENS = 16


def _messages(value: Any) -> tuple[JsonObject, ...] | ApiError:
    """``input`` as chat messages: a string is one user message."""
    if isinstance(value, str):
        return ({"role": "user", "content": value},)
    if not isinstance(value, list) or not value:
        return ApiError.invalid("input", "'input' must be a string or a non-empty array.")
    messages = []
    for item in value:
        if not isinstance(item, dict):
            return ApiError.invalid("input", "Each input item must be an object.", "invalid_type")
        if isinstance(item.get("role"), str):
            messages.append(item)
    if not messages:
        return ApiError.invalid("input", "'input' holds no message.")
    return tuple(messages)


def _tools(body: JsonObject) -> tuple[tuple[Tool, ...], ToolChoice] | ApiError:
    raw = body.get("tools")
    if raw is None:
        return (), NO_TOOLS
    if not isinstance(raw, list):
        return ApiError.invalid("tools", "'tools' must be an array.", "invalid_type")
    tools = []
    for i, tool in enumerate(raw):
        if not (isinstance(tool, dict) and tool.get("type") == "function"):
            return ApiError.invalid(f"tools[{i}]", "Only function tools are supported.")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            return ApiError.missing(f"tools[{i}].name")
        parameters = tool.get("parameters")
        description = tool.get("description")
        tools.append(
            Tool(
                name,
                description if isinstance(description, str) else "",
                parameters if isinstance(parameters, dict) else {},
            )
        )
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict) and choice.get("type") == "function":
        return tuple(tools), ToolChoice("function", str(choice.get("name")))
    if choice not in ("auto", "required", "none"):
        return ApiError.invalid("tool_choice", f"Invalid tool_choice {choice!r}.")
    return tuple(tools), ToolChoice(str(choice))


def _limit(body: JsonObject) -> int | ApiError | None:
    value = body.get("max_output_tokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return ApiError.invalid("max_output_tokens", "'max_output_tokens' must be an integer.")
    if value < MIN_OUTPUT_TOKENS:
        message = (
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
            f">= {MIN_OUTPUT_TOKENS}, but got {value} instead."
        )
        return ApiError.invalid("max_output_tokens", message, "integer_below_min_value")
    return value


def read_request(body: JsonObject, models: Sequence[str]) -> ChatRequest | ApiError:
    """The request the generation plans from, or the first thing wrong (shape, then model)."""
    if "input" not in body:
        return ApiError.missing("input")
    messages = _messages(body["input"])
    if isinstance(messages, ApiError):
        return messages
    model = body.get("model")
    if not isinstance(model, str):
        return ApiError.missing("model") if model is None else ApiError.invalid("model", "bad")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        return ApiError.invalid("stream", "'stream' must be a boolean.", "invalid_type")
    limit = _limit(body)
    if isinstance(limit, ApiError):
        return limit
    tools = _tools(body)
    if isinstance(tools, ApiError):
        return tools
    temperature = body.get("temperature", 1.0)
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        return ApiError.invalid("temperature", "'temperature' must be a number from 0 to 2.")
    if model not in models:
        return ApiError.unknown_model(model)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        max_tokens=limit,
        temperature=float(temperature),
        tools=tools[0],
        tool_choice=tools[1],
    )


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class ResponseBuilder:
    """One response's identity and the objects that describe it, whole or in part."""

    chat: ChatRequest
    completion: Completion
    id: str = field(default_factory=lambda: _id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))
    reasoning_id: str = field(default_factory=lambda: _id("rs"))
    message_id: str = field(default_factory=lambda: _id("msg"))
    call_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        calls = 1 + len(self.completion.more_calls) if self.completion.tool_name else 0
        self.call_ids = tuple(_id("call") for _ in range(calls))

    @property
    def cut(self) -> bool:
        return self.completion.finish_reason == "length"

    @property
    def status(self) -> str:
        return "incomplete" if self.cut else "completed"

    def response(self, status: str, output: list[JsonObject]) -> JsonObject:
        final = status in ("completed", "incomplete", "failed")
        tools = [
            {"type": "function", "name": t.name, "description": t.description,
             "parameters": t.parameters, "strict": False}
            for t in self.chat.tools
        ]  # fmt: skip
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
            "instructions": None,
            "max_output_tokens": self.chat.max_tokens,
            "model": self.chat.model,
            "output": output,
            "parallel_tool_calls": True,
            "temperature": self.chat.temperature,
            "tool_choice": self.chat.tool_choice.mode
            if self.chat.tool_choice.mode != "function"
            else {"type": "function", "name": self.chat.tool_choice.name},
            "tools": tools,
            "top_p": 1.0,
            "text": {"format": {"type": "text"}},
            "usage": self.usage() if final else None,
            "metadata": {},
        }

    def usage(self) -> JsonObject:
        made = self.completion.completion_tokens
        given = self.completion.prompt_tokens
        return {
            "input_tokens": given,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": made,
            "output_tokens_details": {"reasoning_tokens": len(self.completion.reasoning)},
            "total_tokens": given + made,
        }

    # -- the items, whole ------------------------------------------------------

    def reasoning_item(self, status: str, text: str | None) -> JsonObject:
        content = [] if text is None else [{"type": "reasoning_text", "text": text}]
        return {
            "id": self.reasoning_id,
            "type": "reasoning",
            "summary": [],
            "content": content,
            "status": status,
        }

    def message_item(self, status: str, text: str | None) -> JsonObject:
        content = [] if text is None else [text_part(text)]
        return {
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def call_item(self, index: int, status: str, arguments: str) -> JsonObject:
        completion = self.completion
        name = completion.tool_name if index == 0 else completion.more_calls[index - 1].name
        return {
            "id": f"fc_{self.call_ids[index].removeprefix('call_')}",
            "type": "function_call",
            "status": status,
            "call_id": self.call_ids[index],
            "name": name,
            "arguments": arguments,
        }

    def calls(self) -> list[tuple[int, tuple[str, ...]]]:
        """Each function call of the answer: its index and argument pieces."""
        completion = self.completion
        if completion.tool_name is None:
            return []
        rest = [(i, call.tokens) for i, call in enumerate(completion.more_calls, 1)]
        return [(0, completion.tokens), *rest]

    def output(self) -> list[JsonObject]:
        """The finished output, as the terminal event and a non-stream answer carry it."""
        status, completion = self.status, self.completion
        out = []
        if completion.reasoning:
            out.append(self.reasoning_item(status, "".join(completion.reasoning)))
        if completion.tool_name is None:
            out.append(self.message_item(status, completion.text))
        out += [self.call_item(i, status, "".join(p)) for i, p in self.calls()]
        return out

    def answer(self) -> JsonObject:
        """The non-stream answer."""
        return self.response(self.status, self.output())


def text_part(text: str) -> JsonObject:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


class _Numbered:
    """Numbers events as they go out, one counter per stream."""

    def __init__(self) -> None:
        self.next = 0

    def event(self, kind: str, **fields: Any) -> Data:
        payload = {"type": kind, "sequence_number": self.next, **fields}
        self.next += 1
        return Data.of(payload, event=kind)


async def response_events(
    builder: ResponseBuilder, *, delay: float, tracker: GenerationTracker
) -> AsyncIterator[Item]:
    """The correct event stream of one response, one token per delta."""
    n = _Numbered()
    yield n.event("response.created", response=builder.response("in_progress", []))
    yield n.event("response.in_progress", response=builder.response("in_progress", []))
    completion, status, index = builder.completion, builder.status, 0
    with tracker.track():
        if completion.reasoning:
            async for item in _text_item(n, builder, index, completion.reasoning, delay, True):
                yield item
            index += 1
        if completion.tool_name is None:
            async for item in _text_item(n, builder, index, completion.tokens, delay, False):
                yield item
        for call, pieces in builder.calls():
            async for item in _call_item(n, builder, index + call, call, pieces, delay):
                yield item
    terminal = "response.incomplete" if status == "incomplete" else "response.completed"
    yield n.event(terminal, response=builder.answer())


async def _text_item(
    n: _Numbered,
    builder: ResponseBuilder,
    index: int,
    tokens: Sequence[str],
    delay: float,
    reasoning: bool,
) -> AsyncIterator[Item]:
    """One message (or reasoning) item: added, its one part, the deltas, done."""
    make = builder.reasoning_item if reasoning else builder.message_item
    item_id = builder.reasoning_id if reasoning else builder.message_id
    kind = "reasoning_text" if reasoning else "output_text"
    text = "".join(tokens)
    empty: JsonObject = {"type": kind, "text": ""} if reasoning else text_part("")
    whole: JsonObject = {"type": kind, "text": text} if reasoning else text_part(text)
    at = {"item_id": item_id, "output_index": index, "content_index": 0}
    extra: JsonObject = {} if reasoning else {"logprobs": []}
    yield n.event("response.output_item.added", output_index=index, item=make("in_progress", None))
    yield n.event("response.content_part.added", **at, part=empty)
    for token in tokens:
        await asyncio.sleep(delay)
        yield n.event(f"response.{kind}.delta", **at, delta=token, **extra)
    yield n.event(f"response.{kind}.done", **at, text=text, **extra)
    yield n.event("response.content_part.done", **at, part=whole)
    done = make(builder.status, text)
    yield n.event("response.output_item.done", output_index=index, item=done)


async def _call_item(
    n: _Numbered,
    builder: ResponseBuilder,
    index: int,
    call: int,
    pieces: Sequence[str],
    delay: float,
) -> AsyncIterator[Item]:
    """One function call item: added with its name, the argument pieces, done."""
    opened = builder.call_item(call, "in_progress", "")
    at = {"item_id": opened["id"], "output_index": index}
    yield n.event("response.output_item.added", output_index=index, item=opened)
    for piece in pieces:
        await asyncio.sleep(delay)
        yield n.event("response.function_call_arguments.delta", **at, delta=piece)
    arguments = "".join(pieces)
    name = opened["name"]
    yield n.event("response.function_call_arguments.done", **at, arguments=arguments, name=name)
    done = builder.call_item(call, builder.status, arguments)
    yield n.event("response.output_item.done", output_index=index, item=done)
