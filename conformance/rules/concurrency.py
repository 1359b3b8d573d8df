"""Concurrent streams: each well-formed, each its own completion, none mixed with another."""

from __future__ import annotations

from dataclasses import dataclass

from ..capture.transcript import Ending, Event
from ..scenarios.sessions import CONCURRENCY
from ..view import ChatView
from . import specs
from .common import describe_end, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["MIX_EVIDENCE_CHARS", "answer_text"]

#: How much of a stream's text, from where it leaves its own answer, must be
#: found in another prompt's answer to call it mixed up.  Shorter matches are
#: too likely by chance.
MIX_EVIDENCE_CHARS = 12
#: How much of each text to show around a divergence.
CONTEXT_CHARS = 40


@dataclass(frozen=True, slots=True)
class Piece:
    """A piece of answer text and where it sits: the event and its first character."""

    event: Event
    start: int
    text: str


def _pieces(t: ChatView) -> list[Piece]:
    """The text of choice 0, piece by piece (content and reasoning_content)."""
    out: list[Piece] = []
    start = 0
    for event, chunk in t.chunks():
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            text = "".join(
                v for k in ("reasoning_content", "content") if isinstance(v := delta.get(k), str)
            )
            if text:
                out.append(Piece(event, start, text))
                start += len(text)
    return out


def answer_text(t: ChatView) -> str:
    """The joined text of choice 0 of a stream."""
    return "".join(p.text for p in _pieces(t))


def _offset_of(t: ChatView, char: int) -> int | None:
    """The byte offset of the event that carries character ``char`` of the text."""
    for piece in _pieces(t):
        if piece.start <= char < piece.start + len(piece.text):
            return piece.event.offset
    events = t.data_events()
    return events[-1].offset if events else None


# -- one stream, well-formed ----------------------------------------------------------------


def _stream_problem(t: ChatView) -> str | None:
    """Why a stream is not a complete, well-formed answer, or None."""
    if t.status is None:
        return f"no response: {describe_end(t)}"
    if t.status != 200:
        shown = preview(t.body.decode("utf-8", "replace")) if t.body else "an empty body"
        return f"HTTP {t.status}: {shown!r}"
    for event, value in t.payloads():
        if not isinstance(value, dict):
            return f"data {preview(event.data)!r} at byte {event.offset} is not a JSON object"
    if t.errors:
        event = t.errors[0].event
        return f"an error event at byte {event.offset}: {preview(event.data)}"
    if t.done_index() is None:
        return f"no [DONE]; {describe_end(t)}"
    if t.ending is not Ending.COMPLETE:
        return describe_end(t)
    if not _finished(t):
        # A [DONE] with no finish_reason: the stream was cut, and looks complete.
        return f"[DONE] at byte {t.events[t.done_index() or 0].offset} without any finish_reason"
    return None


def _finished(t: ChatView) -> bool:
    return any(
        isinstance(c, dict) and c.get("finish_reason") is not None
        for _, chunk in t.chunks()
        for c in chunk.get("choices") or []
    )


def _named(t: ChatView, prefix: str) -> list[tuple[str, ChatView]]:
    found = [(name, x) for name, x in t.others(prefix)]
    numbered = [(name, x) for name, x in found if name[len(prefix) :].isdigit()]
    return sorted(numbered, key=lambda item: int(item[0][len(prefix) :]))


def _malformed(t: ChatView, streams: list[tuple[str, ChatView]]) -> Verdict | None:
    """A failure for streams that broke under concurrency; a skip when they break alone too."""
    bad = [(name, p) for name, x in streams if (p := _stream_problem(x)) is not None]
    if not bad:
        return None
    name, problem = bad[0]
    alone_name = f"alone-{name.rsplit('-', 1)[1]}"
    alone = t.other(alone_name)
    if alone is not None and (alone_problem := _stream_problem(alone)) is not None:
        return skipped(
            f"the streams fail even when sent alone ({alone_name}: {alone_problem}); "
            "see headers.status and stream.done"
        )
    more = f" ({len(bad)} of {len(streams)} streams failed)" if len(bad) > 1 else ""
    stream = dict(streams)[name]
    return failed(
        f"{len(streams)} concurrent streams, each HTTP 200 with JSON chunks and [DONE]",
        f"{name}: {problem}{more}; the same prompt sent alone was answered in full",
        at=0 if stream.body else None,
        source=name,
    )


# -- distinct ids -------------------------------------------------------------------------


def _shared_id(streams: list[tuple[str, ChatView]]) -> Verdict | None:
    owner: dict[str, str] = {}
    for name, t in streams:
        seen_here: set[str] = set()
        for event, chunk in t.chunks():
            cid = chunk.get("id")
            if not isinstance(cid, str) or cid in seen_here:
                continue
            seen_here.add(cid)
            if cid in owner:
                return failed(
                    "a distinct chunk id in each concurrent stream",
                    f"{name} carries id {preview(cid)!r} at byte {event.offset}, "
                    f"already used by {owner[cid]}",
                    at=event.offset,
                    source=name,
                )
            owner[cid] = name
    return None


# -- the same text as alone ------------------------------------------------------------------


