"""Ollama's chat endpoint (``POST /api/chat``, and ``/ollama/api/chat`` where EXO mounts it).

A stream (the default, ``stream`` absent or true) is NDJSON: one JSON object
per line, each ending in ``\\n``, as ``application/x-ndjson``; content lines
carry ``"done": false`` and a piece of the assistant message, and the last line
``"done": true`` with its ``done_reason`` (``stop`` or ``length``) and counts.
A tool call goes out as ``message.tool_calls`` whose ``arguments`` are an
object.  Errors are ``{"error": "<text>"}``: before a stream as a 4xx reply,
inside one as a line of their own, which ollama-python raises on.

The Ollama entries of ``api_entries.py`` change these replies.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .answers import FAIL_AFTER, Planned, paced, plan
from .api_entries import ONE_BYTE_WRITES, active_names
from .generation import GenerationTracker
from .models import MODELS
from .pipeline import json_reply
from .response import Reply, ReplyResponse
from .settings import Settings
from .text import prompt_tokens
from .tools import Tool
from .wire import Head, JsonObject, dump_json

__all__ = ["OLLAMA_PATHS", "OllamaEndpoint"]

OLLAMA_PATHS = ("/api/chat", "/ollama/api/chat")

_DONE_REASONS = {"stop": "stop", "length": "length", "tool_calls": "stop"}
_CREATED_AT = "2025-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class _Request:
    model: str
    messages: tuple[JsonObject, ...]
    stream: bool
    num_predict: int | None
    seed: int | None
    tools: tuple[Tool, ...]


class OllamaEndpoint:
    """``POST /api/chat``, sharing the server's settings and tracker."""

    def __init__(self, settings: Settings, tracker: GenerationTracker) -> None:
        self.settings = settings
        self.tracker = tracker
        self.names = active_names(settings.fault, settings.variant)

    async def handle(self, request: Request) -> Response:
        key = self.settings.api_key
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            return ReplyResponse(json_reply(401, {"error": "unauthorized"}))
        parsed = _parse(await request.body())
        if isinstance(parsed, tuple):
            return ReplyResponse(self._invalid(*parsed))
        planned = plan(
            parsed.model,
            parsed.messages,
            max_tokens=parsed.num_predict,
            seed=parsed.seed,
            tools=parsed.tools,
            fail_long="ollama-error-as-content" in self.names,
            nondeterministic=self.settings.nondeterministic,
        )
        if parsed.stream:
            return ReplyResponse(self._stream(parsed, planned))
        return ReplyResponse(json_reply(200, self._final(parsed, planned, whole=True)))

    def _invalid(self, status: int, message: str) -> Reply:
        if "fastapi-422" in self.names:
            return json_reply(422, {"detail": [{"type": "value_error", "loc": ["body"],
                                                "msg": message}]})  # fmt: skip
        if "plain-500" in self.names:
            return _plain_500()
        return json_reply(status, {"error": message})

    def _message(self, planned: Planned, content: str) -> JsonObject:
        completion = planned.completion
        if completion.tool_name is None:
            return {"role": "assistant", "content": content}
        arguments: Any = _arguments(completion.text)
        if "ollama-string-arguments" in self.names:
            arguments = completion.text
        call = {"function": {"name": completion.tool_name, "arguments": arguments}}
        return {"role": "assistant", "content": "", "tool_calls": [call]}

    def _final(self, req: _Request, planned: Planned, *, whole: bool) -> JsonObject:
        completion = planned.completion
        text = completion.text if whole and completion.tool_name is None else ""
        line: JsonObject = {
            "model": req.model,
            "created_at": _CREATED_AT,
            "message": self._message(planned, text) if whole else _content(""),
            "done": True,
            "done_reason": _DONE_REASONS[completion.finish_reason],
            "total_duration": 1,
            "load_duration": 0,
            "prompt_eval_count": prompt_tokens(req.messages),
            "prompt_eval_duration": 0,
            "eval_count": completion.completion_tokens,
            "eval_duration": 1,
        }
        return line

    async def _stream(self, req: _Request, planned: Planned) -> Reply:
        yield Head(200, (("Content-Type", "application/x-ndjson"),))
        async for line in self._lines(req, planned):
            raw = (dump_json(line) + "\n").encode()
            if ONE_BYTE_WRITES in self.names:
                for i in range(len(raw)):
                    yield raw[i : i + 1]
            else:
                yield raw

    async def _lines(self, req: _Request, planned: Planned) -> AsyncIterator[JsonObject]:
        completion = planned.completion
        base = {"model": req.model, "created_at": _CREATED_AT}
        with self.tracker.track():
            if completion.tool_name is not None:
                # Ollama sends a call whole, in one line, not in pieces.
                async for _ in paced(completion.tokens, self.settings.token_delay):
                    pass
                yield {**base, "message": self._message(planned, ""), "done": False}
            else:
                count = 0
                async for token in paced(completion.tokens, self.settings.token_delay):
                    if planned.fails and count == FAIL_AFTER:
                        yield {
                            **base,
                            "message": _content("The generation failed: the runner stopped."),
                            "done": True,
                            "done_reason": "error",
                        }
                        return
                    count += 1
                    yield {**base, "message": _content(token), "done": False}
        if "ollama-no-done" not in self.names:
            yield self._final(req, planned, whole=False)


def _content(text: str) -> JsonObject:
    return {"role": "assistant", "content": text}


def _arguments(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:  # cut by num_predict
        return {}
    return value if isinstance(value, dict) else {}


def _plain_500() -> Reply:
    async def reply() -> Reply:
        body = b"Internal Server Error"
        yield Head(500, (("Content-Type", "text/plain; charset=utf-8"),
                         ("Content-Length", str(len(body)))))  # fmt: skip
        yield body

    return reply()


def _parse(raw: bytes) -> _Request | tuple[int, str]:
    """The request, or (status, message) for what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return 400, f"invalid JSON body: {exc}"
    if not isinstance(body, dict):
        return 400, "the body must be a JSON object"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return 400, "model is required"
    messages = body.get("messages", [])
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
    ):
        return 400, "messages must be a list of objects with a role"
    options = body.get("options") or {}
    if not isinstance(options, dict):
        return 400, "options must be an object"
    tools = _tools(body.get("tools"))
    if tools is None:
        return 400, "tools must be a list of function tools"
    if model not in MODELS:
        return 404, f'model "{model}" not found, try pulling it first'
    num_predict, seed = options.get("num_predict"), options.get("seed")
    return _Request(
        model,
        tuple(messages),
        body.get("stream", True) is not False,
        num_predict if isinstance(num_predict, int) and num_predict > 0 else None,
        seed if isinstance(seed, int) else None,
        tools,
    )


def _tools(raw: Any) -> tuple[Tool, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    out: list[Tool] = []
    for item in raw:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return None
        parameters = function.get("parameters")
        description = function.get("description")
        out.append(
            Tool(
                function["name"],
                description if isinstance(description, str) else "",
                parameters if isinstance(parameters, dict) else {},
            )
        )
    return tuple(out)
