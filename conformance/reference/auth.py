"""Bearer-token checking shared by the server and the proxy."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from .faults import Fault

__all__ = ["authorized"]


def authorized(request: Request, api_key: str | None, fault: Fault) -> bool:
    """Whether the request may be served: its key checked, then the fault's ``auth`` hook."""
    verdict = _key_matches(request, api_key)
    return fault.auth(verdict) if fault.auth else verdict


def _key_matches(request: Request, api_key: str | None) -> bool:
    if api_key is None:
        return True
    sent = request.headers.get("authorization", "")
    # Constant-time, so the check does not leak how much of a guess was right.
    return hmac.compare_digest(sent.encode(), f"Bearer {api_key}".encode())