def _divergence(a: str, b: str) -> int:
    """The index of the first character where ``a`` and ``b`` differ."""
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _around(text: str, index: int) -> str:
    start = max(0, index - CONTEXT_CHARS // 2)
    return preview(text[start : index + CONTEXT_CHARS], CONTEXT_CHARS * 2)


def _source_of(text: str, own: str, index: int, others: dict[str, str]) -> str | None:
    """Which other answer the text of a stream continues with from ``index``, if any.

    Text found in the stream's own answer too (a token lost or repeated) is no
    evidence of a mix-up.
    """
    for name, other in others.items():
        if text == other and text:
            return name
    evidence = text[index : index + MIX_EVIDENCE_CHARS * 2]
    if len(evidence) < MIX_EVIDENCE_CHARS or evidence in own:
        return None
    return next((name for name, other in others.items() if evidence in other), None)


def _deterministic(t: ChatView) -> tuple[bool, str]:
    """Whether prompt 0 asked alone twice gave the same text, with the reason."""
    first, again = t.other("alone-0"), t.other("alone-0-again")
    if first is None or again is None:
        return False, "prompt 0 was not asked alone twice"
    for name, x in (("alone-0", first), ("alone-0-again", again)):
        if (problem := _stream_problem(x)) is not None:
            return False, f"{name} was not a complete answer ({problem})"
    a, b = answer_text(first), answer_text(again)
    if a != b:
        i = _divergence(a, b)
        return False, f"prompt 0 asked alone twice differed at character {i}"
    return True, ""


def _texts(t: ChatView, prefix: str) -> dict[str, str]:
    return {name: answer_text(x) for name, x in _named(t, prefix) if _stream_problem(x) is None}


def _mixed(t: ChatView, streams: list[tuple[str, ChatView]]) -> Verdict | None:
    alone = _texts(t, "alone-")
    concurrent = _texts(t, "stream-")
    for name, x in streams:
        index = name.rsplit("-", 1)[1]
        own = alone.get(f"alone-{index}")
        text = concurrent[name]
        if own is None or text == own:
            continue
        at = _divergence(text, own)
        others = {k: v for k, v in {**alone, **concurrent}.items() if not k.endswith(f"-{index}")}
        source = _source_of(text, own, at, others)
        if source is None:
            continue  # a difference, not a mix-up: see concurrency.same-answer
        return failed(
            f"{name} carries only prompt {index}'s answer",
            f"{name} leaves prompt {index}'s answer at character {at} and continues with "
            f"text of {source}: {_around(text, at)!r}; alone: {_around(own, at)!r}",
            at=_offset_of(x, at),
            source=name,
        )
    return None


@rule(
    "concurrency.isolation",
    level=Level.MUST,
    requirement="Concurrent streams stay well-formed (HTTP 200, JSON chunks, [DONE]), carry "
    "distinct completion ids, and none carries text of another stream's answer.",
    spec=specs.OPENAI_CHUNK_OBJECT,
    hint="Keep all per-request state per request: one queue, id and detokenizer per "
    "completion, keyed by the request, never a module-level buffer or `current request` "
    "variable shared between handlers. A proxy must give each client its own upstream stream.",
    scenarios=(CONCURRENCY,),
)
def isolation(t: ChatView) -> Verdict:
    streams = _named(t, "stream-")
    if len(streams) < 2:
        return skipped(f"{len(streams)} concurrent streams were recorded; 2 are needed")
    verdict = _malformed(t, streams) or _shared_id(streams)
    if verdict is not None:
        return verdict
    deterministic, why = _deterministic(t)
    summary = f"{len(streams)} concurrent streams, well-formed, with distinct ids"
    if not deterministic:
        return passed(f"{summary}; texts not compared: {why}")
    return _mixed(t, streams) or passed(f"{summary}, none carrying another prompt's text")


@rule(
    "concurrency.same-answer",
    level=Level.SHOULD,
    requirement="On a deterministic endpoint, a prompt answered among concurrent streams gets "
    "the same text as when it is asked alone.",
    spec=specs.OPENAI_CHAT_CREATE,
    hint="Batching must not change a greedy answer: check that padding, attention masks and "
    "per-request sampling state (seed, temperature) stay per sequence in a batch.",
    scenarios=(CONCURRENCY,),
)
def same_answer(t: ChatView) -> Verdict:
    streams = _named(t, "stream-")
    deterministic, why = _deterministic(t)
    if not deterministic:
        return skipped(f"texts not compared: {why}")
    alone = _texts(t, "alone-")
    concurrent = _texts(t, "stream-")
    compared = 0
    for name, x in streams:
        index = name.rsplit("-", 1)[1]
        own, text = alone.get(f"alone-{index}"), concurrent.get(name)
        if own is None or text is None:
            continue
        compared += 1
        if text != own:
            at = _divergence(text, own)
            return failed(
                f"{name} equal to prompt {index} asked alone",
                f"{name} differs from its answer alone at character {at}: "
                f"concurrent {_around(text, at)!r}, alone {_around(own, at)!r}",
                at=_offset_of(x, at),
                source=name,
            )
    if not compared:
        return skipped("no concurrent stream had a complete answer alone to compare with")
    return passed(f"{compared} concurrent answers equal the same prompts asked alone")
