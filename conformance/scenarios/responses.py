"""Scenarios of the OpenAI Responses API (``POST /v1/responses``).

Each request is data (:data:`BODIES`), so the request a rule reads is the one
written here, and tests build the same request with :func:`request_for`.
Every answer is bounded by ``max_output_tokens``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..capture.transcript import Transcript
from .base import UNKNOWN_MODEL, RecordContext, Recorder, Scenario
from .responses_client import with_sdk_run

__all__ = [
    "BODIES",
    "CUT_MAX_OUTPUT_TOKENS",
    "ERRORS",
    "INVALID_JSON",
    "PATH",
    "SCENARIOS",
    "STREAMS",
    "STREAM_TWIN",
    "WEATHER_FUNCTION",
    "request_for",
]

PATH = "/v1/responses"
API = "responses"
#: Where responses-nonstream keeps the same request streamed.
STREAM_TWIN = "stream"
#: OpenAI's smallest accepted ``max_output_tokens``; the long prompt runs past it.
CUT_MAX_OUTPUT_TOKENS = 16
BASIC_MAX_OUTPUT_TOKENS = 48
LONG_PROMPT = "Write a long story about a lighthouse keeper, in plain words."
TOOL_PROMPT = "What is the weather in Paris right now? Use the get_weather tool."
#: A body that is not JSON: cut off inside an object.
INVALID_JSON = b'{"model": "m", "input": "Hi", '

#: A function tool as the Responses API declares it (flat, not nested under "function").
WEATHER_FUNCTION: Mapping[str, Any] = MappingProxyType(
    {
        "type": "function",
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    }
)


def _body(prompt: str = "Say hello in one short sentence.", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "input": prompt,
        "stream": True,
        "temperature": 0,
        "max_output_tokens": BASIC_MAX_OUTPUT_TOKENS,
    }
    body.update(extra)
    return body


#: What each scenario sends, but the model (added by :func:`request_for`).
BODIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "responses-stream": _body(),
        "responses-max-output-tokens": _body(LONG_PROMPT, max_output_tokens=CUT_MAX_OUTPUT_TOKENS),
        "responses-nonstream": _body(stream=False),
        "responses-tools": _body(
            TOOL_PROMPT,
            max_output_tokens=64,
            tools=[dict(WEATHER_FUNCTION)],
            tool_choice="required",
        ),
        # Invalid requests, streamed: the error must come as JSON, not as a stream.
        "responses-missing-input": {"stream": True},
        "responses-unknown-model": _body(),
    }
)

#: Scenarios whose answer is a stream of events.
STREAMS: tuple[str, ...] = ("responses-stream", "responses-max-output-tokens", "responses-tools")
#: Scenarios whose request is invalid on purpose.
ERRORS: tuple[str, ...] = (
    "responses-missing-input",
    "responses-unknown-model",
    "responses-invalid-json",
)


def request_for(scenario: str, model: str = "m") -> dict[str, Any] | None:
    """The JSON body a scenario sends (None for the malformed one)."""
    extra = BODIES.get(scenario)
    if extra is None:
        return None
    name = UNKNOWN_MODEL if scenario == "responses-unknown-model" else model
    return {"model": name, **extra}


async def _post(ctx: RecordContext, scenario: str, body: Any) -> Transcript:
    return await ctx.exchange("POST", PATH, scenario, json=body)


def _single(scenario: str) -> Recorder:
    async def run(ctx: RecordContext) -> Transcript:
        body = request_for(scenario, ctx.target.model)
        t = await _post(ctx, scenario, body)
        if scenario in STREAMS and body is not None:
            # openai-python reads the very bytes recorded (replayed on loopback).
            return await with_sdk_run(ctx, t, body)
        return t

    return run


async def _record_nonstream(ctx: RecordContext) -> Transcript:
    """The answer non-streamed, then the same request streamed (one after the other)."""
    body = {"model": ctx.target.model, **BODIES["responses-nonstream"]}
    answer = await _post(ctx, "responses-nonstream", body)
    stream = await _post(ctx, "responses-nonstream", {**body, "stream": True})
    return dataclasses.replace(answer, related=((STREAM_TWIN, stream),))


async def _record_invalid_json(ctx: RecordContext) -> Transcript:
    return await ctx.exchange(
        "POST",
        PATH,
        "responses-invalid-json",
        content=INVALID_JSON,
        headers={"content-type": "application/json"},
    )


def _scenario(sid: str, description: str, record: Recorder) -> Scenario:
    return Scenario(sid, description, record, api=API)


SCENARIOS: tuple[Scenario, ...] = (
    _scenario(
        "responses-stream",
        f"a short answer streamed (max_output_tokens={BASIC_MAX_OUTPUT_TOKENS})",
        _single("responses-stream"),
    ),
    _scenario(
        "responses-max-output-tokens",
        f"a long answer streamed, cut by max_output_tokens={CUT_MAX_OUTPUT_TOKENS}",
        _single("responses-max-output-tokens"),
    ),
    _scenario(
        "responses-nonstream",
        "the responses-stream request with stream: false, then streamed again as its twin",
        _record_nonstream,
    ),
    _scenario(
        "responses-tools",
        "a streamed function call: the get_weather tool with tool_choice required",
        _single("responses-tools"),
    ),
    _scenario(
        "responses-missing-input",
        "a streamed request without `input` (invalid)",
        _single("responses-missing-input"),
    ),
    _scenario(
        "responses-unknown-model",
        "a streamed request for a model no endpoint knows",
        _single("responses-unknown-model"),
    ),
    _scenario("responses-invalid-json", "a body that is not JSON", _record_invalid_json),
)
