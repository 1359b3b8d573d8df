"""Small helpers that several rule groups share."""

from __future__ import annotations

from ..transcript import Transcript
from .registry import Verdict, skipped

__all__ = ["describe_end", "no_stream", "preview"]


def no_stream(t: Transcript) -> Verdict | None:
    """A skip when there is no stream to judge; None when there is one.

    A missing or non-200 answer is judged once, by ``headers.status``; the
    rules that read a stream's content skip with that reason instead of
    repeating the failure.
    """
    if t.status is None:
        return skipped(f"no response to judge ({t.ending_detail or t.ending}); see headers.status")
    if t.status != 200:
        return skipped(f"no stream to judge: HTTP {t.status}; see headers.status")
    return None


def preview(text: str, limit: int = 80) -> str:
    """A short, single-line rendering of server text for a message."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe_end(t: Transcript) -> str:
    """How the body ended, in words, for Actual: lines."""
    detail = f": {t.ending_detail}" if t.ending_detail else ""
    size = "" if "bytes" in detail else f", after {len(t.body)} bytes"
    return f"the exchange ended {t.ending}{detail}{size}"
