"""How an endpoint fails: error statuses, the error envelope, errors inside a stream."""

from __future__ import annotations

import json
from typing import Any

from ..capture.transcript import Ending, Event
from ..scenarios.chat import STREAMS
from ..schemas import validate
from ..view import ChatView
from . import specs
from .common import CUT_BY_HARNESS, describe_end, media_type, no_stream, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["ERROR_SCENARIOS", "STREAM_ERROR_SCENARIOS", "carries_error", "error_events"]

#: The non-stream error scenarios (each judged for its status by one rule).
ERROR_SCENARIOS = ("error-invalid-json", "error-missing-messages", "error-unknown-model")
#: The invalid stream requests, judged by error.stream-request.
STREAM_ERROR_SCENARIOS = ("error-stream-missing-messages", "error-stream-unknown-model")

ENVELOPE = '{"error": {"message", "type", "param", "code"}}'
ERROR_EVENT = 'data: {"error": {"message": ...}}'


# -- what came back -------------------------------------------------------------


def _status_rule(t: ChatView) -> str:
    """The rule that judges the status of this invalid request, read from the request."""
    if t.request_json is None:
        return "error.invalid-json"
    if not isinstance(t.asked("messages"), list):
        return "error.missing-messages"
    if t.asked("stream") is True:
        return "error.stream-request"
    return "error.unknown-model"


def _media_type(t: ChatView) -> str:
    return media_type(t.header("content-type"))


def _is_event_stream(t: ChatView) -> bool:
    return _media_type(t) == "text/event-stream"


def _body_summary(t: ChatView) -> str:
    """What the body holds, in a few words, for an Actual: line."""
    if _is_event_stream(t):
        errors = error_events(t)
        said = f", an error event at byte {errors[0][1].offset}" if errors else ""
        return f"an event stream of {len(t.events)} events{said}"
    if not t.body:
        return "an empty body"
    shown = preview(t.body.decode("utf-8", "replace"), 120)
    return f"{_media_type(t) or 'no content type'} body {shown!r}"


def error_events(t: ChatView) -> list[tuple[int, Event, dict[str, Any]]]:
    """(index in ``t.events``, event, payload) of each event a client raises on
    (the view's reading: a truthy ``error`` in the data, or ``event: error``)."""
    return [(e.index, e.event, e.value) for e in t.errors]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def carries_error(t: ChatView) -> bool:
    """Whether the body is an error (a JSON error object or a stream with an error event)."""
    value = t.json()
    if isinstance(value, dict) and ("error" in value or "detail" in value):
        return True
    return bool(error_events(t))


def _success_kind(t: ChatView) -> str:
    if carries_error(t):
        return "the error was swallowed into a success status"
    return "the invalid request was served as if it were valid"


# -- error statuses --------------------------------------------------------------


def _client_error(t: ChatView, what: str) -> Verdict:
    """Passes on a 4xx answer; says exactly what came instead."""
    expected = f"HTTP 4xx for {what}"
    if t.status is None:
        return failed(expected, f"no response: {describe_end(t)}")
    if 400 <= t.status < 500:
        return passed(f"HTTP {t.status}")
    if 200 <= t.status < 300:
        return failed(expected, f"HTTP {t.status}, {_body_summary(t)}: {_success_kind(t)}", at=0)
    if t.status >= 500:
        return failed(
            expected,
            f"HTTP {t.status}, {_body_summary(t)}: a server error for the client's mistake",
            at=0,
        )
    return failed(expected, f"HTTP {t.status}, {_body_summary(t)}", at=0)


@rule(
    "error.invalid-json",
    level=Level.MUST,
    requirement="A request body that is not valid JSON gets a 4xx answer.",
    spec=specs.RFC9110_4XX,
    quote="RFC 9110 15.5: the 4xx (Client Error) class of status code indicates that the "
    "client seems to have erred. openai-python `_base_client.py` `_should_retry` retries every "
    "5xx.",
    breaks=(
        "openai-python (a 5xx is sent twice more, then InternalServerError instead of "
        "BadRequestError)",
        "openai-node (the same retries)",
    ),
    hint="Parse the body before anything else and answer a parse failure with 400 and an "
    "error body; never let it reach the model or surface as a 500.",
    scenarios=("error-invalid-json",),
)
def invalid_json(t: ChatView) -> Verdict:
    return _client_error(t, "a malformed JSON body")


@rule(
    "error.missing-messages",
    level=Level.MUST,
    requirement="A non-stream chat request without `messages` gets a 4xx answer "
    "(error.stream-request judges the stream one).",
    spec=specs.OPENAI_MESSAGES,
    quote="OpenAI API reference: messages is required. RFC 9110 15.5: a 4xx says the client "
    "seems to have erred.",
    breaks=("openai-python (a 5xx is retried, a 200 taken for an answer)",),
    hint="Validate the request (a pydantic model with a required `messages` field does it) "
    "and answer 400 before starting a generation or a stream.",
    scenarios=("error-missing-messages",),
)
def missing_messages(t: ChatView) -> Verdict:
    return _client_error(t, "a request without messages")


