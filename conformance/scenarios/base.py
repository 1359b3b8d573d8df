"""What a scenario is: a named request (or a few), the target it goes to, and
the context that records it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..capture.recorder import Limits, record
from ..capture.transcript import Transcript

__all__ = ["SEED", "UNKNOWN_MODEL", "RecordContext", "Recorder", "Scenario", "Target", "chat_body"]

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
    """A named request (or a few) and how to record it."""

    id: str
    description: str
    record: Recorder
    #: Recorded alone after the others: its judgment depends on an idle endpoint.
    exclusive: bool = False
    #: The API the scenario speaks, which picks the view rules read it through.
    api: str = "chat"


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
