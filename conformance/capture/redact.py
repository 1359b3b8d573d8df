"""Keep secrets out of everything the tool records, prints or writes.

One module for the recorder (which masks what it keeps) and the reports (which
mask what they print), so a secret is masked the same way everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from .transcript import Transcript

__all__ = ["AUTH_HEADERS", "MASK", "SECRET_HEADERS", "redact", "redact_header", "scrub"]

MASK = "***"
#: Request headers whose whole value is a credential.
SECRET_HEADERS = frozenset({"x-api-key", "api-key", "cookie"})
#: Request headers of the form ``scheme credential``: the scheme stays visible.
AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def redact_header(name: str, value: str, secrets: Sequence[str]) -> str:
    """A request header's value as it may be kept: credentials become ``***``."""
    key = name.lower()
    if key in AUTH_HEADERS:
        scheme, _, credential = value.partition(" ")
        return f"{scheme} {MASK}" if credential else MASK
    if key in SECRET_HEADERS:
        return MASK
    return redact(value, secrets)


def scrub(t: Transcript, secrets: Sequence[str]) -> Transcript:
    """The transcript with every secret masked, wherever a server echoed it.

    The body keeps its length (offsets of reads and events stay true); text
    fields get ``***``.
    """
    if not secrets:
        return t
    body = t.body
    for secret in secrets:
        raw = secret.encode()
        body = body.replace(raw, b"*" * len(raw))
    return dataclasses.replace(
        t,
        headers=tuple((k, redact(v, secrets)) for k, v in t.headers),
        body=body,
        events=tuple(
            dataclasses.replace(
                e,
                data=redact(e.data, secrets),
                id=redact(e.id, secrets),
                type=redact(e.type, secrets),
            )
            for e in t.events
        ),
        comments=tuple(dataclasses.replace(c, text=redact(c.text, secrets)) for c in t.comments),
        diagnostics=tuple(
            dataclasses.replace(d, message=redact(d.message, secrets)) for d in t.diagnostics
        ),
        ending_detail=redact(t.ending_detail, secrets),
    )
