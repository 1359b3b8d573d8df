"""The chunks of a chat stream: shape, identity, roles, finish reasons, usage, length.

Rules here read :meth:`ChatView.chunks` (JSON-object payloads that are not
error events).  Framing (``sse.*``), ``[DONE]`` (``stream.*``) and error events
(``error.*``) are judged elsewhere; a stream that reports an error is not
judged for how it should have ended.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ..capture.transcript import Event
from ..scenarios.chat import SHORT_MAX_TOKENS, STREAMS
from ..schemas import SchemaProblem, validate
from ..view import ChatView
from . import specs
from .common import CUT_BY_HARNESS, no_stream
from .registry import Level, Verdict, failed, passed, rule, skipped
from .values import MISSING, is_int, show, usage_problem

__all__ = [
    "FINISH_REASONS",
]

#: The finish reasons OpenAI defines for a chat completion choice.
FINISH_REASONS: Final = ("stop", "length", "tool_calls", "content_filter", "function_call")

#: Delta fields whose text is the answer (not reasoning, not tool-call fragments).
_CONTENT_FIELDS: Final = ("content", "refusal")


# -- reading chunks ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """One choice in one chunk: what a client merges into that choice."""

    index: int
    event: Event
    choice: dict[str, Any]

    @property
    def delta(self) -> Any:
        return self.choice.get("delta", MISSING)

    @property
    def finish(self) -> Any:
        return self.choice.get("finish_reason")

    @property
    def at(self) -> int:
        return self.event.offset


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    raw = chunk.get("choices")
    return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []


def _steps(t: ChatView) -> Iterator[_Step]:
    """Every choice of every chunk, in stream order.

    A choice without an integer index is keyed by its place in ``choices``;
    ``chunk.choice-index`` judges the index itself.
    """
    for event, chunk in t.chunks():
        for position, choice in enumerate(_choices(chunk)):
            index = choice.get("index")
            yield _Step(index if is_int(index) else position, event, choice)


def _by_choice(t: ChatView) -> dict[int, list[_Step]]:
    out: dict[int, list[_Step]] = {}
    for step in _steps(t):
        out.setdefault(step.index, []).append(step)
    return dict(sorted(out.items()))


def _error_event(t: ChatView) -> Event | None:
    return t.errors[0].event if t.errors else None


def _no_chunks(t: ChatView) -> Verdict | None:
    """A skip when there is no stream, or no chunk in it (``chunk.schema`` fails that)."""
    if (skip := no_stream(t)) is not None:
        return skip
    if not t.chunks():
        if (error := _error_event(t)) is not None:
            return _only_error(error)
        return skipped("no chunks to judge; see chunk.schema")
    return None


def _only_error(error: Event) -> Verdict:
    return skipped(f"only an error event (byte {error.offset}); see error.stream-event")


def _no_ending(t: ChatView) -> Verdict | None:
    """Like :func:`_no_chunks`, and a skip when the stream reported an error.

    A stream that fails mid-way ends with an error event instead of a finish
    reason or usage; ``error.stream-event`` judges that ending.
    """
    if (skip := _no_chunks(t)) is not None:
        return skip
    if (event := _error_event(t)) is not None:
        return skipped(
            f"the stream reported an error at byte {event.offset}; its ending is "
            "judged by error.stream-event"
        )
    if t.done is None and not any(s.finish is not None for s in _steps(t)):
        # Cut short with neither a finish nor [DONE]: error.stream-event and
        # stream.done own that ending; the finish and usage rules would only repeat it.
        return skipped(
            f"the stream ended early with no finish_reason and no [DONE] ({t.ending}); "
            "see error.stream-event and stream.done"
        )
    if t.ending in CUT_BY_HARNESS and t.done is None:
        return skipped(
            f"the harness stopped reading before the stream ended ({t.ending_detail or t.ending}); "
            "see stream.done"
        )
    return None


def _no_choices() -> Verdict:
    return skipped("no chunk carries a choice; see chunk.finish-reason")


def _delta_text(step: _Step) -> str:
    """How a step's delta reads in a message: ``delta {...}`` or ``no delta``."""
    return "no delta" if step.delta is MISSING else f"delta {show(step.delta)}"