@rule(
    "error.unknown-model",
    level=Level.MUST,
    requirement="A non-stream request for a model the endpoint does not serve gets a 4xx "
    "answer (OpenAI answers 404 `model_not_found`; error.stream-request judges the stream one).",
    spec=specs.OPENAI_ERROR_CODES,
    quote="RFC 9110 15.5: the 4xx (Client Error) class of status code indicates that the "
    "client seems to have erred; OpenAI answers 404 model_not_found.",
    breaks=(
        "openai-python (a 5xx is retried twice, then InternalServerError instead of NotFoundError)",
    ),
    hint="Look the model up before streaming and answer 404 with code `model_not_found`; "
    "a proxy must pass the upstream status on, not 200 or 502.",
    scenarios=("error-unknown-model",),
)
def unknown_model(t: ChatView) -> Verdict:
    return _client_error(t, "an unknown model")


# -- an invalid stream request -----------------------------------------------------


@rule(
    "error.stream-request",
    level=Level.MUST,
    requirement="An invalid `stream: true` request gets a non-200 status and a JSON error "
    "body, not an event stream.",
    spec=specs.OPENAI_ERROR_CODES,
    quote="openai-python raises its typed status errors (BadRequestError, NotFoundError...) "
    "only for a non-2xx status, before any stream is read.",
    breaks=(
        "openai-python (a 200 stream hides the failure: no typed status error, at best an "
        "APIError mid-stream)",
    ),
    hint="Validate the request before returning the StreamingResponse: once a 200 "
    "text/event-stream head is sent, clients can no longer see the failure as an HTTP error. "
    "A proxy must read the upstream status before it starts streaming.",
    scenarios=STREAM_ERROR_SCENARIOS,
)
def stream_request(t: ChatView) -> Verdict:
    expected = "a non-200 status with a JSON error body"
    if t.status is None:
        # This rule alone judges the invalid stream requests: no answer is its failure.
        return failed(expected, f"no response: {describe_end(t)}")
    if t.status == 200:
        return failed(expected, f"HTTP 200, {_body_summary(t)}: {_success_kind(t)}", at=0)
    if _is_event_stream(t):
        return failed(
            expected,
            f"HTTP {t.status} sent as text/event-stream "
            f"({_body_summary(t)}); clients read a non-200 body as JSON",
            at=0,
        )
    if not isinstance(t.json(), dict):
        return failed(expected, f"HTTP {t.status}, {_body_summary(t)}: not a JSON object", at=0)
    return passed(f"HTTP {t.status} with a JSON error body")


# -- the error envelope ---------------------------------------------------------------


def _fastapi_fix(detail: Any) -> str:
    """Which FastAPI handler produced a ``{"detail": ...}`` body, and the one to add."""
    if isinstance(detail, list):
        items = f"{len(detail)} item{'s' if len(detail) != 1 else ''}"
        return (
            f"FastAPI's default validation body {{\"detail\": [{items}]}}, not OpenAI's envelope; "
            "add `@app.exception_handler(RequestValidationError)` that returns "
            f"{ENVELOPE} with status 400"
        )
    return (
        f'FastAPI\'s default HTTPException body {{"detail": {preview(_compact(detail), 60)}}}, '
        "not OpenAI's envelope; add `@app.exception_handler(StarletteHTTPException)` that "
        f"returns {ENVELOPE} with the same status"
    )


def _envelope_problems(value: Any) -> str | None:
    """Why ``value`` is not OpenAI's error envelope, or None when it is."""
    if isinstance(value, dict) and "detail" in value and "error" not in value:
        return _fastapi_fix(value["detail"])
    problems = validate("error", value)
    if not problems:
        return None
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(p.message for p in problems[:3]) + more


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@rule(
    "error.schema",
    level=Level.SHOULD,
    requirement=f"An error answer uses OpenAI's envelope {ENVELOPE}; `param` and `code` may "
    "be null but are present.",
    spec=specs.OPENAI_ERROR_CODES,
    hint='Return every error as {"error": {"message": ..., "type": ..., "param": ..., '
    '"code": ...}}. With FastAPI, register exception handlers for RequestValidationError '
    'and StarletteHTTPException that build this envelope instead of `{"detail": ...}`.',
    scenarios=ERROR_SCENARIOS,
)
def schema(t: ChatView) -> Verdict:
    status_rule = _status_rule(t)
    if t.status is None:
        return skipped(f"no response to judge ({t.ending_detail or t.ending}); see {status_rule}")
    if t.status < 300:
        return skipped(f"HTTP {t.status} is not an error answer; see {status_rule}")
    value = t.json()
    if value is None:
        return failed(ENVELOPE, f"HTTP {t.status}, {_body_summary(t)}: not JSON", at=0)
    problem = _envelope_problems(value)
    if problem is not None:
        return failed(ENVELOPE, f"HTTP {t.status}: {problem}", at=0)
    error = value["error"]
    return passed(f"HTTP {t.status}, type {error['type']!r}, code {error['code']!r}")


