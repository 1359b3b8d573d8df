"""Scenarios of one chat exchange each: streams, their non-stream twins, errors, models.

Each single-request scenario is data: the body it sends (:data:`BODIES`), so
the request a rule reads is the one written here, and tests can build the
same request with :func:`request_for`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..capture.transcript import Transcript
from .base import UNKNOWN_MODEL, RecordContext, Recorder, Scenario, chat_body

__all__ = [
    "BODIES",
    "LONG_MAX_TOKENS",
    "LONG_PROMPT",
    "SCENARIOS",
    "SHORT_MAX_TOKENS",
    "SHORT_TWIN",
    "STREAMS",
    "TIME_TOOL",
    "TWIN_MAX_TOKENS",
    "WEATHER_TOOL",
    "request_for",
]

LONG_PROMPT = "Write a long story about a lighthouse keeper, in plain words."
LONG_MAX_TOKENS = 80
SHORT_MAX_TOKENS = 5
#: The short twin of stream-long (same prompt): the two end times give the
#: endpoint's decode rate, whatever its prefill or buffering.
TWIN_MAX_TOKENS = 8
#: Where stream-long keeps its short twin.
SHORT_TWIN = "short-twin"
#: A bound on every answer the suite asks for, so a run's cost is known.
BASIC_MAX_TOKENS = 48
#: Multi-byte text (a chance for a reader to split a character), asked of the
#: stream with usage and of its non-stream twin, which the consistency
#: scenario shares rather than sending them again.
MULTIBYTE_PROMPT = "Reply with unicode and emoji words: a few short words in several scripts."
MULTIBYTE_MAX_TOKENS = 24
#: Invalid requests still bound their answer: a server that wrongly accepts one
#: generates one token, not whatever it likes.
ERROR_MAX_TOKENS = 1

WEATHER_TOOL: Mapping[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    },
}
TIME_TOOL: Mapping[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_local_time",
        "description": "The local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    },
}
PARALLEL_TOOLS_PROMPT = (
    "What is the weather and the local time in Paris? Call get_weather and "
    "get_local_time, both at once."
)

#: What each single chat request adds to :func:`chat_body` (prompt, stream, fields).
BODIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "stream-basic": {"max_tokens": BASIC_MAX_TOKENS},
        "stream-usage": {
            "prompt": MULTIBYTE_PROMPT,
            "max_tokens": MULTIBYTE_MAX_TOKENS,
            "stream_options": {"include_usage": True},
        },
        "stream-max-tokens": {
            "prompt": LONG_PROMPT,
            "max_tokens": SHORT_MAX_TOKENS,
            "stream_options": {"include_usage": True},
        },
        "stream-long": {"prompt": LONG_PROMPT, "max_tokens": LONG_MAX_TOKENS},
        "stream-tools-parallel": {
            "prompt": PARALLEL_TOOLS_PROMPT,
            "max_tokens": 96,
            "tools": [WEATHER_TOOL, TIME_TOOL],
            "tool_choice": "required",
            "parallel_tool_calls": True,
        },
        "nonstream-basic": {
            "prompt": MULTIBYTE_PROMPT,
            "max_tokens": MULTIBYTE_MAX_TOKENS,
            "stream": False,
        },
        "nonstream-max-tokens": {
            "prompt": LONG_PROMPT,
            "max_tokens": SHORT_MAX_TOKENS,
            "stream": False,
        },
    }
)


def request_for(scenario: str, model: str = "m") -> dict[str, Any] | None:
    """The JSON body a single-request scenario sends (None for the others)."""
    extra = BODIES.get(scenario)
    if extra is not None:
        return chat_body(model, **extra)
    if scenario == "error-missing-messages":
        return {"model": model, "stream": False, "max_tokens": ERROR_MAX_TOKENS}
    if scenario == "error-stream-missing-messages":
        return {"model": model, "stream": True, "max_tokens": ERROR_MAX_TOKENS}
    if scenario in ("error-unknown-model", "error-stream-unknown-model"):
        stream = scenario == "error-stream-unknown-model"
        return chat_body(UNKNOWN_MODEL, stream=stream, max_tokens=ERROR_MAX_TOKENS)
    return None


def _single(scenario_id: str) -> Recorder:
    async def run(ctx: RecordContext) -> Transcript:
        return await ctx.chat(scenario_id, request_for(scenario_id, ctx.target.model), share=True)

    return run


async def _long_with_twin(ctx: RecordContext) -> Transcript:
    """The short twin first (a prefix cache can then only shorten the long one's
    prefill, which errs toward passing), then the long stream."""
    twin_body = chat_body(ctx.target.model, LONG_PROMPT, max_tokens=TWIN_MAX_TOKENS)
    twin = await ctx.chat(SHORT_TWIN, twin_body)
    long = await ctx.chat("stream-long", request_for("stream-long", ctx.target.model))
    return dataclasses.replace(long, related=((SHORT_TWIN, twin),))


async def _models(ctx: RecordContext) -> Transcript:
    if ctx.listing is not None and ctx.listing.status is not None:
        return dataclasses.replace(ctx.listing, scenario="models")
    return await ctx.get("models", "/v1/models")


async def _invalid_json(ctx: RecordContext) -> Transcript:
    broken = b'{"model": ' + json.dumps(ctx.target.model).encode() + b', "messages": [{"role"'
    return await ctx.chat("error-invalid-json", content=broken)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("stream-basic", "a short streamed answer", _single("stream-basic")),
    Scenario(
        "stream-usage",
        "a streamed answer (multi-byte text) with stream_options.include_usage",
        _single("stream-usage"),
    ),
    Scenario(
        "stream-max-tokens",
        f"a long answer cut by max_tokens={SHORT_MAX_TOKENS}, with usage",
        _single("stream-max-tokens"),
    ),
    Scenario(
        "stream-long",
        f"a long streamed answer ({LONG_MAX_TOKENS} tokens), to judge incremental delivery, "
        f"after its short twin ({TWIN_MAX_TOKENS} tokens) that gives the decode rate",
        _long_with_twin,
    ),
    Scenario(
        "stream-tools-parallel",
        "a streamed answer asked to call two function tools at once (parallel tool calls)",
        _single("stream-tools-parallel"),
    ),
    Scenario(
        "nonstream-basic",
        "the stream-usage request (multi-byte text) with stream: false",
        _single("nonstream-basic"),
    ),
    Scenario(
        "nonstream-max-tokens",
        f"the stream-max-tokens request with stream: false (max_tokens={SHORT_MAX_TOKENS})",
        _single("nonstream-max-tokens"),
    ),
    Scenario("models", "GET /v1/models", _models),
    Scenario("error-invalid-json", "a body that is not valid JSON", _invalid_json),
    Scenario(
        "error-missing-messages",
        "a non-stream request without messages",
        _single("error-missing-messages"),
    ),
    Scenario(
        "error-unknown-model",
        f"a non-stream request for the unknown model {UNKNOWN_MODEL!r}",
        _single("error-unknown-model"),
    ),
    Scenario(
        "error-stream-missing-messages",
        "a stream request without messages",
        _single("error-stream-missing-messages"),
    ),
    Scenario(
        "error-stream-unknown-model",
        f"a stream request for the unknown model {UNKNOWN_MODEL!r}",
        _single("error-stream-unknown-model"),
    ),
)

#: Scenarios whose main transcript is a chat stream.
STREAMS = ("stream-basic", "stream-usage", "stream-max-tokens", "stream-long")
