"""Stream versus non-stream twins: one deterministic request streamed, then sent
twice with ``stream: false`` (the second is the control for determinism)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..capture.transcript import Transcript
from .base import RecordContext, Scenario, chat_body
from .chat import MULTIBYTE_MAX_TOKENS, MULTIBYTE_PROMPT, WEATHER_TOOL

__all__ = [
    "MAX_TOKENS",
    "NONSTREAM",
    "REPEAT",
    "SCENARIO",
    "SCENARIOS",
    "TOOLS_SCENARIO",
    "WEATHER_TOOL",
]

SCENARIO = "consistency"
TOOLS_SCENARIO = "consistency-tools"
#: Names of the two non-stream exchanges kept in ``Transcript.related``.
NONSTREAM = "nonstream"
REPEAT = "nonstream-repeat"

PROMPT = MULTIBYTE_PROMPT
MAX_TOKENS = MULTIBYTE_MAX_TOKENS
TOOL_PROMPT = "What is the weather in Paris right now? Use the get_weather tool."
TOOL_MAX_TOKENS = 64


async def _twins(ctx: RecordContext, scenario: str, body: dict[str, Any]) -> Transcript:
    """The stream, then the same request non-streamed twice, one after another.

    One at a time on purpose: batching concurrent requests changes the
    arithmetic of some engines, and that is not what these rules judge.  The
    stream and the first non-stream answer are shared with the scenarios that
    ask the same (stream-usage and nonstream-basic); the repeat is sent anew.
    """
    stream = await ctx.chat(
        scenario, {**body, "stream_options": {"include_usage": True}}, share=True
    )
    single = {**body, "stream": False}
    first = await ctx.chat(scenario, single, share=True)
    repeat = await ctx.chat(scenario, single)
    return dataclasses.replace(stream, related=((NONSTREAM, first), (REPEAT, repeat)))


async def _record_consistency(ctx: RecordContext) -> Transcript:
    body = chat_body(ctx.target.model, PROMPT, max_tokens=MAX_TOKENS)
    return await _twins(ctx, SCENARIO, body)


async def _record_tools(ctx: RecordContext) -> Transcript:
    body = chat_body(
        ctx.target.model,
        TOOL_PROMPT,
        max_tokens=TOOL_MAX_TOKENS,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    return await _twins(ctx, TOOLS_SCENARIO, body)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        SCENARIO,
        f"one request (multi-byte text, max_tokens={MAX_TOKENS}) streamed with usage, "
        "then sent twice with stream: false",
        _record_consistency,
    ),
    Scenario(
        TOOLS_SCENARIO,
        "a request with a get_weather function tool, streamed, then sent twice with stream: false",
        _record_tools,
    ),
)
