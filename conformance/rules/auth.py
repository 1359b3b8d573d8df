"""Authentication: a protected endpoint refuses requests without the right key."""

from __future__ import annotations

from ..scenarios.sessions import AUTH
from ..view import ChatView
from . import specs
from .common import describe_end, preview
from .error import carries_error
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["OPEN_ENDPOINT", "RFC9110_401"]

RFC9110_401 = specs.RFC9110_401  # kept for importers; the link lives in specs
#: The one reason given, once per target, when no key was configured.
OPEN_ENDPOINT = "the endpoint is open: no --exo-api-key given"
REFUSALS = (401, 403)


def _refusal_problem(t: ChatView) -> str | None:
    """Why ``t`` is not a proper refusal, or None when it is one."""
    if t.status is None:
        return f"no response: {describe_end(t)}"
    if 200 <= t.status < 300 and carries_error(t):
        return f"HTTP {t.status} with an error body: the refusal was sent with a success status"
    if 200 <= t.status < 300:
        return f"HTTP {t.status}: served without valid credentials"
    if t.status not in REFUSALS:
        return f"HTTP {t.status}, not 401 or 403"
    if not isinstance(t.json(), dict):
        shown = preview(t.body.decode("utf-8", "replace")) if t.body else "an empty body"
        return f"HTTP {t.status} with {shown!r}: not a JSON error body"
    return None


@rule(
    "auth.required",
    level=Level.SHOULD,
    requirement="When the endpoint takes an API key, a request without it and a request with a "
    "wrong key each get 401 or 403 and a JSON error body.",
    spec=specs.RFC9110_401,
    quote="RFC 9110 15.5.2: the 401 (Unauthorized) status code indicates that the request has "
    "not been applied because it lacks valid authentication credentials for the target "
    "resource.",
    hint="Check `Authorization: Bearer <key>` (in constant time, e.g. hmac.compare_digest) "
    "before reading the body or starting a generation, on every route, and answer 401 with "
    '{"error": {"message": ..., "type": "invalid_request_error", "param": null, '
    '"code": "invalid_api_key"}}. A proxy must check before it forwards. An endpoint meant '
    "to be open (EXO reads no key) is tested without --exo-api-key.",
    scenarios=(AUTH,),
)
def required(t: ChatView) -> Verdict:
    wrong = t.other("wrong-key")
    if wrong is None:
        return skipped(OPEN_ENDPOINT)
    expected = "HTTP 401 or 403 with a JSON error body"
    for source, exchange, what in (
        ("", t, "without a key"),
        ("wrong-key", wrong, "with a wrong key"),
    ):
        problem = _refusal_problem(exchange)
        if problem is not None:
            at = 0 if exchange.body else None
            return failed(expected, f"the request {what}: {problem}", at=at, source=source)
    return passed(
        f"refused without a key (HTTP {t.status}) and with a wrong key (HTTP {wrong.status})"
    )
