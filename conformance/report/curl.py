"""A curl command that sends a recorded request again."""

from __future__ import annotations

import shlex

from ..capture.transcript import Request

__all__ = ["curl_command"]

_SKIP = {
    "host",
    "content-length",
    "accept-encoding",
    "connection",
    "user-agent",
    "authorization",
    "x-api-key",
}


def curl_command(request: Request, *, with_key: bool) -> str:
    """The request as a shell command; the key is read from ``$EXO_API_KEY``."""
    parts = ["curl", "-sS", "-N", "-X", request.method, shlex.quote(request.url)]
    for name, value in request.headers:
        if name.lower() not in _SKIP:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if with_key:
        # Double quotes so the shell expands the variable; the key itself is never written.
        parts += ["-H", '"Authorization: Bearer $EXO_API_KEY"']
        if any(name.lower() == "x-api-key" for name, _ in request.headers):
            parts += ["-H", '"x-api-key: $EXO_API_KEY"']  # the Anthropic API's header
    if request.body:
        body = request.body.decode("utf-8", errors="replace")
        parts += ["--data-binary", shlex.quote(body)]
    return " ".join(parts)
