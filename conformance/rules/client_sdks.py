"""What real clients see: anthropic-python and ollama-python read the stream.

The Messages and Ollama stream scenarios keep what the SDK made of their
replayed recording (``conformance.scenarios.sdks``); each rule compares it
with the harness's own reading and names the SDK behaviour that broke.  A
failure the stream reported properly (``event: error``, an ``error`` line)
is one the SDK should raise on: that is a pass.
"""

from __future__ import annotations

from typing import Any

from ..scenarios.sdks import ANTHROPIC_RELATED, INSTALL_HINT, OLLAMA_RELATED, SdkResult
from ..view import View
from ..view_messages import MessagesView
from ..view_ollama import OllamaView
from . import specs
from .common import preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__: list[str] = []


def _result(t: View, name: str) -> SdkResult | Verdict:
    if t.status != 200:
        return skipped(f"no stream to read: HTTP {t.status}")
    found = t.transcript.other(name)
    result = SdkResult.from_json(found.json()) if found is not None else None
    if result is None:
        return skipped(f"no {name} run was recorded for this scenario")
    if not result.installed:
        return skipped(f"the {result.sdk} SDK is not installed: {INSTALL_HINT}")
    if result.not_run:
        return skipped(f"the SDK was not run: {result.not_run}")
    return result


def _blocks(content: Any) -> list[tuple[str, Any]]:
    """The parts of a message's content that a client acts on."""
    out: list[tuple[str, Any]] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            out.append(("text", block.get("text")))
        elif kind == "tool_use":
            out.append(("tool_use", (block.get("name"), block.get("input"))))
        elif kind == "thinking":
            out.append(("thinking", block.get("thinking")))
        else:
            out.append((str(kind), None))
    return out


def _anthropic_cause(t: MessagesView, error: str) -> str:
    if t.start is None:
        return "the first event is not message_start (messages.start)"
    if "index" in error.lower() or "IndexError" in error:
        return "a delta addresses a content index that was never started (messages.blocks)"
    if t.untyped_errors:
        return "an error payload without `event: error` (messages.event-type)"
    return ""


@rule(
    "client.anthropic-sdk",
    level=Level.SHOULD,
    requirement="anthropic-python streams the answer to its final message without an "
    "exception, to the same content, stop_reason and output tokens as the recorded events.",
    spec=specs.ANTHROPIC_SDK_ACCUMULATOR,
    hint="Follow the event flow of Anthropic's streaming docs; reproduce with "
    f"`{INSTALL_HINT}` and `client.messages.stream(...)`.",
    scenarios=("messages-stream", "messages-tools"),
    api="messages",
)
def anthropic_sdk(t: MessagesView) -> Verdict:
    run = _result(t, ANTHROPIC_RELATED)
    if isinstance(run, Verdict):
        return run
    if run.error_type:
        if t.error is not None:
            return passed(f"the SDK raised {run.error_type} on the stream's event: error")
        cause = _anthropic_cause(t, f"{run.error_type} {run.error}")
        why = f"\nwhy: {cause}" if cause else ""
        return failed(
            "the SDK reads the stream to its final message",
            f"the SDK raised {run.error_type}: {preview(run.error, 200)} after {run.parts} "
            f"events{why}",
        )
    ours = t.final_message() or {}
    theirs = run.final if isinstance(run.final, dict) else {}
    for field in ("stop_reason",):
        if ours.get(field) != theirs.get(field):
            return failed(
                f"the SDK's {field} equals the recorded one",
                f"SDK {theirs.get(field)!r}, recorded {ours.get(field)!r}",
            )
    if _blocks(ours.get("content")) != _blocks(theirs.get("content")):
        return failed(
            "the SDK's content equals the recorded blocks",
            f"SDK {preview(repr(_blocks(theirs.get('content'))), 200)}, recorded "
            f"{preview(repr(_blocks(ours.get('content'))), 200)}",
        )
    return passed(f"anthropic {run.version}: {run.parts} events, the same final message")


@rule(
    "client.ollama-sdk",
    level=Level.SHOULD,
    requirement="ollama-python streams the answer to its last part without an exception, to "
    "the same content, tool calls and done_reason as the recorded lines.",
    spec=specs.OLLAMA_SDK_CLIENT,
    hint="One JSON object per line, tool-call arguments as objects, errors as "
    f'`{{"error": ...}}` lines; reproduce with `{INSTALL_HINT}` and '
    "`ollama.AsyncClient().chat(..., stream=True)`.",
    scenarios=("ollama-stream", "ollama-tools"),
    api="ollama",
)
def ollama_sdk(t: OllamaView) -> Verdict:
    run = _result(t, OLLAMA_RELATED)
    if isinstance(run, Verdict):
        return run
    if run.error_type:
        if t.error_line is not None and "ResponseError" in run.error_type:
            return passed("the SDK raised ResponseError on the stream's error line")
        cause = ""
        if "ValidationError" in run.error_type:
            cause = (
                "\nwhy: a line does not fit ChatResponse (string tool arguments: "
                "see ollama.tool-arguments)"
            )
        elif "JSONDecodeError" in run.error_type:
            cause = "\nwhy: a line is not JSON as httpx's iter_lines splits it (see ollama.lines)"
        return failed(
            "the SDK reads the stream to its last part",
            f"the SDK raised {run.error_type}: {preview(run.error, 200)} after {run.parts} "
            f"parts{cause}",
        )
    theirs = run.final if isinstance(run.final, dict) else {}
    ours_content = t.content()
    if theirs.get("content") != ours_content:
        return failed(
            "the SDK's content equals the joined recorded content",
            f"SDK {preview(str(theirs.get('content')))!r}, recorded {preview(ours_content)!r}",
        )
    ours_calls = [
        {"name": c["function"].get("name"), "arguments": c["function"].get("arguments")}
        for _, c in t.tool_calls()
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    ]
    if theirs.get("tool_calls") != ours_calls:
        return failed(
            "the SDK's tool calls equal the recorded ones",
            f"SDK {preview(repr(theirs.get('tool_calls')))}, recorded {preview(repr(ours_calls))}",
        )
    return passed(f"ollama {run.version}: {run.parts} parts, the same answer")
