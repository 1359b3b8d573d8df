"""The Anthropic Messages endpoint (``POST /v1/messages``), streamed and not.

A stream is the event sequence of Anthropic's streaming docs: ``message_start``
(empty content, the input tokens), then per content block
``content_block_start``, its deltas and ``content_block_stop``, each block
under the ``index`` it has in the final content, one block open at a time;
then one ``message_delta`` (stop_reason, output tokens) and ``message_stop``.
Every event has an ``event:`` line equal to its data's ``type``.  A tool answer
is a short text block and a ``tool_use`` block whose input streams as
``input_json_delta`` pieces.  Errors are ``{"type": "error", "error": {"type",
"message"}}``, before a stream as a 4xx reply, inside one as ``event: error``.

The Messages entries of ``api_entries.py`` change these replies.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .answers import FAIL_AFTER, Planned, paced, plan
from .api_entries import ONE_BYTE_WRITES, active_names
from .cancel import Cancels
from .generation import GenerationTracker
from .models import MODELS
from .pipeline import json_reply
from .response import Reply, ReplyResponse
from .settings import Settings
from .text import prompt_tokens
from .tools import Tool
from .wire import Comment, Data, Head, Item, JsonObject, dump_json, encode_item, sse_head

__all__ = ["MESSAGES_PATH", "MessagesEndpoint", "anthropic_error"]

MESSAGES_PATH = "/v1/messages"

#: The stop_reason of each way a plan ends.
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
#: Thinking tokens of the ``messages-thinking`` variant (they count as output).
_THINKING = (" Let", " me", " think", ".")


def anthropic_error(status: int, kind: str, message: str) -> JsonObject:
    return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass(frozen=True, slots=True)
class _Request:
    model: str
    messages: tuple[JsonObject, ...]
    max_tokens: int
    stream: bool
    tools: tuple[Tool, ...] = ()
    seed: int | None = None


class MessagesEndpoint:
    """``POST /v1/messages``, sharing the server's settings, tracker and cancels."""

    def __init__(self, settings: Settings, tracker: GenerationTracker, cancels: Cancels) -> None:
        self.settings = settings
        self.tracker = tracker
        self.cancels = cancels
        self.names = active_names(settings.fault, settings.variant)

    async def handle(self, request: Request) -> Response:
        if not self._authorized(request):
            error = anthropic_error(401, "authentication_error", "invalid x-api-key")
            return ReplyResponse(json_reply(401, error))
        parsed = _parse(await request.body())
        if isinstance(parsed, tuple):
            return ReplyResponse(self._invalid(*parsed))
        planned = plan(
            parsed.model,
            parsed.messages,
            max_tokens=parsed.max_tokens - (len(_THINKING) if self._thinking else 0),
            seed=parsed.seed,
            tools=parsed.tools,
            fail_long=bool(self.names & {"messages-error-null-stop", "messages-error-untyped"}),
            nondeterministic=self.settings.nondeterministic,
        )
        command_id = secrets.token_hex(12)
        if parsed.stream:
            return ReplyResponse(self._stream(command_id, parsed, planned))
        return ReplyResponse(json_reply(200, self._message(command_id, parsed, planned)))

    @property
    def _thinking(self) -> bool:
        return "messages-thinking" in self.names

    def _authorized(self, request: Request) -> bool:
        key = self.settings.api_key
        if key is None:
            return True
        sent = request.headers.get("x-api-key", "")
        bearer = request.headers.get("authorization", "")
        return hmac.compare_digest(sent.encode(), key.encode()) or hmac.compare_digest(
            bearer.encode(), f"Bearer {key}".encode()
        )

    def _invalid(self, status: int, kind: str, message: str) -> Reply:
        """An invalid request's reply, or the broken one a fault sends instead."""
        if "fastapi-422" in self.names:
            detail = {"detail": [{"type": "value_error", "loc": ["body"], "msg": message}]}
            return json_reply(422, detail)
        if "plain-500" in self.names:
            return _plain_500()
        return json_reply(status, anthropic_error(status, kind, message))

    # -- the non-stream answer ---------------------------------------------------

    def _message(self, command_id: str, req: _Request, planned: Planned) -> JsonObject:
        completion = planned.completion
        content: list[JsonObject] = []
        output = completion.completion_tokens
        if self._thinking:
            content.append({"type": "thinking", "thinking": "".join(_THINKING), "signature": "sig"})
            output += len(_THINKING)
        if completion.tool_name is not None:
            preface = _preface(completion.tool_name)
            content.append({"type": "text", "text": "".join(preface)})
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{command_id}",
                    "name": completion.tool_name,
                    "input": _input(completion.text),
                }
            )
            output += len(preface)
        else:
            content.append({"type": "text", "text": completion.text})
        return {
            **_shell(command_id, req),
            "content": content,
            "stop_reason": _STOP_REASONS[completion.finish_reason],
            "usage": {"input_tokens": prompt_tokens(req.messages), "output_tokens": output},
        }

    # -- the stream -----------------------------------------------------------------

    async def _stream(self, command_id: str, req: _Request, planned: Planned) -> Reply:
        yield sse_head()
        items = self._items(command_id, req, planned)
        first = True
        async for item in items:
            if "messages-keepalive" in self.names and not first:
                yield encode_item(Comment("keep-alive"))
            first = False
            raw = encode_item(item)
            if ONE_BYTE_WRITES in self.names:
                for i in range(len(raw)):
                    yield raw[i : i + 1]
            else:
                yield raw

    async def _items(self, command_id: str, req: _Request, planned: Planned) -> AsyncIterator[Item]:
        ping = "messages-ping" in self.names
        async for event in self._events(command_id, req, planned):
            yield event
            if ping and event.event != "message_stop":
                yield _event({"type": "ping"})

    async def _events(
        self, command_id: str, req: _Request, planned: Planned
    ) -> AsyncIterator[Data]:
        completion = planned.completion
        message = {
            **_shell(command_id, req),
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": prompt_tokens(req.messages), "output_tokens": 1},
        }
        yield _event({"type": "message_start", "message": message})
        delay = self.settings.token_delay
        output = 0
        index = 0
        with self.cancels.running(command_id) as flag, self.tracker.track():
            if self._thinking:
                yield _start(index, {"type": "thinking", "thinking": "", "signature": ""})
                async for token in paced(_THINKING, delay, flag):
                    output += 1
                    yield _delta(index, {"type": "thinking_delta", "thinking": token})
                yield _delta(index, {"type": "signature_delta", "signature": "sig"})
                yield _stop(index)
                index += 1
            if completion.tool_name is not None:
                async for event in self._tool_blocks(command_id, completion.tool_name, planned,
                                                     index, flag):  # fmt: skip
                    yield event
                output += completion.completion_tokens + len(_preface(completion.tool_name))
            else:
                yield _start(index, {"type": "text", "text": ""})
                count = 0
                async for token in paced(completion.tokens, delay, flag):
                    if planned.fails and count == FAIL_AFTER:
                        async for event in self._failure(index, output):
                            yield event
                        return
                    count += 1
                    output += 1
                    yield _delta(index, {"type": "text_delta", "text": token})
                yield _stop(index)
            stop: str | None = _STOP_REASONS[completion.finish_reason]
            if flag.is_set():  # cancelled: the answer did not end, it was stopped
                stop = None
        yield _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output},
            }
        )
        yield _event({"type": "message_stop"})

    async def _tool_blocks(
        self, command_id: str, name: str, planned: Planned, index: int, flag: Any
    ) -> AsyncIterator[Data]:
        """The preface text block and the tool_use block, as the faults order them."""
        delay = self.settings.token_delay
        text, tool = index, index + 1
        if "messages-index-reused" in self.names:
            tool = text
        preface = _preface(name)
        opening = {"type": "tool_use", "id": f"toolu_{command_id}", "name": name, "input": {}}
        yield _start(text, {"type": "text", "text": ""})
        async for token in paced(preface[:-1], delay, flag):
            yield _delta(text, {"type": "text_delta", "text": token})
        last_text = _delta(text, {"type": "text_delta", "text": preface[-1]})
        interleaved = "messages-interleaved" in self.names
        if not interleaved:
            yield last_text
            yield _stop(text)
        yield _start(tool, opening)
        if interleaved:
            yield last_text
            yield _stop(text)
        async for token in paced(planned.completion.tokens, delay, flag):
            yield _delta(tool, {"type": "input_json_delta", "partial_json": token})
        yield _stop(tool)

    async def _failure(self, index: int, output: int) -> AsyncIterator[Data]:
        """How a failed generation ends, as the active fault has it."""
        message = "The generation failed: the runner stopped."
        if "messages-error-untyped" in self.names:
            yield Data(dump_json(anthropic_error(500, "api_error", message)))
            return
        if "messages-error-null-stop" in self.names:
            yield _stop(index)
            yield _event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": None, "stop_sequence": None},
                    "usage": {"output_tokens": output},
                }
            )
            yield _event({"type": "message_stop"})
            return
        yield _event(anthropic_error(500, "api_error", message))


