"""Keep secrets out of everything the tool prints or writes."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MASK", "redact"]

MASK = "***"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
