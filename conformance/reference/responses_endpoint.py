"""``POST /v1/responses``: read, plan, and send the stream or the response object.

A catalog entry changes this endpoint only when it names the Responses API in
its ``apis``: then its plan hook changes what is generated and its
``responses`` hook the events sent.  The chat-stage hooks (head, items,
framing, writes) belong to the chat endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response

from .auth import authorized
from .entries import NO_FAULT, Fault, FaultOptions
from .errors import ApiError
from .generation import GenerationTracker, generate
from .models import MODELS
from .pipeline import error_reply, json_reply, stream_reply
from .response import ReplyResponse
from .responses_api import ResponseBuilder, read_request, response_events
from .settings import Settings
from .text import Completion
from .validation import ChatRequest, parse_body
from .wire import PLAIN_FRAMING, Item, encode

__all__ = ["API", "serve_responses"]

API = "responses"

Planner = Callable[[ChatRequest], Completion]


def _error(error: ApiError) -> Response:
    return ReplyResponse(error_reply(NO_FAULT, error))


async def serve_responses(
    request: Request,
    *,
    settings: Settings,
    fault: Fault,
    tracker: GenerationTracker,
    plan: Planner,
) -> Response:
    if not authorized(request, settings.api_key, fault):
        return _error(ApiError.bad_api_key())
    body = parse_body(await request.body())
    if isinstance(body, ApiError):
        return _error(body)
    chat = read_request(body, MODELS)
    if isinstance(chat, ApiError):
        return _error(chat)
    mine = API in fault.apis
    completion = plan(chat)
    if mine and fault.plan is not None:
        completion = fault.plan(chat, completion)
    builder = ResponseBuilder(chat, completion)
    delay = settings.token_delay
    if not chat.stream:
        await generate(completion, delay=delay, tracker=tracker)
        return ReplyResponse(json_reply(200, builder.answer()))
    events: AsyncIterator[Item] = response_events(builder, delay=delay, tracker=tracker)
    if mine and fault.responses is not None:
        events = fault.responses(events, _options(settings))
    return ReplyResponse(stream_reply(NO_FAULT, encode(events, PLAIN_FRAMING)))


def _options(settings: Settings) -> FaultOptions:
    return settings.fault_options
