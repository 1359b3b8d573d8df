"""Stream versus non-stream: the same request must give the same answer both ways.

The ``consistency`` scenario sends one deterministic request (temperature 0, a
fixed seed, a small ``max_tokens``, a prompt that asks for multi-byte text)
streaming and then twice non-streaming; ``consistency-tools`` does the same
with a function tool.  The second non-stream answer is the control: when the
two non-stream answers differ the endpoint is not deterministic, a difference
would prove nothing, and every rule here skips and says where they diverged.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..capture.transcript import Event
from ..scenarios.consistency import NONSTREAM, REPEAT, SCENARIO, TOOLS_SCENARIO
from ..view import ChatView
from . import specs
from .common import no_stream, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = [
    "Answer",
    "ToolCall",
    "divergence",
    "escape",
    "joined_content",
]

#: Characters of text shown on each side of the first difference.
CONTEXT_CHARS = 30


# -- answers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call, as a client assembles it."""

    id: str
    type: str | None
    name: str
    arguments: str

    def show(self) -> str:
        return f"{self.type or '(no type)'} {self.name}({preview(self.arguments, 60)})"


@dataclass(frozen=True, slots=True)
class Answer:
    """What one exchange answered in its first choice: the parts compared here."""

    content: str
    finish_reason: str | None
    completion_tokens: int | None
    model: str | None
    tool_calls: tuple[ToolCall, ...]


def _first_choice(choices: Any) -> dict[str, Any] | None:
    for choice in choices if isinstance(choices, list) else []:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None


def _delta(chunk: dict[str, Any]) -> dict[str, Any]:
    """The delta of the chunk's first choice ({} when it has none)."""
    delta = (_first_choice(chunk.get("choices")) or {}).get("delta")
    return delta if isinstance(delta, dict) else {}


