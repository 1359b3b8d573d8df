"""Scenarios of one chat exchange each: streams, their non-stream twins, errors, models."""

from __future__ import annotations

import json
from typing import Any

from ..capture.transcript import Transcript
from .base import UNKNOWN_MODEL, RecordContext, Recorder, Scenario, chat_body

__all__ = [
    "LONG_MAX_TOKENS",
    "LONG_PROMPT",
    "SCENARIOS",
    "SHORT_MAX_TOKENS",
    "STREAMS",
]

LONG_PROMPT = "Write a long story about a lighthouse keeper, in plain words."
LONG_MAX_TOKENS = 80
SHORT_MAX_TOKENS = 5


def _single(scenario_id: str, **body: Any) -> Recorder:
    async def run(ctx: RecordContext) -> Transcript:
        return await ctx.chat(scenario_id, chat_body(ctx.target.model, **body))

    return run


async def _models(ctx: RecordContext) -> Transcript:
    return await ctx.get("models", "/v1/models")


async def _invalid_json(ctx: RecordContext) -> Transcript:
    broken = b'{"model": ' + json.dumps(ctx.target.model).encode() + b', "messages": [{"role"'
    return await ctx.chat("error-invalid-json", content=broken)


async def _missing_messages(ctx: RecordContext) -> Transcript:
    return await ctx.chat("error-missing-messages", {"model": ctx.target.model, "stream": True})


async def _unknown_model(ctx: RecordContext) -> Transcript:
    body = chat_body(UNKNOWN_MODEL)
    return await ctx.chat("error-unknown-model", body)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("stream-basic", "a short streamed answer", _single("stream-basic")),
    Scenario(
        "stream-usage",
        "a streamed answer with stream_options.include_usage",
        _single("stream-usage", stream_options={"include_usage": True}),
    ),
    Scenario(
        "stream-max-tokens",
        f"a long answer cut by max_tokens={SHORT_MAX_TOKENS}, with usage",
        _single(
            "stream-max-tokens",
            prompt=LONG_PROMPT,
            max_tokens=SHORT_MAX_TOKENS,
            stream_options={"include_usage": True},
        ),
    ),
    Scenario(
        "stream-long",
        f"a long streamed answer ({LONG_MAX_TOKENS} tokens), to judge incremental delivery",
        _single("stream-long", prompt=LONG_PROMPT, max_tokens=LONG_MAX_TOKENS),
    ),
    Scenario(
        "nonstream-basic",
        "the stream-basic request with stream: false",
        _single("nonstream-basic", stream=False),
    ),
    Scenario(
        "nonstream-max-tokens",
        f"the stream-max-tokens request with stream: false (max_tokens={SHORT_MAX_TOKENS})",
        _single(
            "nonstream-max-tokens",
            prompt=LONG_PROMPT,
            max_tokens=SHORT_MAX_TOKENS,
            stream=False,
        ),
    ),
    Scenario("models", "GET /v1/models", _models),
    Scenario("error-invalid-json", "a body that is not valid JSON", _invalid_json),
    Scenario(
        "error-missing-messages",
        "a stream request without messages",
        _missing_messages,
    ),
    Scenario(
        "error-unknown-model",
        f"a stream request for the unknown model {UNKNOWN_MODEL!r}",
        _unknown_model,
    ),
)

#: Scenarios whose main transcript is a chat stream.
STREAMS = ("stream-basic", "stream-usage", "stream-max-tokens", "stream-long")
