"""The Anthropic Messages API (``/v1/messages``): the event flow anthropic-python reads.

Anthropic's streaming docs give the flow: ``message_start`` with empty
content; per content block a ``content_block_start``, deltas and a
``content_block_stop``, the block's ``index`` being its index in the final
content; one or more ``message_delta``; a final ``message_stop``; ``ping``
events anywhere; errors as ``event: error``.  Each rule below owns one part
of it and skips, naming the owner, when the stream breaks another part.
"""

from __future__ import annotations

import json
from typing import Any

from ..scenarios.messages import ERRORS, STREAMS
from ..schemas import validate
from ..view_messages import STOP_REASONS, MessagesView
from . import specs
from .common import (
    CUT_BY_HARNESS,
    content_type_is,
    media_type,
    no_answer_skip,
    preview,
    status_is_200,
)
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["ANSWERS", "no_messages_stream", "reported_error"]

API = "messages"
#: Scenarios whose request is valid: a streamed or non-stream answer.
ANSWERS = (*STREAMS, "messages-nonstream")
_SDK = "anthropic-python"


def no_answer(t: MessagesView) -> Verdict | None:
    """A skip when there is no 200 answer to judge (messages.status judges that)."""
    return no_answer_skip(t, "messages.status")


def no_messages_stream(t: MessagesView) -> Verdict | None:
    """A skip when there is no stream whose events can be judged."""
    if (skip := no_answer(t)) is not None:
        return skip
    if media_type(t.header("content-type")) != "text/event-stream":
        return skipped("the answer is not an event stream; see messages.content-type")
    if event_type(t).outcome == "failed":
        return skipped("events the SDK drops or misreads; see messages.event-type")
    if t.start is None:
        return skipped("the stream does not open with message_start; see messages.start")
    return None


def reported_error(t: MessagesView) -> Verdict | None:
    """A skip when the stream reported a failure (the SDK raises there)."""
    if t.error is not None:
        return skipped(
            f"the stream reported an error at byte {t.error.event.offset} (the SDK raises "
            "there); see messages.error-event"
        )
    if t.untyped_errors:
        at = t.untyped_errors[0].event.offset
        return skipped(
            f"an error payload without `event: error` at byte {at}; see messages.event-type"
        )
    return None


@rule(
    "messages.status",
    level=Level.MUST,
    requirement="A valid Messages request gets HTTP 200.",
    spec=specs.ANTHROPIC_MESSAGES,
    quote="anthropic-python `_base_client.py` `_process_response`: any status outside 2xx "
    "raises `APIStatusError` (its subclass per status) instead of returning the message.",
    hint="Answer a valid /v1/messages request with 200 and the message (or its event stream).",
    breaks=(_SDK,),
    scenarios=ANSWERS,
    api=API,
)
def status(t: MessagesView) -> Verdict:
    return status_is_200(t)