# -- shape -----------------------------------------------------------------------


def _no_chunk_failure(t: ChatView) -> Verdict:
    events = t.data_events()
    where = events[0].offset if events else None
    return failed(
        "at least one chat.completion.chunk before [DONE]",
        f"no chunk in {len(events)} data events",
        at=where,
    )


@rule(
    "chunk.schema",
    level=Level.MUST,
    requirement="Every chunk validates as a `chat.completion.chunk` object.",
    spec=specs.OPENAI_CHUNK_OBJECT,
    quote="OpenAI API reference, the chat completion chunk object: id, choices, created, model "
    "and object are required, each with its type.",
    breaks=(
        "async-openai (Rust) `types/chat.rs` (`CreateChatCompletionStreamResponse` fails to "
        "deserialize: OpenAIError::JSONDeserialize)",
    ),
    hint="Build every chunk with the fields OpenAI defines: string `id`, "
    '`"object": "chat.completion.chunk"`, integer `created`, string `model` and '
    "`choices` of `{index, delta, finish_reason}` (finish_reason null until the last). "
    "Actual names the JSON path to fix; extra fields are allowed.",
    scenarios=STREAMS,
)
def schema(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    chunks = t.chunks()
    if not chunks:
        if (error := _error_event(t)) is not None:
            return _only_error(error)
        return _no_chunk_failure(t)
    found = [(e, validate("chat-completion-chunk", c)) for e, c in chunks]
    invalid = [(e, own) for e, problems in found if (own := _unowned(problems))]
    if not invalid:
        owned = sorted({_SCHEMA_OWNERS[p.path] for _, ps in found for p in ps})
        if owned:
            return skipped(f"every schema problem is judged by its own rule: {', '.join(owned)}")
        return passed(f"{len(chunks)} chunks valid")
    event, problems = invalid[0]
    first = problems[0]
    also = f"; also {', '.join(p.path for p in problems[1:])}" if len(problems) > 1 else ""
    return failed(
        f"every chunk a valid chat.completion.chunk: {first.path} {first.expected}",
        f"{first.path} is {first.actual} in the chunk at byte {event.offset}{also} "
        f"({len(invalid)} of {len(chunks)} chunks invalid)",
        at=event.offset,
    )


#: Schema paths whose deviation a rule of its own judges: chunk.schema leaves
#: them to it, so one deviation is one failure.
_SCHEMA_OWNERS: Final = {
    "$.object": "chunk.object",
    "$.choices[0].finish_reason": "chunk.finish-reason",
    "$.choices[0].index": "chunk.choice-index",
    "$.choices[0].delta.content": "chunk.delta-content-type",
}


def _unowned(problems: list[SchemaProblem]) -> list[SchemaProblem]:
    return [p for p in problems if p.path not in _SCHEMA_OWNERS]


@rule(
    "chunk.object",
    level=Level.MUST,
    requirement='Every chunk has `"object": "chat.completion.chunk"`.',
    spec=specs.OPENAI_CHUNK_OBJECT_TYPE,
    quote="OpenAI API reference: the object type, which is always `chat.completion.chunk`. "
    "openai-python `src/openai/lib/streaming/chat/_completions.py` "
    "`_is_valid_chat_completion_chunk_weak` skips every chunk whose object is anything else.",
    breaks=(
        "openai-python client.chat.completions.stream() (drops every such chunk: an empty answer)",
    ),
    hint='Set `"object": "chat.completion.chunk"` on streamed chunks. `chat.completion` '
    "belongs to the non-stream answer: a server that reuses its non-stream response "
    "model for chunks needs a separate chunk model.",
    scenarios=STREAMS,
)
def object_(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    chunks = t.chunks()
    wrong = [(e, c.get("object", MISSING)) for e, c in chunks]
    wrong = [(e, v) for e, v in wrong if v != "chat.completion.chunk"]
    if not wrong:
        return passed()
    event, value = wrong[0]
    return failed(
        'object "chat.completion.chunk" in every chunk',
        f"object {show(value)} in the chunk at byte {event.offset} "
        f"({len(wrong)} of {len(chunks)} chunks)",
        at=event.offset,
    )


# -- identity ----------------------------------------------------------------------


def _canonical(value: object) -> str:
    """Equality as JSON sees it: 1, 1.0 and true are three different values."""
    return "<missing>" if value is MISSING else json.dumps(value, sort_keys=True, default=repr)


def _stable(t: ChatView, name: str) -> Verdict:
    """One value of the top-level field ``name`` across all chunks."""
    if (skip := _no_chunks(t)) is not None:
        return skip
    chunks = t.chunks()
    first_event, first_chunk = chunks[0]
    want = first_chunk.get(name, MISSING)
    if want is MISSING:
        return failed(
            f"{name} in every chunk",
            f"no {name} in the first chunk, at byte {first_event.offset}",
            at=first_event.offset,
        )
    values = [(e, c.get(name, MISSING)) for e, c in chunks]
    changed = [(e, v) for e, v in values if _canonical(v) != _canonical(want)]
    if not changed:
        return passed(f"{name} {show(want)} in all {len(chunks)} chunks")
    event, got = changed[0]
    distinct = len({_canonical(v) for _, v in values})
    return failed(
        f"{name} {show(want)} in every chunk, as in the first (byte {first_event.offset})",
        f"{name} {show(got)} in the chunk at byte {event.offset}; "
        f"{distinct} distinct values across {len(chunks)} chunks",
        at=event.offset,
    )


@rule(
    "chunk.id-stable",
    level=Level.SHOULD,
    requirement="Every chunk of a stream carries the same `id`.",
    spec=specs.OPENAI_CHUNK_ID,
    quote="OpenAI API reference: a unique identifier for the chat completion. Each chunk has "
    "the same ID.",
    hint="Make the completion ID once per request, before the first chunk, and put that "
    "value in every chunk, the usage chunk included.",
    scenarios=STREAMS,
)
def id_stable(t: ChatView) -> Verdict:
    return _stable(t, "id")


@rule(
    "chunk.created-stable",
    level=Level.SHOULD,
    requirement="Every chunk of a stream carries the same `created` time.",
    spec=specs.OPENAI_CHUNK_CREATED,
    quote="OpenAI API reference: the Unix timestamp (in seconds) of when the chat completion "
    "was created. Each chunk has the same timestamp.",
    hint="Take `created = int(time.time())` once per request and reuse it in every chunk; "
    "computing it per chunk changes it whenever the stream crosses a second.",
    scenarios=STREAMS,
)
def created_stable(t: ChatView) -> Verdict:
    return _stable(t, "created")


@rule(
    "chunk.model-stable",
    level=Level.SHOULD,
    requirement="Every chunk of a stream names the same `model`.",
    spec=specs.OPENAI_CHUNK_MODEL,
    hint="Resolve the model name once per request and put it in every chunk; do not let "
    "a proxy or a node in the path rewrite it in some chunks only.",
    scenarios=STREAMS,
)
def model_stable(t: ChatView) -> Verdict:
    return _stable(t, "model")


# -- roles ---------------------------------------------------------------------------


@rule(
    "chunk.role-first",
    level=Level.MUST,
    requirement='The first delta of each choice carries `"role": "assistant"`.',
    spec=specs.OPENAI_CHUNK_ROLE,
    quote="openai-node `src/lib/ChatCompletionStream.ts` `finalizeChatCompletion` throws "
    "`missing role for choice N` when no delta of a choice carries its role.",
    breaks=("openai-node ChatCompletionStream (finalChatCompletion() throws)",),
    hint='Start each choice with a delta that has `"role": "assistant"` (OpenAI sends '
    '`{"role": "assistant", "content": ""}` first); clients take the message role '
    "from it.",
    scenarios=STREAMS,
)
def role_first(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    by_choice = _by_choice(t)
    if not by_choice:
        return _no_choices()
    for index, steps in by_choice.items():
        first = steps[0]
        delta = first.delta
        if not isinstance(delta, dict) or delta.get("role") != "assistant":
            return failed(
                f'role "assistant" in the first delta of choice {index}',
                f"choice {index} starts at byte {first.at} with {_delta_text(first)}",
                at=first.at,
            )
    return passed()


@rule(
    "chunk.role-once",
    level=Level.SHOULD,
    requirement="Only the first delta of a choice carries `role`; later deltas leave it out.",
    spec=specs.OPENAI_CHUNK_ROLE,
    hint="Send `role` in the first delta only. Clients merge deltas by concatenating "
    "strings: openai-python's `client.chat.completions.stream()` turns a repeated role "
    'into `"assistantassistant..."`.',
    scenarios=STREAMS,
)
def role_once(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    by_choice = _by_choice(t)
    if not by_choice:
        return _no_choices()
    later = [s for steps in by_choice.values() for s in steps[1:]]
    if not later:
        return skipped("no choice has more than one delta; nothing can repeat the role")
    repeats = [s for s in later if isinstance(s.delta, dict) and s.delta.get("role") is not None]
    if not repeats:
        return passed()
    step = repeats[0]
    return failed(
        "no role after the first delta of a choice",
        f"choice {step.index} repeats role {show(step.delta['role'])} at byte {step.at} "
        f"({len(repeats)} of {len(later)} later deltas carry a role)",
        at=step.at,
    )


# -- finish reasons ----------------------------------------------------------------------


def _finish_field(step: _Step) -> str:
    return "finish_reason null" if "finish_reason" in step.choice else "no finish_reason"


def _judge_finish(index: int, steps: list[_Step]) -> Verdict | None:
    """The failure of one choice's finish reason, or None when it is right."""
    ends = [i for i, s in enumerate(steps) if s.finish is not None]
    if not ends:
        last = steps[-1]
        return failed(
            f"a finish_reason on the last chunk of choice {index}",
            f"choice {index} never finishes: its last chunk, at byte {last.at}, has "
            f"{_finish_field(last)}",
            at=last.at,
        )
    end = steps[ends[0]]
    if end.finish not in FINISH_REASONS:
        return failed(
            f"finish_reason one of {', '.join(FINISH_REASONS)}",
            f"finish_reason {show(end.finish)} on choice {index} at byte {end.at}",
            at=end.at,
        )
    if ends[0] < len(steps) - 1:
        after = steps[ends[0] + 1]
        what = (
            f"another finish_reason {show(after.finish)}"
            if after.finish is not None
            else _delta_text(after)
        )
        return failed(
            f"finish_reason on the last chunk of choice {index} only",
            f"choice {index} finished ({show(end.finish)}) at byte {end.at}, then got "
            f"{what} at byte {after.at}",
            at=after.at,
        )
    return None


def _usage_ride(t: ChatView) -> set[int]:
    """Offsets of usage chunks whose choices carry nothing (no text, no finish).

    LiteLLM sends its usage chunk as ``"choices": [{"index": 0, "delta": {}}]``
    after the finish: one deviation, which ``chunk.usage-requested`` (or
    ``chunk.usage-unrequested``) reports; the finish rules leave such a chunk
    to them.
    """
    out = set()
    for event, chunk in t.chunks():
        if not isinstance(chunk.get("usage"), dict):
            continue
        choices = _choices(chunk)
        if choices and all(_carries_nothing(c) for c in choices):
            out.add(event.offset)
    return out


def _carries_nothing(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    empty = delta is None or (
        isinstance(delta, dict) and all(v in (None, "", [], {}) for v in delta.values())
    )
    return empty and choice.get("finish_reason") is None


@rule(
    "chunk.finish-reason",
    level=Level.MUST,
    requirement="Each choice gets exactly one non-null `finish_reason`, on its last chunk, "
    "from stop, length, tool_calls, content_filter and function_call.",
    spec=specs.OPENAI_CHUNK_FINISH_REASON,
    quote="OpenAI API reference: the reason the model stopped generating tokens: stop, length, "
    "content_filter, tool_calls or function_call. openai-node "
    "`src/lib/ChatCompletionStream.ts` `finalizeChatCompletion` throws `missing finish_reason "
    "for choice N` without one.",
    breaks=(
        "openai-node ChatCompletionStream (finalChatCompletion() throws)",
        "async-openai (Rust) `types/chat.rs` (`FinishReason` is an enum: another value fails "
        "to deserialize)",
    ),
    hint="Send `finish_reason` null on every chunk of a choice but its last, and one of "
    'the OpenAI values on the last ("stop" at an end-of-sequence or stop string, "length" '
    'at max_tokens, "tool_calls" after tool calls); send nothing for that choice after it.',
    scenarios=STREAMS,
)
def finish_reason(t: ChatView) -> Verdict:
    if (skip := _no_ending(t)) is not None:
        return skip
    ride = _usage_ride(t)
    by_choice = {
        index: kept
        for index, steps in _by_choice(t).items()
        if (kept := [s for s in steps if s.at not in ride])
    }
    if not by_choice:
        first = t.chunks()[0][0]
        return failed(
            "a finish_reason on the last chunk of each choice",
            f"no chunk carries a choice ({len(t.chunks())} chunks)",
            at=first.offset,
        )
    for index, steps in by_choice.items():
        if (verdict := _judge_finish(index, steps)) is not None:
            return verdict
    return passed(", ".join(f"choice {i}: {s[-1].finish}" for i, s in by_choice.items()))


@rule(
    "chunk.finish-reason-null",
    level=Level.SHOULD,
    requirement="Chunks before the last of a choice carry `finish_reason: null`, present "
    "and null, not absent.",
    spec=specs.OPENAI_CHUNK_FINISH_REASON,
    hint='Write `"finish_reason": null` into every chunk until the last. Serialising '
    "with `exclude_none=True` drops it; exclude unset fields instead, or set the field "
    "explicitly.",
    scenarios=STREAMS,
)
def finish_reason_null(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    ride = _usage_ride(t)  # the usage rules' to judge
    earlier = [s for s in _steps(t) if s.finish is None and s.at not in ride]
    if not earlier:
        return skipped("no chunk precedes the finishing one; nothing to judge")
    absent = [s for s in earlier if "finish_reason" not in s.choice]
    if not absent:
        return passed()
    step = absent[0]
    return failed(
        '"finish_reason": null in every chunk before the last',
        f"no finish_reason in choice {step.index} at byte {step.at} "
        f"({len(absent)} of {len(earlier)} unfinished choice deltas lack it)",
        at=step.at,
    )


# -- usage -----------------------------------------------------------------------------


def _describe_choices(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices", MISSING)
    if isinstance(choices, list) and all(isinstance(c, dict) for c in choices):
        return f"{len(choices)} choice{'s' * (len(choices) != 1)}"
    return f"choices {show(choices)}"


def _usage_chunk_failure(event: Event, chunk: dict[str, Any]) -> Verdict | None:
    """The failure of the last chunk as a usage chunk, or None when it is one."""
    expected = (
        "a last chunk with choices: [] and usage {prompt_tokens, completion_tokens, "
        "total_tokens}, total = prompt + completion"
    )
    usage = chunk.get("usage")
    if chunk.get("choices", MISSING) != []:
        carried = "usage" if usage is not None else "no usage"
        return failed(
            expected,
            f"the last chunk, at byte {event.offset}, has {_describe_choices(chunk)} and {carried}",
            at=event.offset,
        )
    if (problem := usage_problem(chunk.get("usage", MISSING))) is not None:
        return failed(
            expected, f"the last chunk, at byte {event.offset}, has {problem}", at=event.offset
        )
    return None


@rule(
    "chunk.usage-requested",
    level=Level.MUST,
    requirement="With `stream_options.include_usage`, the last chunk before `[DONE]` has "
    "`choices: []` and integer prompt, completion and total token counts (total = "
    "prompt + completion); no other chunk carries a usage object.",
    spec=specs.OPENAI_STREAM_OPTIONS,
    quote="OpenAI API reference (stream_options.include_usage): if set, an additional chunk "
    "will be streamed before the data: [DONE] message; its usage field shows the token usage "
    "statistics for the entire request, and its choices field will always be an empty array.",
    breaks=(
        "openai-python client.chat.completions.stream() "
        "(`src/openai/lib/streaming/chat/_completions.py` `_accumulate_chunk` keeps the last "
        "chunk's usage: usage anywhere else is lost)",
    ),
    hint="Read `stream_options.include_usage`. When true, after the chunk with the "
    "finish_reason send one more chunk with the same id, created and model, "
    '`"choices": []` and `"usage": {"prompt_tokens", "completion_tokens", '
    '"total_tokens"}`; put `"usage": null` (or nothing) on every other chunk.',
    scenarios=STREAMS,
)
def usage_requested(t: ChatView) -> Verdict:
    if (skip := _no_ending(t)) is not None:
        return skip
    if not t.asked_usage:
        return skipped("the request did not set stream_options.include_usage")
    chunks = t.chunks()
    last_event, last = chunks[-1]
    if (verdict := _usage_chunk_failure(last_event, last)) is not None:
        return verdict
    early = [(e, c["usage"]) for e, c in chunks[:-1] if c.get("usage") is not None]
    if early:
        event, usage = early[0]
        return failed(
            "usage null or absent on every chunk but the last",
            f"usage {show(usage)} on the chunk at byte {event.offset} "
            f"({len(early)} chunks before the last carry usage)",
            at=event.offset,
        )
    return passed(f"usage {show(last['usage'])} at byte {last_event.offset}")


@rule(
    "chunk.usage-unrequested",
    level=Level.SHOULD,
    requirement="Without `stream_options.include_usage`, no chunk carries a usage object.",
    spec=specs.OPENAI_CHUNK_USAGE,
    quote="OpenAI API reference: usage is an optional field that will only be present when you "
    'set stream_options: {"include_usage": true}.',
    hint="Attach usage only when the request sets `stream_options.include_usage: true`; "
    "clients that did not ask index `choices[0]` of every chunk and may choke on extra "
    "usage chunks.",
    scenarios=STREAMS,
)
def usage_unrequested(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    if t.asked_usage:
        return skipped("the request set stream_options.include_usage; see chunk.usage-requested")
    carrying = [(e, c["usage"]) for e, c in t.chunks() if c.get("usage") is not None]
    if not carrying:
        return passed()
    event, usage = carrying[0]
    return failed(
        "no usage (absent or null) in any chunk",
        f"usage {show(usage)} on the chunk at byte {event.offset} "
        f"({len(carrying)} chunk{'s' * (len(carrying) != 1)} carry usage)",
        at=event.offset,
    )


# -- max_tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tokens:
    """How many tokens a stream generated: exact from usage, or a lower bound."""

    count: int
    exact: bool
    where: str
    at: int


def _usage_tokens(t: ChatView) -> _Tokens | None:
    for event, chunk in reversed(t.chunks()):
        usage = chunk.get("usage")
        if isinstance(usage, dict) and is_int(usage.get("completion_tokens")):
            count = usage["completion_tokens"]
            return _Tokens(count, True, f"usage.completion_tokens {count}", event.offset)
    return None


def _adds_content(step: _Step) -> bool:
    """Whether a step adds answer text (content or refusal).  Reasoning deltas and
    tool-call fragments are not counted: servers split them freely."""
    delta = step.delta
    if not isinstance(delta, dict):
        return False
    return any(isinstance(x, str) and x for x in (delta.get(n) for n in _CONTENT_FIELDS))


def _delta_tokens(t: ChatView) -> _Tokens:
    """The most non-empty content deltas of any choice: a fallback count when the
    stream carries no usage (each delta of a server's own holds a token or more)."""
    best: list[_Step] = []
    for steps in _by_choice(t).values():
        adding = [s for s in steps if _adds_content(s)]
        best = adding if len(adding) > len(best) else best
    at = best[-1].at if best else t.chunks()[-1][0].offset
    where = f"{len(best)} non-empty content deltas (no usage in the stream to count by)"
    return _Tokens(len(best), False, where, at)


def _count_tokens(t: ChatView) -> _Tokens:
    return _usage_tokens(t) or _delta_tokens(t)


def _not_length(t: ChatView, limit: int) -> Verdict | None:
    """The verdict when the stream did not end with ``length``, else None."""
    ends = [s for s in _steps(t) if s.finish is not None]
    expected = f'finish_reason "length" (max_tokens={limit})'
    if not ends:
        last = t.chunks()[-1][0]
        return failed(
            expected, "no finish_reason on any choice; see chunk.finish-reason", at=last.offset
        )
    wrong = next((s for s in ends if s.finish != "length"), None)
    if wrong is None:
        return None
    tokens = _count_tokens(t)
    if wrong.finish == "stop" and tokens.exact and tokens.count < limit:
        return skipped(
            f"the model stopped by itself after {tokens.count} tokens, under "
            f"max_tokens={limit}; nothing was cut"
        )
    return failed(
        expected,
        f"finish_reason {show(wrong.finish)} on choice {wrong.index} at "
        f"byte {wrong.at}; {tokens.where}",
        at=wrong.at,
    )


@rule(
    "chunk.max-tokens",
    level=Level.MUST,
    requirement=f"A stream limited by `max_tokens` ({SHORT_MAX_TOKENS}) ends with "
    "`finish_reason: length` and generates no more tokens than asked.",
    spec=specs.OPENAI_MAX_TOKENS,
    quote="OpenAI API reference (finish_reason): `length` if the maximum number of tokens "
    "specified in the request was reached.",
    breaks=(
        "openai-python client.chat.completions.stream() with a response_format "
        "(`src/openai/lib/streaming/chat/_completions.py` raises LengthFinishReasonError on "
        "`length` only: a cut answer called `stop` is parsed as if whole)",
    ),
    hint="Pass `max_tokens` through to the generator, stop after that many tokens and "
    'report `"length"` on the last chunk; a proxy must forward the field unchanged '
    "(EXO ignores `max_completion_tokens`).",
    scenarios=("stream-max-tokens",),
)
def max_tokens(t: ChatView) -> Verdict:
    if (skip := _no_ending(t)) is not None:
        return skip
    limit = t.asked_int("max_tokens", 0)
    if limit <= 0:
        return skipped("the request set no max_tokens")
    if (verdict := _not_length(t, limit)) is not None:
        return verdict
    # usage.completion_tokens is the server's own count: a proxy that re-chunks
    # deltas changes their number, never the count.
    counted = _count_tokens(t)
    if counted.count > limit:
        return failed(
            f"at most {limit} completion tokens (max_tokens={limit})",
            f"{counted.where}, at byte {counted.at}",
            at=counted.at,
        )
    return passed(f"finish_reason length; {counted.where}")


# -- choices and deltas ------------------------------------------------------------------


def _index_failure(t: ChatView, n: int) -> Verdict | None:
    allowed = "0" if n == 1 else f"an integer from 0 to {n - 1}"
    expected = f"choices[].index {allowed} (the request asked for n={n}), once per chunk"
    for event, chunk in t.chunks():
        seen: set[int] = set()
        for choice in _choices(chunk):
            index = choice.get("index", MISSING)
            if not is_int(index) or not 0 <= index < n:
                return failed(
                    expected, f"index {show(index)} at byte {event.offset}", at=event.offset
                )
            if index in seen:
                return failed(
                    expected,
                    f"index {index} twice in the chunk at byte {event.offset}",
                    at=event.offset,
                )
            seen.add(index)
    return None


@rule(
    "chunk.choice-index",
    level=Level.MUST,
    requirement="Every choice carries an integer `index` below the requested `n` (0 for "
    "one choice), at most once per chunk, so each index names one choice throughout.",
    spec=specs.OPENAI_CHUNK_INDEX,
    quote="openai-python `src/openai/lib/streaming/chat/_completions.py` "
    "`_convert_initial_chunk_into_snapshot` files each choice at `choices[choice.index]`.",
    breaks=(
        "openai-python client.chat.completions.stream() (IndexError)",
        "async-openai (Rust) `types/chat.rs` (`index: u32`: a missing index fails to deserialize)",
    ),
    hint='Give every choice `"index": 0` (or its position among the `n` choices) in '
    "every chunk. Clients file each delta under `choices[index]`: openai-python's stream "
    "helper indexes a list with it, so a missing, string or shifting index breaks or "
    "splits the message.",
    scenarios=STREAMS,
)
def choice_index(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    if next(_steps(t), None) is None:
        return _no_choices()
    verdict = _index_failure(t, max(1, t.asked_int("n", 1)))
    return verdict or passed()


def _content_failure(step: _Step) -> str | None:
    delta = step.delta
    if not isinstance(delta, dict):
        return f"choice {step.index} at byte {step.at} has {_delta_text(step)}"
    content = delta.get("content")
    if content is None or isinstance(content, str):
        return None
    return f"delta.content {show(content)} on choice {step.index} at byte {step.at}"


@rule(
    "chunk.delta-content-type",
    level=Level.MUST,
    requirement="Every choice carries a `delta` object whose `content`, when present, is a "
    "string or null.",
    spec=specs.OPENAI_CHUNK_CONTENT,
    quote="OpenAI API reference: content, the contents of the chunk message, a string or null.",
    breaks=(
        "async-openai (Rust) `types/chat.rs` (`content: Option<String>`: a list fails to "
        "deserialize)",
    ),
    hint='Send generated text as a JSON string in `delta.content` (`""` or null when a '
    "chunk adds none), never as a list of content parts, a number or an object; clients "
    "append it to a string. Send `delta: {}` rather than leaving the delta out.",
    scenarios=STREAMS,
)
def delta_content_type(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    steps = list(_steps(t))
    if not steps:
        return _no_choices()
    problems = [(s, p) for s in steps if (p := _content_failure(s)) is not None]
    if not problems:
        return passed()
    step, problem = problems[0]
    return failed(
        "a delta object with content a string or null",
        f"{problem} ({len(problems)} of {len(steps)} choice deltas)",
        at=step.at,
    )


@rule(
    "chunk.choices-nonempty",
    level=Level.SHOULD,
    requirement="Every chunk carries at least one choice, except the usage chunk that "
    "`stream_options.include_usage` asks for at the end.",
    spec=specs.OPENAI_CHUNK_CHOICES,
    quote="OpenAI API reference: choices can also be empty for the last chunk if you set "
    'stream_options: {"include_usage": true}.',
    hint="Put at least one choice in every chunk: many clients read `chunk.choices[0]` and "
    "fail with IndexError on an empty list (Azure-style metadata chunks broke LangChain, "
    "pydantic-ai and logfire). Send a `choices: []` chunk only as the requested usage "
    "chunk, last.",
    scenarios=STREAMS,
)
def choices_nonempty(t: ChatView) -> Verdict:
    if (skip := _no_chunks(t)) is not None:
        return skip
    chunks = t.chunks()
    if t.asked_usage and chunks[-1][1].get("usage") is not None:
        chunks = chunks[:-1]
    empty = [(e, c) for e, c in chunks if not _choices(c)]
    if not empty:
        return passed()
    event, chunk = empty[0]
    return failed(
        "at least one choice in every chunk but a requested usage chunk",
        f"{_describe_choices(chunk)} in the chunk at byte {event.offset} "
        f"({len(empty)} of {len(t.chunks())} chunks)",
        at=event.offset,
    )