def _completion_tokens(value: Any) -> int | None:
    tokens = value.get("completion_tokens") if isinstance(value, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def joined_content(t: ChatView) -> str:
    """The ``delta.content`` of the first choice, joined across the stream."""
    return "".join(text for _, _, text in _content_pieces(t))


def _content_pieces(t: ChatView) -> list[tuple[int, int, str]]:
    """(byte offset, character index, text) of every content delta of choice 0."""
    pieces: list[tuple[int, int, str]] = []
    at = 0
    for event, chunk in t.chunks():
        text = _delta(chunk).get("content")
        if isinstance(text, str) and text:
            pieces.append((_key_at(t, event, "content"), at, text))
            at += len(text)
    return pieces


def _key_at(t: ChatView, event: Event, key: str) -> int:
    """Offset of ``"key"`` in the event's bytes (the event's start when it is not there)."""
    found = t.body.find(f'"{key}"'.encode(), event.offset, event.end)
    return found if found >= 0 else event.offset


def _event_at_char(t: ChatView, index: int) -> int | None:
    """Byte offset of the delta that carried character ``index`` (or of the last one)."""
    pieces = _content_pieces(t)
    for offset, start, text in pieces:
        if start <= index < start + len(text):
            return offset
    return pieces[-1][0] if pieces else None


def stream_answer(t: ChatView) -> Answer:
    """The answer a client assembles from the stream's chunks."""
    model: str | None = None
    finish: str | None = None
    tokens: int | None = None
    fragments: list[dict[str, Any]] = []
    for _, chunk in t.chunks():
        model = model or _str(chunk.get("model"))
        counted = _completion_tokens(chunk.get("usage"))
        tokens = tokens if counted is None else counted
        choice = _first_choice(chunk.get("choices")) or {}
        finish = finish or _str(choice.get("finish_reason"))
        calls = _delta(chunk).get("tool_calls")
        fragments += [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    return Answer(joined_content(t), finish, tokens, model, _assemble(fragments))


def _assemble(fragments: list[dict[str, Any]]) -> tuple[ToolCall, ...]:
    """Tool calls from streamed fragments, by ``index``.

    The first fragment of a call carries its id, type and name; later ones add
    pieces of ``function.arguments``.  A repeated name is concatenated, as the
    openai SDK's own accumulator does, so a server that resends it shows up.
    """
    calls: dict[int, dict[str, str]] = {}
    for position, fragment in enumerate(fragments):
        index = fragment.get("index", position)
        call = calls.setdefault(
            index if isinstance(index, int) else position,
            {"id": "", "type": "", "name": "", "arguments": ""},
        )
        function = fragment.get("function")
        function = function if isinstance(function, dict) else {}
        call["id"] = call["id"] or _str(fragment.get("id")) or ""
        call["type"] = call["type"] or _str(fragment.get("type")) or ""
        call["name"] += _str(function.get("name")) or ""
        call["arguments"] += _str(function.get("arguments")) or ""
    return tuple(
        ToolCall(c["id"], c["type"] or None, c["name"], c["arguments"])
        for _, c in sorted(calls.items())
    )


def completion_answer(body: dict[str, Any]) -> Answer:
    """The answer of a non-stream ``chat.completion`` body."""
    choice = _first_choice(body.get("choices")) or {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    calls = message.get("tool_calls")
    return Answer(
        _str(message.get("content")) or "",
        _str(choice.get("finish_reason")),
        _completion_tokens(body.get("usage")),
        _str(body.get("model")),
        tuple(_tool_call(c) for c in calls if isinstance(c, dict))
        if isinstance(calls, list)
        else (),
    )


def _tool_call(call: dict[str, Any]) -> ToolCall:
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    return ToolCall(
        _str(call.get("id")) or "",
        _str(call.get("type")),
        _str(function.get("name")) or "",
        _str(function.get("arguments")) or "",
    )


# -- showing a difference -------------------------------------------------------


def escape(text: str) -> str:
    """``text`` quoted, with invisible and combining characters spelled out."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and unicodedata.category(ch)[0] != "M":
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return '"' + "".join(out) + '"'


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _continuation(text: str, at: int, width: int) -> str:
    if at >= len(text):
        return "(ends here)"
    tail = "..." if at + width < len(text) else ""
    return escape(text[at : at + width]) + tail


def divergence(first: str, second: str, names: tuple[str, str], width: int = CONTEXT_CHARS) -> str:
    """Where two texts part: the character index, the shared text before it, both after."""
    at = _first_difference(first, second)
    lead = "..." if at > width else ""
    label = max(len(n) for n in names) + len(" continues:")
    lines = [
        f"the texts diverge at character {at} ({names[0]}: {len(first)} characters, "
        f"{names[1]}: {len(second)}), after {lead}{escape(first[max(0, at - width) : at])}",
    ]
    for name, text in zip(names, (first, second), strict=True):
        lines.append(f"  {name + ' continues:':<{label}} {_continuation(text, at, width)}")
    return "\n".join(lines)


def show_calls(calls: tuple[ToolCall, ...]) -> str:
    return "; ".join(f"#{i} {c.show()}" for i, c in enumerate(calls)) or "no tool calls"


# -- the gate every rule passes through ------------------------------------------


def _answer_of(t: ChatView | None, name: str) -> Answer | Verdict:
    """The answer of a related non-stream exchange, or a skip saying why there is none."""
    if t is None:
        return skipped(f"no {name} exchange was recorded")
    if t.status != 200:
        got = f"HTTP {t.status}" if t.status is not None else f"no response ({t.ending})"
        return skipped(f"the {name} request got {got}{_error_text(t)}; nothing to compare")
    body = t.json()
    if not isinstance(body, dict) or _first_choice(body.get("choices")) is None:
        return skipped(
            f"the {name} answer is not a chat.completion with a first choice; see completion.schema"
        )
    return completion_answer(body)


def _error_text(t: ChatView) -> str:
    body = t.json()
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return f": {preview(str(message))}" if message else ""


def _calls_key(calls: tuple[ToolCall, ...]) -> list[tuple[str | None, str, Any]]:
    """Tool calls without their ids (fresh on every response), arguments as JSON."""
    return [(c.type, c.name, _arguments_value(c.arguments)) for c in calls]


def _arguments_value(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def differences(a: Answer, b: Answer, names: tuple[str, str]) -> str | None:
    """The first way two answers differ, in words; None when they agree."""
    if a.content != b.content:
        return "content: " + divergence(a.content, b.content, names)
    if _calls_key(a.tool_calls) != _calls_key(b.tool_calls):
        return (
            f"tool calls: {names[0]}: {show_calls(a.tool_calls)}; "
            f"{names[1]}: {show_calls(b.tool_calls)}"
        )
    pairs = (
        ("finish_reason", a.finish_reason, b.finish_reason),
        ("usage.completion_tokens", a.completion_tokens, b.completion_tokens),
        ("model", a.model, b.model),
    )
    for field, x, y in pairs:
        if x != y:
            return f"{field}: {names[0]} {x!r}, {names[1]} {y!r}"
    return None


def compare(t: ChatView) -> tuple[Answer, Answer] | Verdict:
    """(stream answer, non-stream answer), or the skip that stops every rule."""
    if (skip := no_stream(t)) is not None:
        return skip
    if not t.chunks():
        return skipped("the stream has no chunks to join; see chunk.schema")
    single = _answer_of(t.other(NONSTREAM), "non-stream")
    repeat = _answer_of(t.other(REPEAT), "repeated non-stream")
    if isinstance(single, Verdict):
        return single
    if isinstance(repeat, Verdict):
        return skipped(f"{repeat.message}, so determinism cannot be confirmed")
    spread = differences(single, repeat, ("first", "repeat"))
    if spread is not None:
        return skipped(
            "the endpoint is not deterministic at temperature 0 with a fixed seed: "
            "two identical non-stream requests answered differently, so a "
            f"stream/non-stream difference would prove nothing.\n{spread}"
        )
    return stream_answer(t), single


# -- rules ------------------------------------------------------------------------

_HINT_ONE_PATH = (
    "Serve both modes from one generation path: build the non-stream answer by "
    "joining the same tokens the stream sends, and keep sampling options "
    "(temperature, seed, max_tokens) identical in both."
)


@rule(
    "consistency.content",
    level=Level.SHOULD,
    requirement="The joined stream deltas equal the non-stream message content for the same "
    "request (temperature 0, same seed), multi-byte text included.",
    spec=specs.OPENAI_SEED,
    hint=_HINT_ONE_PATH + " Decode UTF-8 on whole characters: a detokenizer or proxy that "
    "decodes each read on its own turns a split character into U+FFFD.",
    scenarios=(SCENARIO,),
)
def content(t: ChatView) -> Verdict:
    pair = compare(t)
    if isinstance(pair, Verdict):
        return pair
    stream, single = pair
    if stream.content == single.content:
        return passed(f"{len(stream.content)} characters, the same both ways")
    at = _first_difference(stream.content, single.content)
    return failed(
        f"the joined deltas equal the non-stream content ({len(single.content)} characters)",
        divergence(stream.content, single.content, ("stream", "non-stream")),
        at=_event_at_char(t, at),
    )


def _same(field: str, stream: Any, single: Any, at: int | None) -> Verdict:
    if stream == single:
        return passed(f"{field} {stream!r} both ways")
    return failed(
        f"the same {field} both ways ({single!r}, as the non-stream answer)",
        f"stream: {stream!r}; non-stream: {single!r}",
        at=at,
    )


def _locate(
    t: ChatView, key: str, found: Callable[[dict[str, Any]], Any], *, last: bool = False
) -> int | None:
    """Where ``"key"`` is in the first (or last) chunk for which ``found`` is true."""
    hits = [event for event, chunk in t.chunks() if found(chunk)]
    return _key_at(t, hits[-1] if last else hits[0], key) if hits else None


def _compare_field(
    t: ChatView,
    label: str,
    attr: str,
    missing: tuple[str, str],
    locate: Callable[[], int | None],
) -> Verdict:
    """One field of the stream against the non-stream answer; a skip when either lacks it."""
    pair = compare(t)
    if isinstance(pair, Verdict):
        return pair
    ours, theirs = (getattr(side, attr) for side in pair)
    if ours is None:
        return skipped(missing[0])
    if theirs is None:
        return skipped(missing[1])
    return _same(label, ours, theirs, locate())


@rule(
    "consistency.finish-reason",
    level=Level.SHOULD,
    requirement="The stream's finish_reason equals the non-stream finish_reason.",
    spec=specs.OPENAI_CHAT_FINISH_REASON,
    hint=_HINT_ONE_PATH + " Take finish_reason from the generation's end in both modes "
    "(`length` when max_tokens cut it, `stop` otherwise).",
    scenarios=(SCENARIO,),
)
def finish_reason(t: ChatView) -> Verdict:
    return _compare_field(
        t,
        "finish_reason",
        "finish_reason",
        (
            "the stream carries no finish_reason; see chunk.finish-reason",
            "the non-stream answer has no finish_reason; see completion.schema",
        ),
        lambda: _locate(
            t,
            "finish_reason",
            lambda c: (_first_choice(c.get("choices")) or {}).get("finish_reason"),
        ),
    )


@rule(
    "consistency.usage",
    level=Level.SHOULD,
    requirement="The stream's usage.completion_tokens (asked for with include_usage) equals "
    "the non-stream usage.completion_tokens.",
    spec=specs.OPENAI_CHAT_USAGE,
    hint="Count completion tokens in one place for both modes; the stream's usage chunk must "
    "count every token the stream sent, no more.",
    scenarios=(SCENARIO,),
)
def usage(t: ChatView) -> Verdict:
    return _compare_field(
        t,
        "usage.completion_tokens",
        "completion_tokens",
        (
            "the stream carries no usage.completion_tokens although include_usage "
            "was asked; see chunk.usage-requested",
            "the non-stream answer has no usage.completion_tokens; see completion.schema",
        ),
        lambda: _locate(t, "usage", lambda c: c.get("usage") is not None, last=True),
    )


@rule(
    "consistency.model",
    level=Level.SHOULD,
    requirement="The stream's chunks name the same model as the non-stream answer.",
    spec=specs.OPENAI_CHAT_MODEL,
    hint="Report one model name in both modes (the one the request resolved to); clients "
    "key caches, billing and tokenizers on it.",
    scenarios=(SCENARIO,),
)
def model(t: ChatView) -> Verdict:
    return _compare_field(
        t,
        "model",
        "model",
        (
            "the stream's chunks name no model; see chunk.schema",
            "the non-stream answer names no model; see completion.schema",
        ),
        lambda: _locate(t, "model", lambda c: c.get("model") is not None),
    )


# -- tools ------------------------------------------------------------------------


def _tools_gate(t: ChatView) -> tuple[Answer, Answer] | Verdict:
    if t.status is not None and 400 <= t.status < 500:
        return skipped(
            f"the endpoint does not accept this tools request: HTTP {t.status}{_error_text(t)}"
        )
    pair = compare(t)
    if isinstance(pair, Verdict):
        return pair
    stream, single = pair
    if not stream.tool_calls and not single.tool_calls:
        return skipped(
            "no tool call either way (the model answered in text: tools may be "
            "unsupported or ignored)"
        )
    return pair


def _call_mismatches(stream: tuple[ToolCall, ...], single: tuple[ToolCall, ...]) -> list[str]:
    if len(stream) != len(single):
        return [f"{len(stream)} tool calls streamed, {len(single)} in the non-stream answer"]
    out = []
    for i, (s, n) in enumerate(zip(stream, single, strict=True)):
        if not s.id or not n.id:
            out.append(f"#{i}: id missing ({'stream' if not s.id else 'non-stream'})")
        if (s.type, s.name) != (n.type, n.name):
            out.append(f"#{i}: stream {s.type} {s.name!r}, non-stream {n.type} {n.name!r}")
        if _arguments_value(s.arguments) != _arguments_value(n.arguments):
            out.append(
                f"#{i} arguments: " + divergence(s.arguments, n.arguments, ("stream", "non-stream"))
            )
    return out


@rule(
    "consistency.tool-calls",
    level=Level.SHOULD,
    requirement="Tool calls assembled from the stream's deltas (by index: id, type, "
    "function.name, joined function.arguments) equal the non-stream tool calls.",
    spec=specs.OPENAI_CHUNK_TOOL_CALLS,
    hint="Stream each call as one fragment with `index`, `id`, `type` and `function.name`, "
    "then fragments with the same `index` carrying pieces of `function.arguments` only; "
    "parse tool calls the same way in both modes.",
    scenarios=(TOOLS_SCENARIO,),
)
def tool_calls(t: ChatView) -> Verdict:
    pair = _tools_gate(t)
    if isinstance(pair, Verdict):
        return pair
    stream, single = pair
    problems = _call_mismatches(stream.tool_calls, single.tool_calls)
    if not problems:
        return passed(show_calls(stream.tool_calls))
    first = _locate(t, "tool_calls", lambda c: _delta(c).get("tool_calls"))
    return failed(
        f"the non-stream tool calls: {show_calls(single.tool_calls)}",
        f"streamed: {show_calls(stream.tool_calls)}\n" + "\n".join(problems),
        at=first,
    )
