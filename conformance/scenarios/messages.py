"""Scenarios of the Anthropic Messages API (``POST /v1/messages``).

Each sends what anthropic-python sends: the JSON body, the key as
``x-api-key`` (it is also the Bearer token every request carries) and the
``anthropic-version`` header.  The bodies are data (:data:`BODIES`), so the
request a rule reads is the one written here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..capture.transcript import Transcript
from .base import UNKNOWN_MODEL, RecordContext, Recorder, Scenario
from .chat import LONG_PROMPT, WEATHER_TOOL
from .sdks import ANTHROPIC_RELATED, SdkResult, run_anthropic_sdk, with_sdk

__all__ = [
    "ANTHROPIC_VERSION",
    "BODIES",
    "ERRORS",
    "MAX_TOKENS_CUT",
    "MESSAGES_PATH",
    "SCENARIOS",
    "STREAMS",
    "TOOL",
    "headers_for",
    "request_for",
]

MESSAGES_PATH = "/v1/messages"
#: The API version anthropic-python sends.
ANTHROPIC_VERSION = "2023-06-01"
#: The limit of the answer cut short.
MAX_TOKENS_CUT = 8
#: Every other answer's bound, so a run's cost is known.
MAX_TOKENS = 64
HELLO = "Say hello in one short sentence."

#: The chat suite's weather tool, in the Messages API's shape.
TOOL: Mapping[str, Any] = {
    "name": WEATHER_TOOL["function"]["name"],
    "description": WEATHER_TOOL["function"]["description"],
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}


def _body(prompt: str = HELLO, *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
        "temperature": 0,
    }
    body.update(extra)
    return body


_BODIES: dict[str, dict[str, Any]] = {
    "messages-stream": _body(),
    "messages-max-tokens": _body(LONG_PROMPT, max_tokens=MAX_TOKENS_CUT),
    "messages-nonstream": _body(stream=False),
    "messages-tools": _body(
        "What is the weather in Paris? Use the get_weather tool.",
        tools=[dict(TOOL)],
        tool_choice={"type": "tool", "name": TOOL["name"]},
    ),
    "messages-missing-max-tokens": {
        k: v for k, v in _body(stream=False).items() if k != "max_tokens"
    },
    "messages-unknown-model": {**_body(stream=False), "model": UNKNOWN_MODEL},
}
#: scenario -> its request body, without the model (added at send time).
BODIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(_BODIES)


def request_for(scenario: str, model: str) -> dict[str, Any]:
    """The scenario's body for ``model`` (an unknown-model body keeps its own)."""
    return {"model": model, **json.loads(json.dumps(BODIES[scenario]))}


def headers_for(ctx: RecordContext) -> dict[str, str]:
    """anthropic-python's headers: the version, and the key as ``x-api-key``."""
    headers = {"anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}
    if ctx.target.api_key:
        headers["x-api-key"] = ctx.target.api_key
    return headers


async def post(
    ctx: RecordContext, scenario: str, body: Any = None, *, content: bytes | None = None, **kw: Any
) -> Transcript:
    """POST /v1/messages and record the exchange."""
    raw = content if content is not None else json.dumps(body).encode()
    return await ctx.exchange(
        "POST", MESSAGES_PATH, scenario, content=raw, headers=headers_for(ctx), **kw
    )


def _single(scenario: str) -> Recorder:
    async def run(ctx: RecordContext) -> Transcript:
        return await post(ctx, scenario, request_for(scenario, ctx.target.model))

    return run


def _with_sdk(scenario: str) -> Recorder:
    """The exchange, then anthropic-python reading its recording (``client.anthropic-sdk``)."""

    async def run(ctx: RecordContext) -> Transcript:
        ours = await post(ctx, scenario, request_for(scenario, ctx.target.model))

        async def sdk(url: str, body: dict[str, Any]) -> SdkResult:
            return await run_anthropic_sdk(url, body, deadline=ctx.limits.deadline_s)

        return await with_sdk(ctx, ours, ANTHROPIC_RELATED, sdk)

    return run


async def _invalid_json(ctx: RecordContext) -> Transcript:
    broken = b'{"model": ' + json.dumps(ctx.target.model).encode() + b', "max_tokens": 8, "mes'
    return await post(ctx, "messages-invalid-json", content=broken)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "messages-stream",
        "a short streamed answer, also read by anthropic-python",
        _with_sdk("messages-stream"),
        api="messages",
    ),
    Scenario(
        "messages-max-tokens",
        f"a long streamed answer cut by max_tokens={MAX_TOKENS_CUT}",
        _single("messages-max-tokens"),
        api="messages",
    ),
    Scenario(
        "messages-nonstream",
        "the messages-stream request with stream: false",
        _single("messages-nonstream"),
        api="messages",
    ),
    Scenario(
        "messages-tools",
        "a streamed answer that must call the get_weather tool (a tool_use block), also "
        "read by anthropic-python",
        _with_sdk("messages-tools"),
        api="messages",
    ),
    Scenario(
        "messages-missing-max-tokens",
        "a request without the required max_tokens",
        _single("messages-missing-max-tokens"),
        api="messages",
    ),
    Scenario(
        "messages-unknown-model",
        f"a request for the unknown model {UNKNOWN_MODEL!r}",
        _single("messages-unknown-model"),
        api="messages",
    ),
    Scenario(
        "messages-invalid-json",
        "a body that is not valid JSON",
        _invalid_json,
        api="messages",
    ),
)

#: Scenarios whose main transcript is a Messages stream.
STREAMS = ("messages-stream", "messages-max-tokens", "messages-tools")
#: Scenarios whose request is invalid.
ERRORS = ("messages-missing-max-tokens", "messages-unknown-model", "messages-invalid-json")
