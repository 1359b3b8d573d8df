"""EXO's ``POST /v1/cancel/{command_id}``: a cancelled stream ends soon and says so.

EXO closes the command's channel, so the stream's generator ends at its next
token; what a client then reads must not look like a finished answer (a chat
finish_reason, a Messages stop_reason of a completed answer).  A target that
does not serve the endpoint is skipped, saying so; Ollama streams carry no
command id, so they cannot be cancelled this way.
"""

from __future__ import annotations

from ..capture.transcript import Event
from ..scenarios.cancel import CANCEL_RELATED, UNKNOWN_RELATED
from ..view import ChatView, View, is_done
from ..view_messages import SUCCESS_STOP_REASONS, MessagesView
from . import specs
from .common import preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["CANCEL_BOUND_S"]

#: How soon after the cancel is answered the stream must end.  EXO stops at the
#: next token; the bound leaves room for a slow token and a loaded host.
CANCEL_BOUND_S = 5.0
SCENARIOS = ("cancel-chat", "messages-cancel")
APIS = ("chat", "messages")
#: Chat finish reasons of an answer that ended as generated.
_FINISHED = frozenset({"stop", "length", "tool_calls", "function_call", "content_filter"})


def _accepted(t: View) -> Verdict | None:
    """A skip unless the stream ran and its cancel was accepted (2xx)."""
    if t.status != 200:
        return skipped(f"the stream was not served (HTTP {t.status}); see the stream rules")
    cancel = t.transcript.other(CANCEL_RELATED)
    if cancel is None:
        return skipped(
            "the stream showed no command id before its content ended, so it was not "
            "cancelled (EXO shows it as the chunk id, or message.id after msg_)"
        )
    if cancel.status is None or not 200 <= cancel.status < 300:
        shown = f"HTTP {cancel.status}" if cancel.status is not None else str(cancel.ending)
        return skipped(
            f"POST /v1/cancel/{{id}} for the running stream answered {shown}: the target does "
            "not serve EXO's cancel endpoint (or the stream had already ended)"
        )
    return None


def _trigger(t: View) -> Event | None:
    """The event the cancel was sent after: the first content."""
    if isinstance(t, MessagesView):
        return next((m.event for m in t.dispatched if m.type == "content_block_delta"), None)
    if isinstance(t, ChatView):
        for event, chunk in t.chunks():
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict) and delta.get("content"):
                    return event
    return None


def _end_ns(t: View) -> int:
    """When the stream ended in its API's terms ([DONE], message_stop, an error), or
    the body's end; a body held open after that is stream.closes' business."""
    for e in t.events:
        if is_done(e) or e.type in ("message_stop", "error"):
            return e.t_ns
    return t.t_end_ns


@rule(
    "cancel.ends",
    level=Level.SHOULD,
    requirement=f"A stream cancelled through `POST /v1/cancel/{{id}}` ends within "
    f"{CANCEL_BOUND_S:g} s of the cancel's answer.",
    spec=specs.EXO_CANCEL,
    quote="Cancel an active command by closing its stream and notifying workers.",
    hint="On cancel, stop the generation and end the stream at once (close the channel "
    "the stream's generator reads).",
    scenarios=SCENARIOS,
    api=APIS,
)
def ends(t: View) -> Verdict:
    if (skip := _accepted(t)) is not None:
        return skip
    trigger = _trigger(t)
    cancel = t.transcript.other(CANCEL_RELATED)
    if trigger is None or cancel is None:
        return skipped("no content event to time the cancel from")
    if not t.ended_cleanly and _end_ns(t) == t.t_end_ns:
        return failed(
            f"the stream ends within {CANCEL_BOUND_S:g} s of the cancel",
            f"the exchange ended {t.ending}: {t.ending_detail}",
        )
    # The cancel was sent after the trigger arrived, so this over-counts by the
    # harness's own delay in sending it: it errs against the server, by little.
    after_s = (_end_ns(t) - trigger.t_ns - cancel.t_end_ns) / 1e9
    if after_s > CANCEL_BOUND_S:
        return failed(
            f"the stream ends within {CANCEL_BOUND_S:g} s of the cancel",
            f"it ended {after_s:.1f} s after the cancel was answered",
            at=trigger.offset,
        )
    return passed(f"ended {max(after_s, 0.0):.2f} s after the cancel was answered")


@rule(
    "cancel.marked",
    level=Level.SHOULD,
    requirement="A cancelled stream does not end like a finished answer: no chat "
    "finish_reason, no Messages stop_reason of a completed answer (null, or an error event).",
    spec=specs.EXO_CANCEL,
    hint="End a cancelled chat stream without a finish_reason (or with an error event), "
    "and a Messages stream with `stop_reason: null` or `event: error`.",
    scenarios=SCENARIOS,
    api=APIS,
)
def marked(t: View) -> Verdict:
    if (skip := _accepted(t)) is not None:
        return skip
    if ends(t).outcome == "failed":
        return skipped("the stream did not end when cancelled; see cancel.ends")
    if isinstance(t, MessagesView):
        if t.error is not None:
            return passed(f"an error event: {preview(t.error.event.data)}")
        reason = t.stop_reason
        if reason in SUCCESS_STOP_REASONS:
            at = t.message_deltas[-1].event.offset
            return failed(
                "a stop_reason that is not a completed answer's (null), or an error event",
                f"stop_reason {reason!r} at byte {at}: the client takes the cut answer as whole",
                at=at,
            )
        return passed(f"stop_reason {reason!r}")
    if isinstance(t, ChatView):
        if t.errors:
            return passed("an error event")
        for event, chunk in t.chunks():
            for choice in chunk.get("choices") or []:
                reason = choice.get("finish_reason") if isinstance(choice, dict) else None
                if reason in _FINISHED:
                    return failed(
                        "no finish_reason of a finished answer",
                        f"finish_reason {reason!r} at byte {event.offset}: the client takes "
                        "the cut answer as whole",
                        at=event.offset,
                    )
        return passed("no finish_reason")
    return skipped("not a chat or Messages stream")


@rule(
    "cancel.unknown-id",
    level=Level.SHOULD,
    requirement="Cancelling an unknown command id gets 404 with a JSON error body.",
    spec=specs.EXO_CANCEL,
    quote='raise HTTPException(status_code=404, detail="Command not found or already completed")',
    hint="Answer an id with no running command with 404 and an error message.",
    scenarios=SCENARIOS,
    api=APIS,
)
def unknown_id(t: View) -> Verdict:
    if (skip := _accepted(t)) is not None:
        return skip
    answer = t.transcript.other(UNKNOWN_RELATED)
    if answer is None:
        return skipped("the unknown id was not sent")
    shown = preview(answer.body.decode("utf-8", "replace")) or "an empty body"
    if answer.status != 404:
        return failed("HTTP 404", f"HTTP {answer.status} with {shown}", source=UNKNOWN_RELATED)
    body = answer.json()
    error = body.get("error", body.get("detail")) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message:
        return failed("a JSON error body with a message", shown, source=UNKNOWN_RELATED)
    return passed(f"404: {preview(message)}")
