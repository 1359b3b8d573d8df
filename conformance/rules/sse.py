"""SSE framing, judged as the WHATWG HTML event-stream rules read it."""

from __future__ import annotations

from ..capture.transcript import Diagnostic
from ..scenarios.chat import STREAMS
from ..view import ChatView
from . import specs
from .common import no_stream, preview
from .registry import Level, Verdict, failed, passed, rule

__all__: list[str] = []


def _first(t: ChatView, *codes: str) -> Diagnostic | None:
    return next((d for d in t.diagnostics if d.code in codes and not _bare_field(t, d)), None)


#: Field names a line may carry alone: WHATWG reads a bare `data` as a data
#: field with an empty value, which is legitimate.
_KNOWN_FIELDS = (b"data", b"event", b"id", b"retry")


def _bare_field(t: ChatView, d: Diagnostic) -> bool:
    """Whether a no-colon diagnostic is a known field name alone on its line."""
    if d.code != "no-colon":
        return False
    line = t.body[d.offset : d.offset + 8].split(b"\n", 1)[0].split(b"\r", 1)[0]
    return line in _KNOWN_FIELDS


def _diagnostic_failure(expected: str, d: Diagnostic, t: ChatView) -> Verdict:
    count = sum(1 for x in t.diagnostics if x.code == d.code)
    more = f" ({count} in all)" if count > 1 else ""
    return failed(expected, f"{d.message} at byte {d.offset}, line {d.line}{more}", at=d.offset)


@rule(
    "sse.utf8",
    level=Level.MUST,
    requirement="The event stream is valid UTF-8.",
    spec=specs.WHATWG_SSE_INTERPRETING,
    quote="WHATWG HTML: streams must be decoded using the UTF-8 decode algorithm. "
    "openai-python `src/openai/_streaming.py` `SSEDecoder._decode_lines` decodes each line "
    'strictly (`raw_line.decode("utf-8")`).',
    breaks=("openai-python (UnicodeDecodeError mid-stream)",),
    hint="Encode every event as UTF-8 and never cut a multi-byte character when "
    "splitting text into chunks (split on characters, not bytes).",
    scenarios=STREAMS,
)
def utf8(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    bad = _first(t, "invalid-utf8")
    return _diagnostic_failure("valid UTF-8", bad, t) if bad else passed()


@rule(
    "sse.terminated",
    level=Level.MUST,
    requirement="The last event ends with a blank line; an unterminated event is discarded "
    "by every conforming reader.",
    spec=specs.WHATWG_SSE_INTERPRETING,
    quote="WHATWG HTML: if the file ends in the middle of an event, before the final empty "
    "line, the incomplete event is not dispatched.",
    breaks=(
        "openai-python (`SSEDecoder.decode` dispatches on the blank line only: the last event "
        "is lost)",
        "openai-node (`SSEDecoder.decode`: the same)",
    ),
    hint="End every event, `[DONE]` included, with a blank line: write `data: ...\\n\\n`.",
    scenarios=STREAMS,
)
def terminated(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    bad = _first(t, "unterminated")
    if bad is None:
        return passed()
    tail = t.body[bad.offset :].decode("utf-8", "replace")
    return failed(
        "every event followed by a blank line",
        f"the body ends inside an event at byte {bad.offset}: {preview(tail)!r}",
        at=bad.offset,
    )


@rule(
    "sse.data-json",
    level=Level.MUST,
    requirement="Every data payload but `[DONE]` is one JSON object.",
    spec=specs.OPENAI_STREAM_PARAM,
    quote="openai-python `src/openai/_streaming.py` `Stream.__stream__` parses every data "
    "payload before [DONE] with `sse.json()`; openai-node `src/core/streaming.ts` "
    "`Stream.fromSSEResponse` with `JSON.parse`.",
    breaks=(
        "openai-python (json.JSONDecodeError)",
        "openai-node (SyntaxError from JSON.parse)",
    ),
    hint="Serialise each chunk with one `json.dumps` call into one `data:` line; do not "
    "send plain text, Python reprs or JSON split across several events.",
    scenarios=STREAMS,
)
def data_json(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    for event, value in t.payloads():
        if not isinstance(value, dict):
            what = "not JSON" if value is None else f"JSON {type(value).__name__}, not an object"
            return failed(
                "a JSON object in every data event but [DONE]",
                f"data {preview(event.data)!r} ({what}) at byte {event.offset}",
                at=event.offset,
            )
    return passed()


@rule(
    "sse.fields",
    level=Level.SHOULD,
    requirement="The stream uses only `data`, `event`, `id` and `retry` fields and comments.",
    spec=specs.WHATWG_SSE_INTERPRETING,
    quote="WHATWG HTML: a field whose name is not event, data, id or retry is ignored.",
    hint="Start every line with `data:`, `event:`, `id:`, `retry:` or `:` (comment); "
    "readers silently drop anything else.",
    scenarios=STREAMS,
)
def fields(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    bad = _first(t, "unknown-field", "no-colon")
    return (
        _diagnostic_failure("only data/event/id/retry fields and comments", bad, t)
        if bad
        else passed()
    )


@rule(
    "sse.event-type",
    level=Level.SHOULD,
    requirement="Chunks are sent as default `message` events (no `event:` field), which is "
    "what OpenAI clients and EventSource.onmessage read; `event: error` carries a failure.",
    spec=specs.WHATWG_SSE_INTERPRETING,
    quote='WHATWG HTML: the event type defaults to "message"; EventSource.onmessage and OpenAI '
    "clients read message events.",
    hint="Drop the `event:` line from chunk events; OpenAI-compatible clients read only "
    "unnamed events.",
    scenarios=STREAMS,
)
def event_type(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    # openai-python raises on a typed error event: a legitimate way to report one.
    other = next((e for e in t.events if e.type not in ("message", "error")), None)
    if other is None:
        return passed()
    return failed(
        "events of type message",
        f"event type {other.type!r} at byte {other.offset}",
        at=other.offset,
    )


@rule(
    "sse.bom",
    level=Level.SHOULD,
    requirement="The stream does not start with a byte order mark.",
    spec=specs.WHATWG_SSE_PARSING,
    quote="WHATWG HTML: the stream grammar allows one leading byte order mark "
    "(`stream = [ bom ] *event`) and the UTF-8 decode strips it; a reader that does not "
    "reads the first field name with U+FEFF in front.",
    hint="Write the body as UTF-8 without a BOM; readers that do not strip it lose the "
    "first event.",
    scenarios=STREAMS,
)
def bom(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    found = _first(t, "bom")
    return _diagnostic_failure("no BOM", found, t) if found else passed()
