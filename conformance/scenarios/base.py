"""What a scenario is: a named request (or a few), the target it goes to, and
the context that records it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..capture.recorder import Limits, record
from ..capture.transcript import Ending, Request, Transcript

__all__ = [
    "SEED",
    "UNKNOWN_MODEL",
    "RecordContext",
    "Recorder",
    "Scenario",
    "Target",
    "chat_body",
    "not_sent",
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
    #: the APIs the target is tested on (``--exo-api``), in report order
    apis: tuple[str, ...] = ("chat",)
    #: each API asked for but not tested, and why (not served: the probe's answer)
    skipped_apis: tuple[tuple[str, str], ...] = ()
    #: path prefixes an API was found under, when not the root
    mounts: tuple[tuple[str, str], ...] = ()

    def endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def mount(self, api: str) -> str:
        """The path prefix the API is served under ("" for the root)."""
        return dict(self.mounts).get(api, "")


@dataclass(frozen=True)
class RecordContext:
    client: httpx.AsyncClient
    target: Target
    limits: Limits
    concurrency: int = 2
    silence: Silence = field(default_factory=lambda: Silence(), compare=False)
    #: With --exo-upstream: the proxy's upstream, which proxy scenarios read directly.
    upstream: Target | None = None
    #: exchanges already made this round that scenarios may share (``share=True``)
    shared: dict[str, asyncio.Future[Transcript]] = field(default_factory=dict, compare=False)
    #: the target's GET /v1/models answer from preflight, which the models
    #: scenario reads instead of asking again (None: ask)
    listing: Transcript | None = field(default=None, compare=False)

    def fresh_round(self) -> RecordContext:
        """The context for another round of recordings: nothing shared with this one."""
        return dataclasses.replace(self, shared={})

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.target.api_key,) if self.target.api_key else ()

    async def exchange(
        self,
        method: str,
        path: str,
        scenario: str,
        *,
        client: httpx.AsyncClient | None = None,
        limits: Limits | None = None,
        **kw: Any,
    ) -> Transcript:
        """Record one exchange with the target, unless it has stopped answering.

        Exchanges go one at a time, so a target that hangs would cost a full
        deadline per exchange; after :data:`SILENT_STRIKES` deadlines in a row
        the rest are not sent, and say so in their ending.
        """
        url = self.target.endpoint(path)
        if (detail := self.silence.gave_up()) is not None:
            return _not_sent(method, url, scenario, self.target.url, detail, kw.get("json"))
        t = await record(
            client or self.client,
            method,
            url,
            scenario=scenario,
            target=self.target.url,
            limits=limits or self.limits,
            secrets=self.secrets,
            **kw,
        )
        self.silence.saw(t)
        return t

    async def chat(
        self,
        scenario: str,
        body: Any = None,
        *,
        content: bytes | None = None,
        drop_after_events: int | None = None,
        client: httpx.AsyncClient | None = None,
        share: bool = False,
    ) -> Transcript:
        """POST /v1/chat/completions and record the exchange.

        With ``share``, a request another scenario of this round sent the same
        way (same body) is not sent again: both read the one exchange, so a run
        costs the endpoint one request per distinct question.
        """
        if share and content is None and client is None and drop_after_events is None:
            key = json.dumps(["POST", "/v1/chat/completions", body], sort_keys=True)
            found = self.shared.get(key)
            if found is None:
                found = self.shared[key] = asyncio.get_running_loop().create_future()
                try:
                    found.set_result(await self.chat(scenario, body))
                except BaseException as exc:
                    del self.shared[key]
                    found.set_exception(exc)
                    found.exception()  # retrieved: the caller gets it raised below
                    raise
            t = await asyncio.shield(found)
            return dataclasses.replace(t, scenario=scenario)
        return await self.exchange(
            "POST",
            "/v1/chat/completions",
            scenario,
            client=client,
            json=body if content is None else None,
            content=content,
            headers={"content-type": "application/json"} if content is not None else None,
            drop_after_events=drop_after_events,
        )

    async def get(self, scenario: str, path: str, *, limits: Limits | None = None) -> Transcript:
        return await self.exchange("GET", path, scenario, limits=limits)


#: Deadlines in a row after which a target's remaining exchanges are not sent.
SILENT_STRIKES = 2


@dataclass
class Silence:
    """Counts a target's exchanges in a row that ran out their deadline."""

    strikes: int = 0
    last: str = ""

    def saw(self, t: Transcript) -> None:
        if t.ending is Ending.DEADLINE:
            self.strikes += 1
            self.last = t.ending_detail
        else:
            self.strikes = 0

    def gave_up(self) -> str | None:
        if self.strikes < SILENT_STRIKES:
            return None
        return (
            f"not sent: the target's last {self.strikes} exchanges ran out their deadline "
            f"({self.last})"
        )


def not_sent(ctx: RecordContext, scenario: str, body: Any, detail: str) -> Transcript:
    """A chat request the scenario chose not to send, and why (its rules skip, saying so)."""
    url = ctx.target.endpoint("/v1/chat/completions")
    return _not_sent("POST", url, scenario, ctx.target.url, detail, body)


def _not_sent(
    method: str, url: str, scenario: str, target: str, detail: str, body: Any
) -> Transcript:
    sent = json.dumps(body).encode() if body is not None else b""
    return Transcript(
        scenario=scenario,
        target=target,
        request=Request(method, url, (), sent),
        ending=Ending.NOT_SENT,
        ending_detail=detail,
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
