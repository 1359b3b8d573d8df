"""Preflight: is each target an OpenAI-compatible API, and which model to use.

Runs once per target at the start of the session.  Every problem becomes one
:class:`TargetError` line naming the target and what is wrong, so the run
stops before it collects a traceback per item.
"""

from __future__ import annotations

from typing import Any

import httpx

from .capture.recorder import Limits, record
from .capture.transcript import Ending, Transcript
from .scenarios import Target

__all__ = ["TargetError", "preflight"]

#: How long preflight waits for the model list; a healthy endpoint answers at once.
LIST_DEADLINE_S = 15.0
#: How many listed models to try when none is named (EXO lists every card it knows).
MAX_MODEL_PROBES = 8


class TargetError(Exception):
    """One line saying why a target cannot be tested."""


def _unreachable(url: str, t: Transcript, what: str) -> TargetError:
    reasons = {
        Ending.REFUSED: "connection refused or host not found (is the endpoint running?)",
        Ending.DEADLINE: f"no answer to {what} within the deadline",
        Ending.TLS: "TLS handshake failed",
        Ending.RESET: "the connection was reset",
        Ending.PROTOCOL: "the server does not speak HTTP/1.1 correctly",
    }
    reason = reasons.get(t.ending, t.ending_detail or str(t.ending))
    return TargetError(f"{url}: {reason}")


def _model_ids(url: str, t: Transcript) -> list[str]:
    if t.status in (401, 403):
        raise TargetError(
            f"{url}: GET /v1/models answered {t.status}: give the API key with --exo-api-key"
        )
    if t.status != 200:
        raise TargetError(f"{url}: GET /v1/models answered HTTP {t.status}, expected 200")
    listing: Any = t.json()
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        kind = t.header("content-type") or "no content type"
        raise TargetError(
            f"{url}: GET /v1/models is not an OpenAI model list ({kind}); "
            "is this the API's base URL?"
        )
    return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]


async def _answers(
    client: httpx.AsyncClient, target: Target, model: str, limits: Limits, secrets: tuple[str, ...]
) -> bool:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 1,
        "stream": False,
    }
    t = await record(
        client,
        "POST",
        target.endpoint("/v1/chat/completions"),
        scenario="preflight",
        target=target.url,
        json=body,
        limits=limits,
        secrets=secrets,
    )
    # Acceptance is enough: a broken answer body is for the completion.* rules
    # to judge, not a reason to refuse the target and judge nothing.
    return t.status == 200


async def preflight(
    client: httpx.AsyncClient, target: Target, *, timeout: float, model: str | None
) -> Target:
    """The target with its model chosen, or a TargetError."""
    secrets = (target.api_key,) if target.api_key else ()
    quick = Limits(deadline_s=min(timeout, LIST_DEADLINE_S), max_body_bytes=4 * 2**20)
    listing = await record(
        client,
        "GET",
        target.endpoint("/v1/models"),
        scenario="preflight",
        target=target.url,
        limits=quick,
        secrets=secrets,
    )
    if listing.status is None:
        raise _unreachable(target.url, listing, "GET /v1/models")
    ids = _model_ids(target.url, listing)
    if model:
        return Target(target.url, model, target.api_key, target.label)
    probe = Limits(deadline_s=timeout, max_body_bytes=4 * 2**20)
    for candidate in ids[:MAX_MODEL_PROBES]:
        if await _answers(client, target, candidate, probe, secrets):
            return Target(target.url, candidate, target.api_key, target.label)
    if not ids:
        raise TargetError(f"{target.url}: GET /v1/models lists no model; name one with --exo-model")
    raise TargetError(
        f"{target.url}: none of the first {min(len(ids), MAX_MODEL_PROBES)} listed models "
        "answered a one-token request; name a loaded model with --exo-model"
    )
