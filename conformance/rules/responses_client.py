"""What real clients see of a Responses stream: openai-python's ``responses.stream()``.

Each Responses stream scenario keeps what the SDK made of its replayed
recording (``conformance.scenarios.responses_client``); the rule compares it
with what the harness read and names the SDK behaviour that broke it, read
from the recorded stream.
"""

from __future__ import annotations

import json

from ..scenarios.client import INSTALL_HINT
from ..scenarios.responses import STREAMS
from ..scenarios.responses_client import SDK_RESPONSES, ResponsesSdkRun
from ..schemas import validate
from ..view_responses import ResponsesView
from . import specs
from .common import preview
from .consistency import divergence
from .registry import Level, Verdict, failed, passed, rule, skipped
from .responses_common import API, no_events, where
from .responses_consistency import output_text

__all__: list[str] = []

#: The indexes the SDK's accumulator looks items and parts up by, per delta type.
_LOOKUPS = {
    "response.output_text.delta": ("output_index", "content_index"),
    "response.function_call_arguments.delta": ("output_index",),
}


def _missing_field(t: ResponsesView) -> str:
    for ev in t.read:
        gone = [f for f in _LOOKUPS.get(ev.type or "", ()) if f not in ev.data]
        if gone:
            return (
                f"{where(ev)} has no {', '.join(gone)}: the SDK looks its item (and part) "
                "up by these and raises"
            )
    return ""


def _cause(t: ResponsesView) -> str:
    """Which SDK behaviour the recorded stream trips, or ""."""
    if t.read and t.read[0].type != "response.created":
        return (
            f"the first event is {t.read[0].type!r}: the SDK's accumulator starts from "
            "response.created and raises RuntimeError on anything else"
        )
    if t.duplicate_items:
        ev = t.duplicate_items[0]
        return f"{where(ev)} adds output_index {ev.output_index} again: the SDK raises"
    if t.orphans:
        orphan = t.orphans[0]
        return (
            f"{where(orphan.event)}: {orphan.reason}: the SDK looks the item (and part) up "
            "by its index and raises"
        )
    if missing := _missing_field(t):
        return missing
    if t.terminal is None:
        return (
            "no terminal event: get_final_response() raises RuntimeError (Didn't receive a "
            "`response.completed` event)"
        )
    return _final_cause(t)


def _final_cause(t: ResponsesView) -> str:
    end = t.terminal
    if end is None or end.type != "response.completed":
        return ""
    response = t.final_response or {}
    if validate("responses-response", response):
        return "the completed response does not validate (see responses.schema)"
    for entry in response.get("output") or []:
        if isinstance(entry, dict) and entry.get("type") == "function_call":
            try:
                json.loads(str(entry.get("arguments")))
            except ValueError:
                return (
                    f"function_call {entry.get('name')!r} has arguments that are not JSON: on "
                    "response.completed the SDK json.loads the arguments of every call to a "
                    "strict tool and raises (see responses.tool-call)"
                )
    if output_text(response) != t.streamed_text:
        return (
            "get_final_response() returns the terminal response's own output, whose text "
            "differs from the streamed deltas"
        )
    return ""


def _why(actual: str, cause: str) -> str:
    return f"{actual}\nwhy: {cause}" if cause else actual


def _run(t: ResponsesView) -> ResponsesSdkRun | Verdict:
    sdk = t.twin(SDK_RESPONSES)
    run = ResponsesSdkRun.from_json(sdk.json()) if sdk is not None else None
    if run is None:
        return skipped("no openai SDK run was recorded for this stream")
    if not run.installed:
        return skipped(f"the openai SDK is not installed: {INSTALL_HINT}")
    if not run.supported:
        return skipped(
            f"openai {run.version} has no responses.stream(): pip install 'openai>=1.66'"
        )
    if run.not_run:
        return skipped(f"the SDK was not run: {run.not_run}")
    return run


@rule(
    "client.openai-responses",
    level=Level.SHOULD,
    requirement="openai-python's `responses.stream()` reads the stream without an "
    "exception, its text deltas join to the streamed text, and (for a completed response) "
    "`get_final_response()` gives the same text.",
    spec=specs.OPENAI_PYTHON_RESPONSES_STREAM,
    quote='if event.type != "response.created": raise RuntimeError(...) ... '
    "Didn't receive a `response.completed` event.",
    breaks=("openai-python responses.stream()", "the OpenAI Agents SDK (built on it)"),
    hint="Send the events in their lifecycle order with every field the SDK reads "
    f"(see responses.schema), and end with response.completed. Reproduce with `{INSTALL_HINT}` "
    "and `client.responses.stream(...)`.",
    scenarios=STREAMS,
    api=API,
)
def openai_responses(t: ResponsesView) -> Verdict:
    if (skip := no_events(t)) is not None:
        return skip
    run = _run(t)
    if isinstance(run, Verdict):
        return run
    cause = _cause(t)
    if run.timed_out:
        return failed(
            "the SDK finishes the stream",
            _why(f"the SDK was still reading after {run.deadline_s:g} s", cause),
        )
    if run.error_type:
        return failed(
            "responses.stream() reads to the end without an exception",
            _why(f"the SDK raised {run.error_type}: {preview(run.error, 200)} after "
                 f"{run.events} events", cause),
        )  # fmt: skip
    streamed = t.streamed_text
    if run.text != streamed:
        return failed(
            "the SDK's text deltas join to the streamed text",
            _why(divergence(run.text, streamed, ("SDK", "recorded")), cause),
        )
    end = t.terminal.type if t.terminal is not None else None
    if end in ("response.incomplete", "response.failed"):
        # get_final_response() raises on them by design: the caller learns the truth.
        return passed(f"openai {run.version}: {run.events} events, the same text; {end}")
    if run.final_error_type:
        return failed(
            "get_final_response() returns the completed response",
            _why(f"it raised {run.final_error_type}: {preview(run.final_error, 200)}", cause),
        )
    if run.final_text != streamed:
        return failed(
            "get_final_response().output_text equal to the streamed text",
            _why(divergence(run.final_text or "", streamed, ("final", "streamed")), cause),
        )
    return passed(f"openai {run.version}: {run.events} events, the same {len(streamed)} characters")
