"""Named requests: what the suite sends, and how each exchange is recorded.

Most scenarios are one request.  A few need several exchanges (a stream and
its non-stream twin, a dropped stream and the request after it, concurrent
streams); they record a main transcript and keep the others in
``Transcript.related`` under a name, so rules stay pure functions of one
transcript.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .recorder import Limits, record
from .transcript import Transcript

__all__ = [
    "SCENARIOS",
    "STREAMS",
    "RecordContext",
    "Scenario",
    "Target",
    "chat_body",
    "record_all",
    "register",
]

#: A model ID that no endpoint should know.
UNKNOWN_MODEL = "exo-conformance/no-such-model"
#: Seed sent with every generation request, so answers can be compared.
SEED = 7


@dataclass(frozen=True)
class Target:
    """One endpoint under test.  The key never appears in ``repr``."""

    url: str
    model: str = ""
    api_key: str | None = field(default=None, repr=False)
    label: str = ""

    def endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + path


@dataclass(frozen=True)
class RecordContext:
    client: httpx.AsyncClient
    target: Target
    limits: Limits
    concurrency: int = 8

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.target.api_key,) if self.target.api_key else ()

    async def chat(
        self,
        scenario: str,
        body: Any = None,
        *,
        content: bytes | None = None,
        drop_after_events: int | None = None,
    ) -> Transcript:
        """POST /v1/chat/completions and record the exchange."""
        return await record(
            self.client,
            "POST",
            self.target.endpoint("/v1/chat/completions"),
            scenario=scenario,
            target=self.target.url,
            json=body if content is None else None,
            content=content,
            headers={"content-type": "application/json"} if content is not None else None,
            limits=self.limits,
            drop_after_events=drop_after_events,
            secrets=self.secrets,
        )

    async def get(self, scenario: str, path: str) -> Transcript:
        return await record(
            self.client,
            "GET",
            self.target.endpoint(path),
            scenario=scenario,
            target=self.target.url,
            limits=self.limits,
            secrets=self.secrets,
        )


Recorder = Callable[[RecordContext], Awaitable[Transcript]]


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    record: Recorder
    #: Recorded alone after the others: its judgment depends on an idle endpoint.
    exclusive: bool = False


def chat_body(
    model: str,
    prompt: str = "Say hello in one short sentence.",
    *,
    stream: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A deterministic chat request: temperature 0 and a fixed seed."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
        "temperature": 0,
        "seed": SEED,
    }
    body.update(extra)
    return body


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


def _catalog(items: Iterable[Scenario]) -> dict[str, Scenario]:
    out: dict[str, Scenario] = {}
    for item in items:
        if item.id in out:
            raise ValueError(f"duplicate scenario {item.id!r}")
        out[item.id] = item
    return out


SCENARIOS: dict[str, Scenario] = _catalog(
    [
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
    ]
)

#: Scenarios whose main transcript is a chat stream.
STREAMS = ("stream-basic", "stream-usage", "stream-max-tokens", "stream-long")


def register(scenario: Scenario) -> Scenario:
    """Add a scenario to the catalog (for scenario groups defined elsewhere)."""
    if scenario.id in SCENARIOS:
        raise ValueError(f"duplicate scenario {scenario.id!r}")
    SCENARIOS[scenario.id] = scenario
    return scenario


async def record_all(ctx: RecordContext, ids: Iterable[str]) -> dict[str, Transcript]:
    """Record the named scenarios: independent ones at once, exclusive ones after."""
    wanted = [SCENARIOS[i] for i in dict.fromkeys(ids)]
    shared = [s for s in wanted if not s.exclusive]
    results = await asyncio.gather(*(s.record(ctx) for s in shared))
    out = {s.id: t for s, t in zip(shared, results, strict=True)}
    for scenario in (s for s in wanted if s.exclusive):
        out[scenario.id] = await scenario.record(ctx)
    return out
