"""Preflight: is each target an OpenAI-compatible API, and which model to use.

Runs once per target at the start of the session.  Every problem becomes one
:class:`TargetError` line naming the target and what is wrong, so the run
stops before it collects a traceback per item.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from .capture.recorder import Limits, record
from .capture.transcript import Ending, Transcript
from .scenarios import Target

__all__ = ["TargetError", "preflight"]

# Preflight has deadlines of its own, not --exo-timeout's (120 s by default,
# sized for a long generation): it asks only cheap questions, and a user who
# starts a run against a target that stalls, drips or redirects should hear so,
# in one line, within seconds.  Each is one total deadline on one exchange
# (connect, headers and every body byte), and --exo-timeout still caps it.

#: ``GET /v1/models``: a static list that a healthy endpoint answers at once,
#: even over a slow link; a stall, a drip or a body that never ends is reported
#: after this many seconds.
LIST_DEADLINE_S = 5.0
#: Each one-token probe of a listed model (``max_tokens: 1``, not streamed): a
#: loaded model answers well within it; a card that is not loaded may stall,
#: and each probe gets its own deadline, so one such card cannot eat the others'.
PROBE_DEADLINE_S = 10.0
#: How many listed models may fail their probe slowly (no answer, a 5xx) when
#: none is named; a model refused at once with a 4xx does not count, because
#: EXO lists every card it knows, loaded or not (123 at a time), and answers 404
#: for each that is not loaded.  All probes share one budget of
#: MAX_MODEL_PROBES * PROBE_DEADLINE_S, so preflight still ends within
#: LIST_DEADLINE_S + MAX_MODEL_PROBES * PROBE_DEADLINE_S (85 s) whatever happens.
MAX_MODEL_PROBES = 8
#: Listed models probed at most, refused or not.
MAX_LISTED_PROBES = 512
#: Statuses of a GET /v1/models that the endpoint does not serve: with --exo-model
#: named, the run goes on and models.schema reports it.
NO_MODEL_LIST = frozenset({404, 405, 501})
#: Bodies preflight reads: a model list, a one-token answer.
PREFLIGHT_MAX_BODY = 4 * 2**20


class TargetError(Exception):
    """One line saying why a target cannot be tested."""


def _unreachable(url: str, t: Transcript, what: str, deadline_s: float) -> TargetError:
    reasons = {
        Ending.REFUSED: "connection refused or host not found (is the endpoint running?)",
        Ending.DEADLINE: f"no answer to {what} within {deadline_s:g} s (preflight deadline)",
        Ending.TLS: "TLS handshake failed",
        Ending.RESET: "the connection was reset",
        Ending.PROTOCOL: "the server does not speak HTTP/1.1 correctly",
    }
    reason = reasons.get(t.ending, t.ending_detail or str(t.ending))
    return TargetError(f"{url}: {reason}")


def _unfinished(url: str, t: Transcript, deadline_s: float) -> TargetError | None:
    """A model list whose body did not arrive whole, or None."""
    if t.ending is Ending.COMPLETE:
        return None
    if t.ending is Ending.DEADLINE:
        got = f"{len(t.body)} body bytes" if t.body else "no body byte"
        why = f"{got} within {deadline_s:g} s (preflight deadline)"
    else:
        why = t.ending_detail or str(t.ending)
    return TargetError(
        f"{url}: GET /v1/models answered HTTP {t.status} but its body did not arrive whole: {why}"
    )


def _model_ids(url: str, t: Transcript) -> list[str]:
    if t.status in (401, 403):
        raise TargetError(
            f"{url}: GET /v1/models answered {t.status}: give the API key with --exo-api-key"
        )
    if t.status is not None and 300 <= t.status < 400:
        where = t.header("location") or "no Location header"
        raise TargetError(
            f"{url}: GET /v1/models answered HTTP {t.status} (redirect to {where}), expected "
            "200; redirects are not followed: give the URL of the API itself"
        )
    if t.status != 200:
        raise TargetError(
            f"{url}: GET /v1/models answered HTTP {t.status}, expected 200; name the model "
            "with --exo-model to test the other endpoints (models.schema judges the list)"
        )
    listing: Any = t.json()
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        kind = t.header("content-type") or "no content type"
        raise TargetError(
            f"{url}: GET /v1/models is not an OpenAI model list ({kind}); "
            "is this the API's base URL?"
        )
    return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]


async def _probe(
    client: httpx.AsyncClient, target: Target, model: str, limits: Limits, secrets: tuple[str, ...]
) -> Transcript:
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
    return t


def _refused(t: Transcript) -> bool:
    """Whether a probe was turned down at once: a 4xx whose body arrived whole."""
    return t.status is not None and 400 <= t.status < 500 and t.ending is Ending.COMPLETE


async def _first_answering(
    client: httpx.AsyncClient, target: Target, ids: list[str], probe: Limits
) -> tuple[str | None, int]:
    """The first listed model that answers a one-token request, and how many were tried."""
    secrets = (target.api_key,) if target.api_key else ()
    budget_end = time.monotonic() + MAX_MODEL_PROBES * probe.deadline_s
    slow = tried = 0
    for candidate in ids[:MAX_LISTED_PROBES]:
        if slow >= MAX_MODEL_PROBES or time.monotonic() >= budget_end:
            break
        t = await _probe(client, target, candidate, probe, secrets)
        tried += 1
        # Acceptance is enough: a broken answer body is for the completion.* rules
        # to judge, not a reason to refuse the target and judge nothing.
        if t.status == 200:
            return candidate, tried
        if not _refused(t):
            slow += 1
    return None, tried


async def preflight(
    client: httpx.AsyncClient,
    target: Target,
    *,
    timeout: float,
    model: str | None,
    seen: list[Transcript] | None = None,
) -> Target:
    """The target with its model chosen, or a TargetError.

    With ``model`` named, no model is probed, but the target must still answer
    ``GET /v1/models`` with a model list in time.  The model list is appended
    to ``seen``, so the models scenario need not ask for it again.
    """
    secrets = (target.api_key,) if target.api_key else ()
    list_s = min(timeout, LIST_DEADLINE_S)
    quick = Limits(deadline_s=list_s, max_body_bytes=PREFLIGHT_MAX_BODY)
    listing = await record(
        client,
        "GET",
        target.endpoint("/v1/models"),
        scenario="preflight",
        target=target.url,
        limits=quick,
        secrets=secrets,
    )
    if seen is not None:
        seen.append(listing)
    if listing.status is None:
        raise _unreachable(target.url, listing, "GET /v1/models", list_s)
    if listing.status == 200:
        error = _unfinished(target.url, listing, list_s)
        if error is not None:
            raise error
    if model and listing.status in NO_MODEL_LIST:
        # The endpoint has no model list but may serve the rest: with the model
        # named, that is the models.* rules' failure to report, not a reason to
        # test nothing.
        return Target(target.url, model, target.api_key, target.label)
    ids = _model_ids(target.url, listing)
    if model:
        return Target(target.url, model, target.api_key, target.label)
    if not ids:
        raise TargetError(f"{target.url}: GET /v1/models lists no model; name one with --exo-model")
    probe = Limits(deadline_s=min(timeout, PROBE_DEADLINE_S), max_body_bytes=PREFLIGHT_MAX_BODY)
    chosen, tried = await _first_answering(client, target, ids, probe)
    if chosen is not None:
        return Target(target.url, chosen, target.api_key, target.label)
    raise TargetError(
        f"{target.url}: none of the first {tried} listed models "
        f"answered a one-token request within {probe.deadline_s:g} s each; "
        "name a loaded model with --exo-model"
    )
