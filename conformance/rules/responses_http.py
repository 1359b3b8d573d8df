"""Responses over HTTP: statuses, content types, and errors before any stream.

OpenAI's reference (``POST /v1/responses``) and the Open Responses
specification's "HTTP Responses" section.
"""

from __future__ import annotations

from ..scenarios.responses import ERRORS, STREAMS
from ..schemas import validate
from ..view_responses import ResponsesView
from . import specs
from .common import content_type_is, media_type, preview
from .registry import Level, Verdict, failed, passed, rule, skipped
from .responses_common import API, no_answer

__all__: list[str] = []

ANSWERS = (*STREAMS, "responses-nonstream")


@rule(
    "responses.status",
    level=Level.MUST,
    requirement="A valid Responses request gets HTTP 200.",
    spec=specs.OPENAI_RESPONSES_CREATE,
    quote="Creates a model response.",
    breaks=("openai-python (raises APIStatusError)", "Codex CLI"),
    hint="Answer a valid `POST /v1/responses` with 200 and the stream (or the response "
    "object); check that the route exists and accepts `input` as a string or a list of items.",
    scenarios=ANSWERS,
    api=API,
)
def status(t: ResponsesView) -> Verdict:
    if t.status is None:
        return failed("HTTP 200", f"no response: {t.ending_detail or t.ending}")
    if t.status != 200:
        body = preview(t.body.decode("utf-8", "replace"), 160)
        return failed("HTTP 200", f"HTTP {t.status}: {body}", at=0)
    return passed()


@rule(
    "responses.content-type",
    level=Level.MUST,
    requirement="A stream is sent as `text/event-stream`, a non-stream answer as "
    "`application/json` (parameters allowed).",
    spec=specs.OPEN_RESPONSES_HTTP,
    quote="When streaming, servers MUST return header `Content-Type: text/event-stream`",
    breaks=("httpx-sse (raises SSEError)", "browsers' EventSource"),
    hint='Set `media_type="text/event-stream"` on the streaming response and '
    "`application/json` on the JSON one.",
    scenarios=ANSWERS,
    api=API,
)
def content_type(t: ResponsesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    return content_type_is(
        t, "text/event-stream" if t.asked("stream") is True else "application/json"
    )


def _what_came(t: ResponsesView) -> str:
    kind = media_type(t.header("content-type")) or "no content type"
    if kind == "text/event-stream":
        return f"HTTP {t.status} and an event stream of {len(t.events)} events"
    return f"HTTP {t.status} {kind} body {preview(t.body.decode('utf-8', 'replace'), 120)!r}"


@rule(
    "responses.error-status",
    level=Level.MUST,
    requirement="An invalid request (no `input`, an unknown model, a body that is not "
    "JSON) gets a 4xx status, never 200 or a stream (the body is responses.error-schema's).",
    spec=specs.OPEN_RESPONSES_ERRORS,
    quote="invalid_request: The request is malformed or semantically invalid. One or more "
    "parameters are missing, incorrectly formatted, or unsupported. (400)",
    breaks=(
        "openai-python (raises BadRequestError/NotFoundError only on 4xx; a 200 is read as "
        "an answer)",
    ),
    hint="Validate the body before starting the stream: answer 400 for a malformed or "
    "incomplete request and 404 (or 400) for an unknown model, as JSON.",
    scenarios=ERRORS,
    api=API,
)
def error_status(t: ResponsesView) -> Verdict:
    if t.status is None:
        return failed("HTTP 4xx", f"no response: {t.ending_detail or t.ending}")
    # The SDK raises on any 4xx whatever its body: the body's shape is a SHOULD
    # (responses.error-schema), so a 400 as text/plain does not fail here.
    if 400 <= t.status < 500:
        return passed()
    return failed("HTTP 4xx", _what_came(t), at=0)


@rule(
    "responses.error-schema",
    level=Level.SHOULD,
    requirement='An error body is OpenAI\'s envelope: `{"error": {"message", "type", '
    '"param", "code"}}`.',
    spec=specs.OPEN_RESPONSES_ERRORS,
    quote="the API responds with a structured error object that includes: Type ... Code "
    "... Param ... Message",
    breaks=("openai-python (the exception's message and code come from `error`)",),
    hint='Return `{"error": {"message": ..., "type": "invalid_request_error", "param": '
    '..., "code": ...}}`, not a framework default such as `{"detail": ...}`.',
    scenarios=ERRORS,
    api=API,
)
def error_schema(t: ResponsesView) -> Verdict:
    if t.status is None or t.status < 400:
        return skipped(f"no error answer to judge ({_what_came(t)}); see responses.error-status")
    problems = validate("error", t.json())
    if not problems:
        return passed()
    body = preview(t.body.decode("utf-8", "replace"), 160)
    return failed(
        '{"error": {"message", "type", "param", "code"}}',
        f"{problems[0].message} in {body!r}",
        at=0,
    )
