"""Scenarios of several exchanges: authentication, a dropped stream, concurrent streams.

Each records a main transcript and keeps the other exchanges in
``Transcript.related`` under the names below, so the rules that judge them stay
pure functions of one transcript.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from typing import Any

from ..capture.recorder import Limits, make_client
from ..capture.transcript import Transcript
from .base import RecordContext, Scenario, chat_body, not_sent
from .chat import LONG_MAX_TOKENS, LONG_PROMPT
from .nonce import new_nonces, nonce_prompt

__all__ = [
    "AUTH",
    "CONCURRENCY",
    "DISCONNECT",
    "DROP_AFTER_EVENTS",
    "GENERATIONS_PATH",
    "ISOLATION_MAX_TOKENS",
    "POLL_INTERVAL_S",
    "POLL_WINDOW_S",
    "SCENARIOS",
    "WRONG_KEY_PREFIX",
    "generation_counter",
    "generation_stopped",
    "isolation_prompt",
    "read_counter",
    "watch_counter",
    "wrong_key",
]

AUTH = "auth"
DISCONNECT = "disconnect"
CONCURRENCY = "concurrency"

#: A wrong key starts with this, so a log that shows one is plainly not a real key.
WRONG_KEY_PREFIX = "exo-conformance-wrong-"
#: Where an endpoint may expose its generation counters (the reference server does).
GENERATIONS_PATH = "/v1/conformance/generations"
#: Events read from the stream before the harness drops it.
DROP_AFTER_EVENTS = 3
#: How long, at most, to watch the counters for the dropped generation to stop.
POLL_WINDOW_S = 2.0
#: The pause between two readings of the counters (each reading is a request).
POLL_INTERVAL_S = 0.25
#: A reading of the counters is one quick GET; it never waits the full deadline.
COUNTER_DEADLINE_S = 5.0
#: The answer asked of the request after the drop: being served is what counts.
NEXT_MAX_TOKENS = 8
#: Why the auth scenario sends nothing without a key.
OPEN_ENDPOINT_NOT_SENT = (
    "not sent: no API key is configured (--exo-api-key), so there is nothing to refuse"
)
#: Length limit of each answer in the isolation test: room for the code repeated
#: REPEATS times (a code is 3 to 6 tokens to a real tokenizer).
ISOLATION_MAX_TOKENS = 64


# -- authentication -----------------------------------------------------------------


def wrong_key(real: str | None) -> str:
    """A fresh key that is never the real one."""
    key = WRONG_KEY_PREFIX + secrets.token_hex(12)
    return key if key != real else key + "0"


async def _chat_as(ctx: RecordContext, scenario: str, body: Any, api_key: str | None) -> Transcript:
    """One chat exchange from a separate client that sends ``api_key`` (or none)."""
    async with make_client(api_key=api_key, limits=ctx.limits) as client:
        return await ctx.chat(scenario, body, client=client)


async def _auth(ctx: RecordContext) -> Transcript:
    """Main: a request without a key.  related["wrong-key"]: one with a wrong key.

    Without a configured key there is nothing to protect and no wrong key to
    send: nothing is sent, and the rule skips, saying so.
    """
    body = chat_body(ctx.target.model, max_tokens=1)
    if not ctx.target.api_key:
        return not_sent(ctx, AUTH, body, OPEN_ENDPOINT_NOT_SENT)
    missing = await _chat_as(ctx, AUTH, body, None)
    wrong = await _chat_as(ctx, "auth-wrong-key", body, wrong_key(ctx.target.api_key))
    return dataclasses.replace(missing, related=(("wrong-key", wrong),))


# -- a dropped stream -----------------------------------------------------------------


def generation_counter(t: Transcript) -> dict[str, int] | None:
    """The counters of a GET /v1/conformance/generations reading, or None."""
    if t.status != 200:
        return None
    value = t.json()
    keys = ("active", "started", "finished", "cancelled")
    if not isinstance(value, dict) or not all(isinstance(value.get(k), int) for k in keys):
        return None
    return {k: value[k] for k in keys}


async def read_counter(ctx: RecordContext, scenario: str) -> Transcript:
    quick = Limits(
        deadline_s=min(ctx.limits.deadline_s, COUNTER_DEADLINE_S), max_body_bytes=64 * 1024
    )
    return await ctx.get(scenario, GENERATIONS_PATH, limits=quick)


def generation_stopped(before: dict[str, int], now: dict[str, int] | None) -> bool:
    """Whether the counters show a cancelled generation and none left over."""
    return (
        now is not None
        and now["cancelled"] > before["cancelled"]
        and (now["active"] <= before["active"])
    )


async def watch_counter(
    ctx: RecordContext, before: dict[str, int], scenario: str = f"{DISCONNECT}-generations"
) -> list[tuple[str, Transcript]]:
    """Readings taken every POLL_INTERVAL_S until the generation stops (or the window ends).

    The first comes one interval after the drop: a server that stops at once
    shows it in that one reading.
    """
    readings: list[tuple[str, Transcript]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + POLL_WINDOW_S
    while True:
        await asyncio.sleep(POLL_INTERVAL_S)
        reading = await read_counter(ctx, scenario)
        readings.append((f"generations-{len(readings) + 1}", reading))
        now = generation_counter(reading)
        if now is None or generation_stopped(before, now) or loop.time() + POLL_INTERVAL_S > end:
            return readings


async def _disconnect(ctx: RecordContext) -> Transcript:
    """Main: a long stream dropped after a few events.

    related: "generations-0" (the counters before, when exposed), then
    "generations-1".. (readings after the drop), then "next" (the request
    that must be served).
    """
    before = await read_counter(ctx, f"{DISCONNECT}-generations")
    counter = generation_counter(before)
    body = chat_body(ctx.target.model, LONG_PROMPT, max_tokens=LONG_MAX_TOKENS)
    dropped = await ctx.chat(DISCONNECT, body, drop_after_events=DROP_AFTER_EVENTS)
    related: list[tuple[str, Transcript]] = [("generations-0", before)]
    if counter is not None:
        related += await watch_counter(ctx, counter)
    following = await ctx.chat(
        f"{DISCONNECT}-next", chat_body(ctx.target.model, max_tokens=NEXT_MAX_TOKENS)
    )
    related.append(("next", following))
    return dataclasses.replace(dropped, related=tuple(related))


# -- concurrent streams ------------------------------------------------------------------


def isolation_prompt(nonce: str) -> str:
    """The prompt of one concurrent stream: its own code to repeat (see nonce.py)."""
    return nonce_prompt(nonce)


async def _concurrency(ctx: RecordContext) -> Transcript:
    """Main: stream 0.  related: "stream-<i>" (concurrent), "alone-0", "alone-0-again".

    Every stream asks for a code of its own, so a stream that carries another's
    code proves a mix-up without any other request.  Prompt 0 is then asked
    alone, twice: whether a broken stream breaks alone too (then it is the
    single-stream rules' to report), and whether the endpoint is deterministic
    enough to compare wording.
    """
    count = max(2, ctx.concurrency)
    bodies = [
        chat_body(ctx.target.model, isolation_prompt(code), max_tokens=ISOLATION_MAX_TOKENS)
        for code in new_nonces(count)
    ]
    streams = await asyncio.gather(
        *(ctx.chat(f"{CONCURRENCY}-stream-{i}", body) for i, body in enumerate(bodies))
    )
    related = [(f"stream-{i}", t) for i, t in enumerate(streams)]
    related.append(("alone-0", await ctx.chat(f"{CONCURRENCY}-alone-0", bodies[0])))
    if any(t.status is not None for t in streams):
        # (When nothing answered at all, one prompt alone tells whether
        # concurrency is to blame, without waiting out a second deadline.)
        again = await ctx.chat(f"{CONCURRENCY}-alone-0-again", bodies[0])
        related.append(("alone-0-again", again))
    return dataclasses.replace(streams[0], scenario=CONCURRENCY, related=tuple(related))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        AUTH,
        "a short stream request without the API key, then one with a wrong key "
        "(only the first when no key is configured)",
        _auth,
    ),
    Scenario(
        DISCONNECT,
        f"a long stream dropped after {DROP_AFTER_EVENTS} events, then the next request",
        _disconnect,
        exclusive=True,
    ),
    Scenario(
        CONCURRENCY,
        "concurrent streams, each asking for its own code, then prompt 0 alone twice",
        _concurrency,
        exclusive=True,
    ),
)