# -- errors inside a stream ------------------------------------------------------------


def _event_problem(value: dict[str, Any]) -> str | None:
    """Why an error event cannot be read by a client, or None when it can."""
    if not value.get("error"):
        return (
            "an `event: error` whose data has no truthy `error` field: openai-python reads "
            "it as a chunk instead of raising"
        )
    error = value["error"]
    if not isinstance(error, dict):
        return f"`error` is {type(error).__name__} {preview(_compact(error))}, not an object"
    message = error.get("message")
    if not isinstance(message, str) or not message:
        return f"`error.message` is {preview(_compact(message))}, not a non-empty string"
    return None


def _how_it_ended(t: ChatView) -> str:
    index = t.done_index()
    if index is not None:
        return f"[DONE] at byte {t.events[index].offset} came without any finish_reason"
    if t.ending is Ending.COMPLETE:
        return (
            f"the server closed the body after {len(t.body)} bytes with no finish_reason "
            "and no [DONE]"
        )
    return f"no finish_reason and no [DONE]; {describe_end(t)}"


def _reported(found: tuple[int, Event, dict[str, Any]]) -> Verdict:
    _, event, value = found
    problem = _event_problem(value)
    if problem is not None:
        return failed(
            ERROR_EVENT, f"error event at byte {event.offset}: {problem}", at=event.offset
        )
    notes = _envelope_problems(value)
    note = f" (envelope: {notes}; see error.schema)" if notes else ""
    return passed(
        f"the stream reported its failure at byte {event.offset}: "
        f"{preview(value['error']['message'])!r}{note}"
    )


@rule(
    "error.stream-event",
    level=Level.MUST,
    requirement="A stream that ends early (no finish_reason: an error, a reset, a silent "
    f"close) says why first, in a `{ERROR_EVENT}` event.",
    spec=specs.OPENAI_STREAM_PARAM,
    quote="openai-python `src/openai/_streaming.py` `Stream.__stream__` raises APIError on a "
    "data payload whose `error` is truthy; openai-node `src/core/streaming.ts` "
    "`Stream.fromSSEResponse` throws APIError the same way.",
    breaks=(
        "openai-python (without the event the iteration just ends: a cut answer taken for a "
        "whole one)",
        "openai-node (the same)",
    ),
    hint="Wrap the generation loop in try/except and, on failure, send "
    '`data: {"error": {"message": ..., "type": "server_error", ...}}` then '
    "`data: [DONE]` before closing. A proxy must send such an event when its upstream fails "
    "mid-stream instead of closing the connection.",
    scenarios=STREAMS,
)
def stream_event(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    errors = error_events(t)
    if errors:
        return _reported(errors[0])
    if t.ending in CUT_BY_HARNESS:
        return skipped(
            f"the harness stopped reading before the stream ended "
            f"({t.ending_detail or t.ending}); see stream.done"
        )
    if t.finishes:
        event, reason = t.finishes[0].event, t.finishes[0].reason
        note = "" if t.done_index() is not None else " (but no [DONE]: see stream.done)"
        return passed(
            f"no failure to report: the stream completed with finish_reason "
            f"{reason!r} at byte {event.offset}{note}"
        )
    last = t.events[-1].offset if t.events else 0
    return failed(
        f"a `{ERROR_EVENT}` event saying why the stream ended early",
        f"{len(t.chunks())} chunks, no error event: {_how_it_ended(t)}",
        at=last,
    )


@rule(
    "error.stream-event-done",
    level=Level.SHOULD,
    requirement="An error event in a stream is followed by `data: [DONE]`, so clients that "
    "wait for it stop reading.",
    spec=specs.OPENAI_STREAM_PARAM,
    hint="After the error event send `data: [DONE]\\n\\n` and end the response, exactly as "
    "after a normal last chunk.",
    scenarios=STREAMS,
)
def stream_event_done(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    errors = error_events(t)
    if not errors:
        return skipped("no error event in the stream: nothing to follow with [DONE]")
    index, error, _ = errors[-1]
    expected = "data: [DONE] right after the error event"
    rest = [e for e in t.events[index + 1 :] if e.type == "message"]
    if not rest:
        return failed(
            expected,
            f"nothing after the error event at byte {error.offset}; {describe_end(t)}",
            at=error.offset,
        )
    after = rest[0]
    if after.data == "[DONE]":
        return passed(
            f"[DONE] at byte {after.offset} follows the error event at byte {error.offset}"
        )
    done = "a [DONE] later" if t.done_index() is not None else "no [DONE] at all"
    return failed(
        expected,
        f"the error event at byte {error.offset} is followed by "
        f"data: {preview(after.data)} at byte {after.offset}, and {done}",
        at=after.offset,
    )
