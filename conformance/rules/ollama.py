"""Ollama's chat API (``/api/chat``): NDJSON framing and the objects ollama-python reads.

The framing is judged byte-exactly, as the SSE rules judge event streams:
the body is split on LF only, each line must be one UTF-8 JSON object, and
the body ends with an LF.  ollama-python reads lines with httpx's
``iter_lines`` and ``json.loads`` each one, so a blank line, a line that is
not JSON, or a raw line-break character httpx splits on (U+2028, U+0085, ...)
inside a JSON string breaks it.  Each rule owns one part and skips, naming
the owner, when another part is broken.
"""

from __future__ import annotations

from ..scenarios.ollama import ERRORS, NUM_PREDICT_CUT, STREAMS
from ..schemas import validate
from ..view_ollama import DONE_REASONS, MAX_LINES, SDK_LINE_BREAKS, OllamaView
from . import specs
from .common import (
    CUT_BY_HARNESS,
    content_type_is,
    no_answer_skip,
    preview,
    status_is_200,
)
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["ANSWERS", "no_ndjson"]

API = "ollama"
ANSWERS = (*STREAMS, "ollama-nonstream")
_SDK = "ollama-python"


def no_answer(t: OllamaView) -> Verdict | None:
    """A skip when there is no 200 answer to judge (ollama.status judges that)."""
    return no_answer_skip(t, "ollama.status")


def no_ndjson(t: OllamaView) -> Verdict | None:
    """A skip when there is no stream, or its lines are not all JSON objects."""
    if (skip := no_answer(t)) is not None:
        return skip
    if t.is_stream and lines(t).outcome == "failed":
        return skipped("the NDJSON framing is broken; see ollama.lines")
    if t.capped_at is not None:
        return skipped(f"more than {MAX_LINES} lines; see ollama.lines")
    return None


@rule(
    "ollama.status",
    level=Level.MUST,
    requirement="A valid Ollama chat request gets HTTP 200.",
    spec=specs.OLLAMA_ERRORS,
    quote="`200`: Success",
    breaks=(f"{_SDK} (raises ResponseError)",),
    hint="Answer a valid /api/chat request with 200 and the NDJSON stream (or the answer).",
    scenarios=ANSWERS,
    api=API,
)
def status(t: OllamaView) -> Verdict:
    return status_is_200(t)


