"""Small helpers that several rule groups share."""

from __future__ import annotations

from ..capture.transcript import Ending
from ..view import ChatView, View
from .registry import Verdict, failed, passed, skipped

__all__ = [
    "CUT_BY_HARNESS",
    "content_type_is",
    "describe_end",
    "media_type",
    "no_answer_skip",
    "no_stream",
    "preview",
    "status_is_200",
]

#: Endings where the harness stopped reading: the server never ended the stream.
CUT_BY_HARNESS = (Ending.DEADLINE, Ending.SIZE_CAP, Ending.EVENT_CAP, Ending.DROPPED)


def no_stream(t: ChatView) -> Verdict | None:
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


def describe_end(t: ChatView) -> str:
    """How the body ended, in words, for Actual: lines."""
    detail = f": {t.ending_detail}" if t.ending_detail else ""
    size = "" if "bytes" in detail else f", after {len(t.body)} bytes"
    return f"the exchange ended {t.ending}{detail}{size}"


def media_type(value: str | None) -> str:
    """The media type of a Content-Type value, without parameters, lower-cased."""
    return (value or "").split(";", 1)[0].strip().lower()


def content_type_is(t: View, expected: str) -> Verdict:
    """Exactly one Content-Type header, of media type ``expected`` (parameters allowed)."""
    values = t.header_values("content-type")
    if len(values) != 1:
        return failed(
            f"one Content-Type: {expected} header",
            f"{len(values)} Content-Type headers: {values}",
        )
    if media_type(values[0]) != expected:
        return failed(f"Content-Type: {expected}", f"Content-Type: {values[0]}")
    return passed()


def status_is_200(t: View) -> Verdict:
    """HTTP 200, or what came instead (no response, or the status and its body)."""
    if t.status is None:
        return failed("HTTP 200", f"no response: the exchange ended {t.ending} {t.ending_detail}")
    if t.status != 200:
        body = preview(t.body.decode("utf-8", "replace")) or "an empty body"
        return failed("HTTP 200", f"HTTP {t.status} with {body}", at=0)
    return passed()


def no_answer_skip(t: View, status_rule: str) -> Verdict | None:
    """A skip when there is no 200 answer to judge (``status_rule`` judges that)."""
    if t.status is None:
        return skipped(f"no response to judge ({t.ending_detail or t.ending}); see {status_rule}")
    if t.status != 200:
        return skipped(f"no answer to judge: HTTP {t.status}; see {status_rule}")
    return None
