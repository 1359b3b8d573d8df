"""What real clients see: the official openai Python SDK read the stream.

The ``client-openai`` scenario (``conformance.scenarios.client``) keeps what
the SDK made of the stream in a related transcript; the rule compares it with
what the harness recorded and names the SDK behaviour that broke it.
"""

from __future__ import annotations

import re

from ..scenarios.client import INSTALL_HINT, SCENARIO, SDK_RELATED, SdkRun
from ..view import ChatView
from . import specs
from .common import no_stream, preview
from .consistency import divergence, joined_content
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__: list[str] = []

# -- why the SDK broke ---------------------------------------------------------

_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"\r\n|\r|\n")


def _dataless_event(body: bytes) -> int | None:
    """Offset of an event with fields but no ``data`` (the SDK dispatches it, empty)."""
    start, fields, line_start = 0, set[bytes](), 0
    # Scan line ends only: a pattern that also matched the line text would
    # rescan an unterminated line from every offset (quadratic on a huge line).
    for end in _LINE_END.finditer(body):
        line = body[line_start : end.start()]
        line_start = end.end()
        if not line:
            if fields and b"data" not in fields:
                return start
            start, fields = line_start, set()
        elif not line.startswith(b":"):
            fields.add(line.split(b":", 1)[0])
    return None


def _first_payload(t: ChatView, error: bool) -> tuple[int, str] | None:
    """(offset, data) of the first error event (or the first non-JSON-object payload)."""
    for event, value in t.payloads():
        is_error = isinstance(value, dict) and "error" in value
        if is_error if error else not isinstance(value, dict):
            return event.offset, event.data
    return None


def _cause(t: ChatView, run: SdkRun) -> tuple[str, int | None]:
    """Which SDK behaviour the stream tripped, read from the recorded twin."""
    if t.body.startswith(_BOM):
        return (
            "the body starts with a UTF-8 BOM: the SDK does not strip it, so it reads "
            "the first line as an unknown field and loses the first event",
            0,
        )
    if any(d.code == "invalid-utf8" for d in t.diagnostics):
        bad = next(d for d in t.diagnostics if d.code == "invalid-utf8")
        return (
            "the body is not valid UTF-8: the SDK decodes every line strictly and raises "
            "UnicodeDecodeError",
            bad.offset,
        )
    if (hit := _first_payload(t, error=True)) is not None:
        return (
            f"the event at byte {hit[0]} carries an `error` key ({preview(hit[1])}): the "
            "SDK raises openai.APIError on it",
            hit[0],
        )
    if (hit := _first_payload(t, error=False)) is not None:
        return (
            f"the data at byte {hit[0]} is not a JSON object ({preview(hit[1])!r}): the "
            "SDK JSON-decodes every data payload but [DONE] and raises",
            hit[0],
        )
    if (offset := _dataless_event(t.body)) is not None:
        return (
            f"the event at byte {offset} has no data line (a keep-alive sent as an event "
            "or id rather than a `:` comment): the SDK dispatches it with empty data and "
            "fails to JSON-decode it",
            offset,
        )
    if (after := _after_done_cause(t))[0]:
        return after
    return _done_cause(t, run)


def _after_done_cause(t: ChatView) -> tuple[str, int | None]:
    """The data events after ``[DONE]``, when there are any: the SDK never yields them."""
    index = t.done_index()
    if index is None:
        return "", None
    later = [e for e in t.events[index + 1 :] if e.type == "message"]
    if not later:
        return "", None
    one = len(later) == 1
    count = f"{len(later)} data event{'' if one else 's'} follow{'s' if one else ''}"
    return (
        f"{count} data: [DONE] (at byte {t.events[index].offset}), the first at byte "
        f"{later[0].offset}: the SDK stops at [DONE] and never yields them, while a reader "
        "that reads on to the close does",
        later[0].offset,
    )


def _done_cause(t: ChatView, run: SdkRun) -> tuple[str, int | None]:
    if t.done_index() is not None:
        return "", None
    last = t.events[-1].offset if t.events else None
    if run.timed_out:
        return (
            "there is no data: [DONE] and the body stayed open: the SDK stops only at "
            "[DONE] or the close, so it hangs",
            last,
        )
    return (
        "there is no data: [DONE]: the SDK read until the connection closed, so it cannot "
        "tell a finished answer from a cut one, and behind a proxy that keeps the "
        "connection open it hangs (or ends early when the proxy times out)",
        last,
    )


_SEPARATE = (
    "nothing in the recorded stream explains it; the SDK's request was a second "
    "request, so an endpoint that is not deterministic can differ (see the "
    "consistency.* skips)"
)


def _with_cause(actual: str, cause: str) -> str:
    return f"{actual}\nwhy: {cause}" if cause else actual


# -- the rule ------------------------------------------------------------------


def _sdk_run(t: ChatView) -> SdkRun | Verdict:
    sdk = t.other(SDK_RELATED)
    run = SdkRun.from_json(sdk.json()) if sdk is not None else None
    if run is None:
        return skipped("no openai SDK run was recorded for this scenario")
    if not run.installed:
        return skipped(f"the openai SDK is not installed: {INSTALL_HINT}")
    if run.not_run:
        return skipped(f"the SDK was not run: {run.not_run}; the sse.* and stream.* rules judge it")
    return run


@rule(
    "client.openai-sdk",
    level=Level.SHOULD,
    requirement="The official openai Python SDK streams the answer to its end (`[DONE]`) "
    "without an exception, to the same text as the joined deltas.",
    spec=specs.OPENAI_STREAM_PARAM,
    hint="Send only `data: {json}` chunk events and `:` comments, no BOM, errors before the "
    f"stream starts as an HTTP error status, and end with `data: [DONE]`. Reproduce with "
    f"`{INSTALL_HINT}` and `client.chat.completions.create(..., stream=True)`.",
    scenarios=(SCENARIO,),
)
def openai_sdk(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    run = _sdk_run(t)
    if isinstance(run, Verdict):
        return run
    cause, at = _cause(t, run)
    ours = joined_content(t)
    if run.timed_out:
        return failed(
            "the SDK finishes the stream",
            _with_cause(
                f"the SDK was still reading after {run.deadline_s:g} s "
                f"({run.chunks} chunks, {len(run.text)} characters)",
                cause,
            ),
            at=at,
        )
    if run.error_type:
        return failed(
            "the SDK streams to the end without an exception",
            _with_cause(
                f"the SDK raised {run.error_type}: {preview(run.error, 200)} after {run.chunks} "
                "chunks",
                cause,
            ),
            at=at,
        )
    if run.text != ours:
        return failed(
            "the SDK yields the same text as the joined deltas",
            _with_cause(divergence(run.text, ours, ("SDK", "recorded")), cause or _SEPARATE),
            at=at,
        )
    cause, at = _done_cause(t, run)
    if cause:
        return failed(
            "the SDK's stream ends at data: [DONE]",
            _with_cause(f"the SDK yielded the same {len(ours)} characters, but", cause),
            at=at,
        )
    return passed(f"openai {run.version}: {run.chunks} chunks, the same {len(ours)} characters")
