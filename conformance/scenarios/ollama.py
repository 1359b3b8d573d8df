"""Scenarios of Ollama's chat API (``POST /api/chat``, NDJSON).

Ollama serves it at the root; EXO mounts it under ``/ollama``.  The path is
the target's Ollama mount (found by the API probe) plus ``/api/chat``.  The
bodies are data (:data:`BODIES`), shaped as ollama-python sends them
(``options`` for the sampling parameters, ``stream`` always given).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..capture.transcript import Transcript
from .base import SEED, UNKNOWN_MODEL, RecordContext, Recorder, Scenario
from .chat import LONG_PROMPT, WEATHER_TOOL
from .sdks import OLLAMA_RELATED, SdkResult, run_ollama_sdk, with_sdk

__all__ = [
    "BODIES",
    "CHAT_PATH",
    "ERRORS",
    "NUM_PREDICT_CUT",
    "SCENARIOS",
    "STREAMS",
    "request_for",
]

CHAT_PATH = "/api/chat"
NUM_PREDICT_CUT = 8
NUM_PREDICT = 64
#: Asks for an answer with emoji and accents: multi-byte UTF-8 that a split can cut.
UNICODE_PROMPT = "Say hello in one short sentence, with an emoji and some unicode letters."


def _body(prompt: str, *, stream: bool = True, **options: Any) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
        "options": {"temperature": 0, "seed": SEED, "num_predict": NUM_PREDICT, **options},
    }


_BODIES: dict[str, dict[str, Any]] = {
    "ollama-stream": _body(UNICODE_PROMPT),
    "ollama-num-predict": _body(LONG_PROMPT, num_predict=NUM_PREDICT_CUT),
    "ollama-nonstream": _body(UNICODE_PROMPT, stream=False),
    "ollama-tools": {
        **_body("What is the weather in Paris? Use the get_weather tool."),
        "tools": [dict(WEATHER_TOOL)],
    },
    "ollama-unknown-model": {**_body(UNICODE_PROMPT, stream=False), "model": UNKNOWN_MODEL},
}
#: scenario -> its request body, without the model (added at send time).
BODIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(_BODIES)


def request_for(scenario: str, model: str) -> dict[str, Any]:
    """The scenario's body for ``model`` (an unknown-model body keeps its own)."""
    return {"model": model, **json.loads(json.dumps(BODIES[scenario]))}


def path_for(ctx: RecordContext) -> str:
    return ctx.target.mount("ollama") + CHAT_PATH


async def post(
    ctx: RecordContext, scenario: str, body: Any = None, *, content: bytes | None = None
) -> Transcript:
    """POST <mount>/api/chat and record the exchange."""
    raw = content if content is not None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    return await ctx.exchange("POST", path_for(ctx), scenario, content=raw, headers=headers)


def _single(scenario: str) -> Recorder:
    async def run(ctx: RecordContext) -> Transcript:
        return await post(ctx, scenario, request_for(scenario, ctx.target.model))

    return run


def _with_sdk(scenario: str) -> Recorder:
    """The exchange, then ollama-python reading its recording (``client.ollama-sdk``)."""

    async def run(ctx: RecordContext) -> Transcript:
        ours = await post(ctx, scenario, request_for(scenario, ctx.target.model))

        async def sdk(url: str, body: dict[str, Any]) -> SdkResult:
            return await run_ollama_sdk(url, body, deadline=ctx.limits.deadline_s)

        return await with_sdk(ctx, ours, OLLAMA_RELATED, sdk)

    return run


async def _invalid_body(ctx: RecordContext) -> Transcript:
    broken = b'{"model": ' + json.dumps(ctx.target.model).encode() + b', "messages": [{"ro'
    return await post(ctx, "ollama-invalid-body", content=broken)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "ollama-stream",
        "a short streamed answer with multi-byte characters, also read by ollama-python",
        _with_sdk("ollama-stream"),
        api="ollama",
    ),
    Scenario(
        "ollama-num-predict",
        f"a long streamed answer cut by options.num_predict={NUM_PREDICT_CUT}",
        _single("ollama-num-predict"),
        api="ollama",
    ),
    Scenario(
        "ollama-nonstream",
        "the ollama-stream request with stream: false",
        _single("ollama-nonstream"),
        api="ollama",
    ),
    Scenario(
        "ollama-tools",
        "a streamed answer asked to call the get_weather tool, also read by ollama-python",
        _with_sdk("ollama-tools"),
        api="ollama",
    ),
    Scenario("ollama-invalid-body", "a body that is not valid JSON", _invalid_body, api="ollama"),
    Scenario(
        "ollama-unknown-model",
        f"a non-stream request for the unknown model {UNKNOWN_MODEL!r}",
        _single("ollama-unknown-model"),
        api="ollama",
    ),
)

#: Scenarios whose main transcript is an Ollama NDJSON stream.
STREAMS = ("ollama-stream", "ollama-num-predict", "ollama-tools")
#: Scenarios whose request is invalid.
ERRORS = ("ollama-invalid-body", "ollama-unknown-model")