def _event(value: JsonObject) -> Data:
    return Data.of(value, event=str(value["type"]))


def _start(index: int, block: JsonObject) -> Data:
    return _event({"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: JsonObject) -> Data:
    return _event({"type": "content_block_delta", "index": index, "delta": delta})


def _stop(index: int) -> Data:
    return _event({"type": "content_block_stop", "index": index})


def _shell(command_id: str, req: _Request) -> JsonObject:
    return {
        "id": f"msg_{command_id}",
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "stop_sequence": None,
    }


def _preface(tool: str) -> tuple[str, ...]:
    return ("Calling", f" {tool}.")


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:  # cut by max_tokens: what there is, as text
        return {}


def _plain_500() -> Reply:
    async def reply() -> Reply:
        body = b"Internal Server Error"
        yield Head(500, (("Content-Type", "text/plain; charset=utf-8"),
                         ("Content-Length", str(len(body)))))  # fmt: skip
        yield body

    return reply()


# -- the request -----------------------------------------------------------------


def _parse(raw: bytes) -> _Request | tuple[int, str, str]:
    """The request, or (status, error type, message) for what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return 400, "invalid_request_error", f"The request body is not valid JSON: {exc}"
    if not isinstance(body, dict):
        return 400, "invalid_request_error", "The request body must be a JSON object."
    model = body.get("model")
    if not isinstance(model, str):
        return 400, "invalid_request_error", "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return 400, "invalid_request_error", "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(_is_message(m) for m in messages):
        return 400, "invalid_request_error", "messages: a non-empty list of messages is required"
    tools = _tools(body.get("tools"))
    if tools is None:
        return 400, "invalid_request_error", "tools: each tool needs a name and an input_schema"
    if model not in MODELS:
        return 404, "not_found_error", f"model: {model}"
    seed = body.get("seed")
    return _Request(
        model,
        tuple(messages),
        max_tokens,
        body.get("stream") is True,
        tools,
        seed if isinstance(seed, int) else None,
    )


def _is_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("role") in ("user", "assistant")
        and isinstance(value.get("content"), str | list)
    )


def _tools(raw: Any) -> tuple[Tool, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    out: list[Tool] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None
        schema = item.get("input_schema")
        if not isinstance(schema, dict):
            return None
        description = item.get("description")
        out.append(Tool(item["name"], description if isinstance(description, str) else "", schema))
    return tuple(out)


def stream_body(events: Sequence[JsonObject]) -> bytes:
    """A stream's bytes from its event values (for tests and fixtures)."""
    return b"".join(encode_item(_event(e)) for e in events)