@rule(
    "ollama.content-type",
    level=Level.SHOULD,
    requirement="An Ollama stream is sent as `Content-Type: application/x-ndjson`, a "
    "non-stream answer as `application/json`.",
    spec=specs.OLLAMA_STREAMING,
    quote="the error will be returned as an object in the `application/x-ndjson` format",
    hint='Set `media_type="application/x-ndjson"` on the streaming response.',
    scenarios=ANSWERS,
    api=API,
)
def content_type(t: OllamaView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    return content_type_is(t, "application/x-ndjson" if t.is_stream else "application/json")


def _break_in(text: str) -> str | None:
    return next((c for c in text if c in SDK_LINE_BREAKS), None)


@rule(
    "ollama.lines",
    level=Level.MUST,
    requirement="Every line of an Ollama stream is one JSON object in valid UTF-8 ending in "
    "an LF: no blank lines, nothing after the last LF, and no raw line-break character "
    "(CR, U+0085, U+2028, ...) inside a line.",
    spec=specs.OLLAMA_STREAMING,
    quote="/api/chat returns a stream of newline-delimited JSON objects (NDJSON)",
    breaks=(f"{_SDK} (json.loads on every line httpx's iter_lines yields)",),
    hint="Write `json.dumps(obj) + '\\n'` per object, with ensure_ascii or with U+2028, "
    "U+2029 and U+0085 escaped.",
    scenarios=STREAMS,
    api=API,
)
def lines(t: OllamaView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    if not t.lines:
        return failed("at least one JSON line", "an empty body")
    if t.capped_at is not None:
        return skipped(f"more than {MAX_LINES} lines: the harness stops reading them at byte "
                       f"{t.capped_at}")  # fmt: skip
    for ln in t.lines:
        at = ln.offset
        if ln.text is None:
            return failed("valid UTF-8", f"line {ln.number} (byte {at}) is not valid UTF-8", at=at)
        # CRLF ends a line as LF does: httpx's iter_lines takes "\r\n" as one break.
        text = ln.text[:-1] if ln.terminated and ln.text.endswith("\r") else ln.text
        if not text:
            return failed(
                "one JSON object per line",
                f"a blank line {ln.number} at byte {at}: the SDK's json.loads('') raises",
                at=at,
            )
        if (c := _break_in(text)) is not None:
            return failed(
                "no raw line-break character inside a line",
                f"line {ln.number} (byte {at}) holds {c!r}: httpx's iter_lines splits the line "
                "there and the SDK cannot parse either half",
                at=at,
            )
        if not ln.is_object:
            return failed(
                "one JSON object per line",
                f"line {ln.number} at byte {at}: {preview(ln.text)!r}",
                at=at,
            )
        if not ln.terminated:
            if t.ending in CUT_BY_HARNESS:
                return skipped(f"the harness stopped reading ({t.ending_detail or t.ending})")
            return failed(
                "every line ends in an LF",
                f"the last line (byte {at}) ends without one",
                at=at,
            )
    return passed(f"{len(t.lines)} lines")


@rule(
    "ollama.done",
    level=Level.MUST,
    requirement='An Ollama stream ends with exactly one `"done": true` object, its last line '
    "(or an error line).",
    spec=specs.OLLAMA_CHAT,
    quote="The final response in the stream also includes additional data about the generation",
    breaks=(f"{_SDK} users (they finish on done)", "clients that wait for done: true"),
    hint='Send a last line with `"done": true`, `done_reason` and the counts.',
    scenarios=STREAMS,
    api=API,
)
def done(t: OllamaView) -> Verdict:
    if (skip := no_ndjson(t)) is not None:
        return skip
    if t.error_line is not None:
        return passed(f"the stream ends with an error line at byte {t.error_line[0].offset}")
    if t.ending in CUT_BY_HARNESS:
        return skipped(f"the harness stopped reading ({t.ending_detail or t.ending})")
    dones = t.done_lines
    if not dones:
        last = t.lines[-1].offset if t.lines else 0
        return failed(
            'a last line with "done": true',
            f"{len(t.read)} lines, none with done: true: the client cannot tell a finished "
            "answer from a cut one",
            at=last,
        )
    if len(dones) > 1:
        return failed(
            'exactly one "done": true line',
            f"{len(dones)}, the second at byte {dones[1][0].offset}",
            at=dones[1][0].offset,
        )
    line = dones[0][0]
    if line is not t.read[-1][0]:
        later = t.read[-1][0]
        return failed(
            'the "done": true line last',
            f"line {later.number} at byte {later.offset} follows it",
            at=later.offset,
        )
    return passed()


def _done_value(t: OllamaView) -> tuple[int, object] | None:
    if t.is_stream:
        if not t.done_lines:
            return None
        line, value = t.done_lines[-1]
        return line.offset, value.get("done_reason")
    body = t.json()
    return (0, body.get("done_reason")) if isinstance(body, dict) else None


@rule(
    "ollama.error-line",
    level=Level.MUST,
    requirement='A failed generation is reported as an `{"error": "..."}` line (or object), '
    "not as assistant content ending `done_reason: error`.",
    spec=specs.OLLAMA_ERRORS_STREAMING,
    quote="If an error occurs mid-stream, the error will be returned as an object in the "
    "`application/x-ndjson` format with an `error` property.",
    breaks=(
        f"{_SDK} (raises ResponseError only on an `error` key; else returns the error "
        "text as the answer)",
    ),
    hint='Catch generation failures and send `{"error": "<message>"}` as its own line.',
    scenarios=ANSWERS,
    api=API,
)
def error_line(t: OllamaView) -> Verdict:
    if (skip := no_ndjson(t)) is not None:
        return skip
    if t.error_line is not None:
        return passed(f"the failure is reported: {preview(t.error_line[0].text or '')}")
    found = _done_value(t)
    if found is not None and isinstance(found[1], str) and "error" in found[1].lower():
        at = found[0]
        return failed(
            'an {"error": "..."} line',
            f"done_reason {found[1]!r} at byte {at} after content {preview(t.content())!r}: the "
            "SDK raises nothing and returns the error text as the answer",
            at=at,
        )
    return passed()


@rule(
    "ollama.done-reason",
    level=Level.SHOULD,
    requirement="`done_reason` is one of Ollama's (`stop`, `length`, `load`, `unload`), and "
    "`length` when `num_predict` cut the answer.",
    spec=specs.OLLAMA_CHAT,
    hint="Map a finished answer to `stop` (a tool call too) and one cut by num_predict to "
    "`length`.",
    scenarios=ANSWERS,
    api=API,
)
def done_reason(t: OllamaView) -> Verdict:
    if (skip := no_ndjson(t)) is not None:
        return skip
    if t.error_line is not None:
        return skipped("the stream reported an error")
    found = _done_value(t)
    if found is None:
        return skipped("no done line; see ollama.done")
    at, reason = found
    if isinstance(reason, str) and "error" in reason.lower():
        return skipped(f"done_reason {reason!r}: see ollama.error-line")
    if reason not in DONE_REASONS:
        return failed(
            f"a done_reason from {sorted(DONE_REASONS)}", f"{reason!r} at byte {at}", at=at
        )
    options = t.asked("options")
    limit = options.get("num_predict") if isinstance(options, dict) else None
    if limit == NUM_PREDICT_CUT and t.scenario == "ollama-num-predict" and reason != "length":
        return failed(
            f"done_reason length: num_predict={limit} cut a long answer",
            f"{reason!r} at byte {at}",
            at=at,
        )
    return passed(f"done_reason {reason!r}")


@rule(
    "ollama.tool-arguments",
    level=Level.MUST,
    requirement="Tool-call `arguments` are JSON objects, not strings.",
    spec=specs.OLLAMA_CHAT,
    quote="arguments: Mapping[str, Any]",
    breaks=(f"{_SDK} (its ToolCall.Function.arguments is a mapping: pydantic rejects a string)",),
    hint="Parse the model's arguments and send them as an object; an OpenAI-style "
    "translator must json.loads the arguments string.",
    scenarios=("ollama-tools",),
    api=API,
)
def tool_arguments(t: OllamaView) -> Verdict:
    if (skip := no_ndjson(t)) is not None:
        return skip
    calls = t.tool_calls()
    if not calls:
        return skipped("the answer has no tool call (the model chose text)")
    for line, call in calls:
        at = line.offset if line is not None else 0
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if not isinstance(arguments, dict):
            return failed(
                "arguments as a JSON object",
                f"arguments {preview(repr(arguments))} at byte {at}",
                at=at,
            )
    return passed(f"{len(calls)} tool call(s)")


@rule(
    "ollama.schema",
    level=Level.SHOULD,
    requirement="Every line of an Ollama stream, and a non-stream answer, validates as "
    "Ollama's chat response (model, created_at, message, done).",
    spec=specs.OLLAMA_CHAT,
    hint="Compare each object with Ollama's chat response in its API docs (see "
    "schemas/ollama-chat.schema.json).",
    scenarios=ANSWERS,
    api=API,
)
def schema(t: OllamaView) -> Verdict:
    if (skip := no_ndjson(t)) is not None:
        return skip
    if not t.is_stream:
        body = t.json()
        items = [(0, body)] if isinstance(body, dict) else []
        if not items:
            return failed("a JSON object", preview(t.body.decode("utf-8", "replace")))
    else:
        items = [(ln.offset, v) for ln, v in t.read]
    for at, value in items:
        # Arguments are ollama.tool-arguments'; errors are ollama.error-line's.
        problems = [p for p in validate("ollama-chat", value) if not p.path.endswith(".arguments")]
        if problems:
            shown = "; ".join(p.message for p in problems[:3])
            return failed("a valid chat response object", f"{shown} (byte {at})", at=at)
    return passed()


@rule(
    "ollama.error-schema",
    level=Level.SHOULD,
    requirement='An invalid Ollama request gets a 4xx status with `{"error": "<message>"}`.',
    spec=specs.OLLAMA_ERRORS,
    quote="Errors are returned in the `application/json` format with the following structure, "
    "with the error message in the `error` property",
    breaks=(f"{_SDK} (ResponseError carries the whole body when there is no `error` key)",),
    hint='Answer 400 (404 for an unknown model) with `{"error": "..."}`; a FastAPI app needs '
    "an exception handler for RequestValidationError.",
    scenarios=ERRORS,
    api=API,
)
def error_schema(t: OllamaView) -> Verdict:
    if t.status is None:
        return failed("a 4xx answer", f"no response: {t.ending} {t.ending_detail}")
    body = t.json()
    shown = preview(t.body.decode("utf-8", "replace")) or "an empty body"
    if not 400 <= t.status < 500:
        return failed('a 4xx answer with {"error": "..."}', f"HTTP {t.status} with {shown}", at=0)
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"]:
        return failed('{"error": "<message>"}', f"HTTP {t.status} with {shown}", at=0)
    return passed(f"HTTP {t.status}: {preview(body['error'])}")