@rule(
    "messages.content-type",
    # SHOULD: anthropic-python reads a stream because it asked for one
    # (`stream=True`), not by the header, so no client is known to break.
    level=Level.SHOULD,
    requirement="A Messages stream is sent as `Content-Type: text/event-stream`, a "
    "non-stream answer as `application/json`.",
    spec=specs.ANTHROPIC_STREAMING,
    quote='When creating a Message, you can set "stream": true to incrementally stream the '
    "response using server-sent events (SSE).",
    hint='Set `media_type="text/event-stream"` on the streaming response.',
    scenarios=ANSWERS,
    api=API,
)
def content_type(t: MessagesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    return content_type_is(t, "text/event-stream" if t.is_stream else "application/json")


@rule(
    "messages.event-type",
    level=Level.MUST,
    requirement="Every event of a Messages stream has an `event:` line equal to its data's `type`.",
    spec=specs.ANTHROPIC_STREAMING_EVENTS,
    quote="Each event will use an SSE event name (e.g. event: message_stop), and include the "
    "matching event type in its data.",
    breaks=(f"{_SDK} and anthropic-sdk-typescript (both drop an event without a known name)",),
    hint="Write `event: <type>` before every `data:` line, `event: error` for errors: "
    "anthropic-python reads only named message events and raises only on `event: error`.",
    scenarios=STREAMS,
    api=API,
)
def event_type(t: MessagesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    for e in t.events:
        if e.type == "ping":
            continue
        value = _object(e.data)
        kind = value.get("type") if value is not None else None
        if kind != e.type:
            shown = "no event: line" if e.type == "message" else f"event: {e.type}"
            what = f"data type {kind!r}" if value is not None else "data that is not a JSON object"
            extra = ": anthropic-python drops it"
            if kind == "error":
                extra = ": anthropic-python drops it and raises nothing"
            return failed(
                "an `event:` line equal to the data's type on every event",
                f"{shown} with {what} at byte {e.offset}{extra}",
                at=e.offset,
            )
    return passed()


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # a hostile body may nest past the stack
        return None
    return value if isinstance(value, dict) else None


@rule(
    "messages.start",
    level=Level.MUST,
    requirement="The first event of a Messages stream is `message_start`, whose message has "
    "empty `content`.",
    spec=specs.ANTHROPIC_STREAMING_FLOW,
    quote="message_start: contains a Message object with empty content.",
    breaks=(f"{_SDK} (raises 'Unexpected event order' on any other first event)",),
    hint="Send `event: message_start` with the message shell (`content: []`) before anything else.",
    scenarios=STREAMS,
    api=API,
)
def start(t: MessagesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    if not t.dispatched:
        if t.error is not None:
            return skipped("the stream opens with an error; see messages.error-event")
        return failed("message_start first", "no message event at all")
    first = t.dispatched[0]
    if first.type != "message_start":
        return failed(
            "message_start first",
            f"{first.type} at byte {first.event.offset}",
            at=first.event.offset,
        )
    message = (first.value or {}).get("message")
    if not isinstance(message, dict):
        return failed(
            "message_start with a message object",
            f"message: {preview(repr(message))}",
            at=first.event.offset,
        )
    if message.get("content") != []:
        return failed(
            "message.content: [] in message_start",
            f"content: {preview(repr(message.get('content')))}: the SDK starts its snapshot "
            "with it, so every block index after it is off",
            at=first.event.offset,
        )
    return passed()


@rule(
    "messages.blocks",
    level=Level.MUST,
    requirement="Each content block's `index` is its position in the final content: "
    "`content_block_start` comes with the next index, and deltas and stops address "
    "started blocks with deltas of the block's kind.",
    spec=specs.ANTHROPIC_STREAMING_FLOW,
    quote="Each content block will have an index that corresponds to its index in the final "
    "Message content array.",
    breaks=(f"{_SDK} (appends each started block and applies a delta to content[index])",),
    hint="Number blocks 0, 1, 2 in the order they start; never reuse an index.",
    scenarios=STREAMS,
    api=API,
)
def blocks(t: MessagesView) -> Verdict:
    if (skip := no_messages_stream(t)) is not None:
        return skip
    started = 0
    kinds: list[str] = []
    for m in t.dispatched:
        value = m.value or {}
        index = value.get("index")
        at = m.event.offset
        if m.type == "content_block_start":
            if index != started:
                return failed(
                    f"content_block_start with index {started} (the next position)",
                    f"index {index!r} at byte {at}: the SDK appends the block at position "
                    f"{started}, so whatever addresses index {index!r} (deltas, the "
                    "block's stop) reaches another block",
                    at=at,
                )
            block = value.get("content_block")
            kinds.append(str(block.get("type")) if isinstance(block, dict) else "")
            started += 1
        elif m.type in ("content_block_delta", "content_block_stop"):
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < started:
                return failed(
                    f"{m.type} for a started block (0..{started - 1})",
                    f"index {index!r} at byte {at}: the SDK fails on content[{index!r}]",
                    at=at,
                )
            if m.type == "content_block_delta" and (problem := _delta_kind(kinds[index], value)):
                return failed("deltas of the block's own kind", f"{problem} at byte {at}", at=at)
    return passed(f"{started} blocks")


_DELTAS = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
}


def _delta_kind(block: str, value: dict[str, Any]) -> str:
    delta = value.get("delta")
    kind = delta.get("type") if isinstance(delta, dict) else None
    allowed = _DELTAS.get(block)
    if allowed is None or kind in allowed:
        return ""
    return f"a {kind!r} delta to a {block!r} block (the SDK drops it)"


@rule(
    "messages.block-order",
    level=Level.SHOULD,
    requirement="One content block is open at a time: each starts after the previous one "
    "stops, and deltas go to the open block.",
    spec=specs.ANTHROPIC_STREAMING_FLOW,
    quote="A series of content blocks, each of which have a content_block_start, one or more "
    "content_block_delta events, and a content_block_stop event.",
    hint="Stop each block before starting the next one; a translator that interleaves "
    "upstream deltas must buffer them per block.",
    scenarios=STREAMS,
    api=API,
)
def block_order(t: MessagesView) -> Verdict:
    if (skip := no_messages_stream(t)) is not None:
        return skip
    if blocks(t).outcome != "passed":
        return skipped("the block indices are wrong; see messages.blocks")
    open_index: int | None = None
    stopped: set[Any] = set()
    for m in t.dispatched:
        if m.type == "message_stop":
            break  # what follows it is messages.stop-reason's
        index = (m.value or {}).get("index")
        at = m.event.offset
        if m.type == "content_block_start":
            if open_index is not None:
                return failed(
                    "each block stopped before the next starts",
                    f"block {index} starts at byte {at} while block {open_index} is open",
                    at=at,
                )
            open_index = index
        elif m.type in ("content_block_delta", "content_block_stop"):
            if index != open_index or index in stopped:
                return failed(
                    "deltas and stops for the open block only",
                    f"{m.type} for block {index} at byte {at} while "
                    f"{'no block' if open_index is None else f'block {open_index}'} is open",
                    at=at,
                )
            if m.type == "content_block_stop":
                stopped.add(index)
                open_index = None
    if open_index is not None and t.message_stop is not None and reported_error(t) is None:
        at = t.message_stop.event.offset
        return failed("every block stopped", f"block {open_index} is open at message_stop", at=at)
    return passed()


@rule(
    "messages.stop-reason",
    level=Level.MUST,
    requirement="A Messages stream ends with a `message_delta` whose stop_reason is one of "
    "the API's (`max_tokens` when the limit cut it, no more output tokens than asked), then "
    "`message_stop` last.",
    spec=specs.ANTHROPIC_STREAMING_FLOW,
    quote="One or more message_delta events, indicating top-level changes to the final "
    "Message object. A final message_stop event.",
    breaks=(f"{_SDK} (the final message's stop_reason)", "agent loops that continue on tool_use"),
    hint="Send `message_delta` with `stop_reason` (end_turn, max_tokens, stop_sequence, "
    "tool_use) and the output tokens, then `message_stop`, and nothing after it.",
    scenarios=STREAMS,
    api=API,
)
def stop_reason(t: MessagesView) -> Verdict:
    if (skip := no_messages_stream(t)) is not None or (skip := reported_error(t)) is not None:
        return skip
    reason = t.stop_reason
    if not t.message_deltas or reason is None:
        return skipped("the stream ends without a stop_reason; see messages.error-event")
    last = t.message_deltas[-1].event.offset
    if reason not in STOP_REASONS:
        return failed(
            f"a stop_reason from {sorted(STOP_REASONS)}", f"{reason!r} at byte {last}", at=last
        )
    asked = t.asked_int("max_tokens", 0)
    used = t.output_tokens
    if isinstance(used, int) and asked and used > asked:
        return failed(
            f"at most max_tokens={asked} output tokens",
            f"usage.output_tokens {used} at byte {last}",
            at=last,
        )
    if isinstance(used, int) and asked and used >= asked and reason != "max_tokens":
        return failed(
            "stop_reason max_tokens: the answer used every token asked",
            f"{reason!r} with output_tokens {used} = max_tokens at byte {last}",
            at=last,
        )
    stop = t.message_stop
    if stop is None:
        return failed(
            "a final message_stop", f"the stream ends after message_delta at byte {last}", at=last
        )
    after = [m for m in t.dispatched if m.index > stop.index]
    if after or t.dispatched[-1].type != "message_stop":
        m = after[0]
        return failed(
            "message_stop last",
            f"{m.type} at byte {m.event.offset} after message_stop",
            at=m.event.offset,
        )
    return passed(f"stop_reason {reason!r}")


@rule(
    "messages.error-event",
    level=Level.MUST,
    requirement="A Messages stream that does not end with a stop_reason (a failure, a cut) "
    "says why in an `event: error` event.",
    spec=specs.ANTHROPIC_STREAMING_ERRORS,
    quote="We may occasionally send errors in the event stream.",
    breaks=(
        f"{_SDK} (raises only on `event: error`; otherwise returns the partial answer as final)",
    ),
    hint="On a failed generation send `event: error` with "
    '`{"type": "error", "error": {"type": "api_error", "message": ...}}`, not a '
    "message_delta with a null stop_reason.",
    scenarios=STREAMS,
    api=API,
)
def error_event(t: MessagesView) -> Verdict:
    if (skip := no_messages_stream(t)) is not None:
        return skip
    if t.error is not None:
        value = t.error.value or {}
        return (
            passed(f"the failure is reported: {preview(t.error.event.data)}")
            if value.get("type") == "error"
            else skipped("the error event's body is messages.error-schema's to judge")
        )
    if t.untyped_errors:
        return skipped("an error payload without `event: error`; see messages.event-type")
    if t.ending in CUT_BY_HARNESS:
        return skipped(f"the harness stopped reading ({t.ending_detail or t.ending})")
    if t.stop_reason is not None:
        return passed(f"no failure to report: stop_reason {t.stop_reason!r}")
    how = (
        "message_stop with a null stop_reason"
        if t.message_stop is not None
        else f"the body ended after {len(t.dispatched)} events with no message_stop"
    )
    last = t.events[-1].offset if t.events else 0
    return failed(
        "an `event: error` saying why the answer ended without a stop_reason",
        f"{how}, no error event: the SDK returns the partial answer as the final message",
        at=last,
    )


@rule(
    "messages.tool-input",
    level=Level.MUST,
    requirement="A tool_use block's joined `input_json_delta` pieces parse as a JSON object "
    "(or the block's start carries the whole input).",
    spec=specs.ANTHROPIC_STREAMING_TOOLS,
    quote="The deltas for tool_use content blocks correspond to updates for the input field "
    "of the block.",
    breaks=(f"{_SDK} (parses the joined pieces as the tool input)",),
    hint="Stream the arguments as `input_json_delta` pieces of one JSON object.",
    scenarios=("messages-tools",),
    api=API,
)
def tool_input(t: MessagesView) -> Verdict:
    if (skip := no_messages_stream(t)) is not None or (skip := reported_error(t)) is not None:
        return skip
    tools = [b for b in t.blocks if b.type == "tool_use"]
    if not tools:
        return skipped("the answer has no tool_use block (the model chose text)")
    for b in tools:
        at = b.start.event.offset
        if not b.partial_json:
            start_input = b.value.get("input")
            if isinstance(start_input, dict):
                continue
            return failed(
                "a JSON object as the tool input",
                f"no input pieces and input {start_input!r}",
                at=at,
            )
        parsed = _object(b.partial_json)
        if parsed is None:
            return failed(
                "joined input_json_delta pieces that parse as a JSON object",
                f"{preview(b.partial_json)!r} (block {b.position} at byte {at})",
                at=at,
            )
    return passed(f"{len(tools)} tool_use block(s)")


@rule(
    "messages.usage",
    level=Level.SHOULD,
    requirement="`message_start` carries the prompt's real `input_tokens` (above 0) and the "
    "last `message_delta` the `output_tokens`.",
    spec=specs.ANTHROPIC_STREAMING_FLOW,
    quote="The token counts shown in the usage field of the message_delta event are cumulative.",
    hint="Count the prompt before streaming and put it in message_start's usage.",
    scenarios=STREAMS,
    api=API,
)
def usage(t: MessagesView) -> Verdict:
    if (skip := no_messages_stream(t)) is not None or (skip := reported_error(t)) is not None:
        return skip
    at = t.start.event.offset if t.start else 0
    inputs = t.input_tokens
    if not isinstance(inputs, int) or isinstance(inputs, bool) or inputs < 1:
        return failed("message_start usage.input_tokens above 0", f"input_tokens {inputs!r}", at=at)
    if not t.message_deltas:
        return skipped("no message_delta; see messages.error-event")
    outputs = t.output_tokens
    has_content = any(b.deltas for b in t.blocks)
    if not isinstance(outputs, int) or isinstance(outputs, bool) or (has_content and outputs < 1):
        at = t.message_deltas[-1].event.offset
        return failed(
            "message_delta usage.output_tokens above 0", f"output_tokens {outputs!r}", at=at
        )
    return passed(f"{inputs} input, {outputs} output tokens")


@rule(
    "messages.schema",
    level=Level.SHOULD,
    requirement="Every event's data, and a non-stream answer, validates against the Messages "
    "API's types (anthropic-python's RawMessageStreamEvent and Message).",
    spec=specs.ANTHROPIC_STREAMING_EVENTS,
    hint="Compare each event with the shapes in Anthropic's streaming docs (see "
    "schemas/messages-events.schema.json).",
    scenarios=ANSWERS,
    api=API,
)
def schema(t: MessagesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    if not t.is_stream:
        body = t.json()
        if not isinstance(body, dict):
            return failed("a JSON object", f"{preview(t.body.decode('utf-8', 'replace'))}")
        problems = validate("messages-message", body)
        if problems:
            return failed("a valid Message", "; ".join(p.message for p in problems))
        return passed()
    for m in t.dispatched:
        if m.value is None:
            return skipped(
                f"data at byte {m.event.offset} is not a JSON object; see messages.event-type"
            )
        problems = validate("messages-events", m.value)
        if problems:
            shown = "; ".join(p.message for p in problems[:3])
            return failed(
                f"a valid {m.type} event", f"{shown} (byte {m.event.offset})", at=m.event.offset
            )
    return passed()


@rule(
    "messages.error-status",
    level=Level.MUST,
    requirement="An invalid Messages request (bad JSON, no max_tokens, an unknown model) gets "
    "a 4xx status, not a 200 or a 5xx.",
    spec=specs.ANTHROPIC_ERRORS,
    quote="400 - invalid_request_error: There was an issue with the format or content of your "
    "request.",
    breaks=(f"{_SDK} (retries a 5xx twice, then raises InternalServerError, not BadRequestError)",),
    hint="Validate the body before generating and answer 400 (404 for an unknown model).",
    scenarios=ERRORS,
    api=API,
)
def error_status(t: MessagesView) -> Verdict:
    if t.status is None:
        return failed("a 4xx answer", f"no response: {t.ending} {t.ending_detail}")
    if 400 <= t.status < 500:
        return passed(f"HTTP {t.status}")
    if t.status == 200 and t.request_json is not None and t.asked("max_tokens") is None:
        # A server that fills in a default max_tokens is lenient, not broken: the
        # SDK always sends one, so no client meets the difference.
        return skipped("HTTP 200: the server accepts a request without max_tokens (a default)")
    body = preview(t.body.decode("utf-8", "replace")) or "an empty body"
    return failed("a 4xx answer", f"HTTP {t.status} with {body}", at=0)


@rule(
    "messages.error-schema",
    level=Level.SHOULD,
    requirement='Errors are `{"type": "error", "error": {"type", "message"}}` (a JSON body, '
    "or the data of `event: error`).",
    spec=specs.ANTHROPIC_ERRORS,
    quote="Our API follows a predictable HTTP error code format",
    hint='Answer errors with `{"type": "error", "error": {"type": "invalid_request_error", '
    '"message": "..."}}`; a FastAPI app needs an exception handler for RequestValidationError.',
    scenarios=(*ERRORS, *STREAMS),
    api=API,
)
def error_schema(t: MessagesView) -> Verdict:
    if t.status is None:
        return skipped(f"no response ({t.ending}); see messages.error-status")
    if t.status == 200:
        if t.error is None:
            return skipped("no error to judge")
        value, at = t.error.value, t.error.event.offset
    elif t.status >= 500:
        return skipped(f"HTTP {t.status}: see messages.error-status")
    else:
        value, at = t.json(), 0
    if not isinstance(value, dict):
        shown = preview(t.body.decode("utf-8", "replace")) if t.status != 200 else "not JSON"
        return failed('{"type": "error", "error": {...}}', f"HTTP {t.status}: {shown}", at=at)
    problems = validate("messages-error", value)
    if problems:
        return failed(
            '{"type": "error", "error": {"type", "message"}}',
            f"{preview(repr(value), 120)}: {problems[0].message}",
            at=at,
        )
    return passed()
