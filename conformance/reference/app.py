"""The reference server: a correct EXO/OpenAI chat endpoint, unless told a fault or a variant."""

from __future__ import annotations

import dataclasses
import os
from contextlib import aclosing

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .api_entries import active_names
from .auth import authorized
from .cancel import CANCEL_PATH, Cancels, cancellable_chat
from .chunks import Answer
from .errors import ApiError
from .generation import GenerationTracker, generate, item_count, stream_items
from .messages import MESSAGES_PATH, MessagesEndpoint
from .models import MODELS, models_payload
from .ollama import OLLAMA_PATHS, OllamaEndpoint
from .pipeline import (
    completion_reply,
    error_reply,
    guarded,
    json_reply,
    models_reply,
    prepare_request,
    stream_reply,
    stream_writes,
)
from .response import Reply, ReplyResponse
from .responses_endpoint import serve_responses
from .settings import Settings
from .text import Completion, plan_completion, wants_long
from .tools import chosen_tool, tool_completion
from .validation import ChatRequest, parse_body, validate

__all__ = ["GENERATIONS_PATH", "ReferenceServer", "create_app"]

GENERATIONS_PATH = "/v1/conformance/generations"


class ReferenceServer:
    """The endpoints, sharing one settings object and one generation tracker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fault = settings.fault_entry
        self.tracker = GenerationTracker()
        self.cancels = Cancels(
            ignore="cancel-ignored" in active_names(settings.fault, settings.variant)
        )

    async def models(self, request: Request) -> Response:
        if not authorized(request, self.settings.api_key, self.fault):
            return ReplyResponse(error_reply(self.fault, ApiError.bad_api_key()))
        return ReplyResponse(models_reply(self.fault, models_payload()))

    async def generations(self, request: Request) -> Response:
        if not authorized(request, self.settings.api_key, self.fault):
            return ReplyResponse(error_reply(self.fault, ApiError.bad_api_key()))
        return ReplyResponse(json_reply(200, self.tracker.snapshot()))

    async def chat(self, request: Request) -> Response:
        chat = await self._read(request)
        if isinstance(chat, ApiError):
            return ReplyResponse(error_reply(self.fault, chat))
        completion = self._plan(chat)
        answer = Answer(chat.model)
        if chat.stream:
            return ReplyResponse(self._stream(answer, completion, chat))
        delay, gate = self.settings.token_delay, self.fault.gate
        await generate(completion, delay=delay, tracker=self.tracker, gate=gate)
        return ReplyResponse(completion_reply(self.fault, answer.completion(completion)))

    async def responses(self, request: Request) -> Response:
        return await serve_responses(
            request,
            settings=self.settings,
            fault=self.fault,
            tracker=self.tracker,
            plan=self._plain_plan,
        )

    def _plan(self, chat: ChatRequest) -> Completion:
        """The entry's plan hook over the plain plan."""
        completion = self._plain_plan(chat)
        return self.fault.plan(chat, completion) if self.fault.plan else completion

    def _plain_plan(self, chat: ChatRequest) -> Completion:
        """A tool call when the request asks for one (see ``tools``), text otherwise."""
        tool = chosen_tool(chat.tools, chat.tool_choice, chat.messages)
        if tool is not None:
            return tool_completion(tool, chat.messages, max_tokens=chat.max_tokens)
        return plan_completion(
            chat.model,
            chat.messages,
            seed=chat.seed,
            max_tokens=chat.max_tokens,
            stop=chat.stop,
            salt=os.urandom(8) if self.settings.nondeterministic else b"",
        )

    async def _read(self, request: Request) -> ChatRequest | ApiError:
        """Every check that must pass before a stream may start."""
        if not authorized(request, self.settings.api_key, self.fault):
            return ApiError.bad_api_key()
        body = parse_body(await request.body())
        if isinstance(body, ApiError):
            return body
        return validate(prepare_request(self.fault, body, MODELS), MODELS)

    async def _stream(self, answer: Answer, completion: Completion, chat: ChatRequest) -> Reply:
        items = stream_items(
            answer,
            completion,
            include_usage=chat.include_usage,
            delay=self.settings.token_delay,
            tracker=self.tracker,
            gate=self.fault.gate,
        )
        options = dataclasses.replace(
            self.settings.fault_options,
            batch=_batch(chat),
            long_prompt=wants_long(chat.messages),
            writes_expected=item_count(completion, include_usage=chat.include_usage),
            request_key=repr((_batch(chat), chat.messages)),
        )
        cancellable = cancellable_chat(self.cancels, answer.id, items)
        reply = stream_reply(self.fault, stream_writes(self.fault, guarded(cancellable), options))
        async with aclosing(reply):
            async for piece in reply:
                yield piece


def _batch(chat: ChatRequest) -> str:
    """The batch a request joins: its sampling parameters, all but the messages."""
    return repr((chat.model, chat.include_usage, chat.max_tokens, chat.stop, chat.seed,
                 chat.temperature))  # fmt: skip


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in the same envelope as everything else."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error = ApiError(status, f"{request.method} {request.url.path}: {exc}")
    return ReplyResponse(json_reply(status, error.envelope()))


def create_app(settings: Settings) -> Starlette:
    server = ReferenceServer(settings)
    app = Starlette(
        routes=[
            Route("/v1/models", server.models, methods=["GET"]),
            Route("/v1/chat/completions", server.chat, methods=["POST"]),
            Route("/v1/responses", server.responses, methods=["POST"]),
            Route(GENERATIONS_PATH, server.generations, methods=["GET"]),
            Route(CANCEL_PATH, server.cancels.endpoint, methods=["POST"]),
            Route(
                MESSAGES_PATH,
                MessagesEndpoint(settings, server.tracker, server.cancels).handle,
                methods=["POST"],
            ),
            *(
                Route(path, OllamaEndpoint(settings, server.tracker).handle, methods=["POST"])
                for path in OLLAMA_PATHS
            ),
        ],
        exception_handlers={404: _http_error, 405: _http_error},
    )
    app.state.server = server
    return app
