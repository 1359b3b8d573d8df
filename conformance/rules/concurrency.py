"""Concurrent streams: each well-formed, each its own completion, none mixed with another.

The proof of a mix-up is a nonce: every concurrent request asks for a code
of its own (``scenarios/nonce.py``), so a stream that carries another
request's code carries text generated for that request.  A difference in
wording alone (batching changes a greedy answer) proves nothing of the kind
and is ``concurrency.same-answer``'s, a SHOULD.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..capture.transcript import Ending, Event
from ..scenarios.nonce import nonce_asked, sightings
from ..scenarios.sessions import CONCURRENCY
from ..view import ChatView
from . import specs
from .common import describe_end, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["answer_text"]

#: Statuses a busy server may refuse a concurrent request with, with a JSON
#: error body: a proper answer, which clients retry (openai-python's
#: ``_should_retry`` retries 429 and every 5xx).
REFUSALS = (429, 503)
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
    if not t.finishes:
        # A [DONE] with no finish_reason: the stream was cut, and looks complete.
        return f"[DONE] at byte {t.events[t.done_index() or 0].offset} without any finish_reason"
    return None


def _refused(t: ChatView) -> bool:
    return t.status in REFUSALS and isinstance(t.json(), dict)


def _served(t: ChatView) -> tuple[list[tuple[str, ChatView]], str]:
    """The concurrent streams the endpoint served, and a note on those it refused."""
    streams = _named(t, "stream-")
    served = [(name, x) for name, x in streams if not _refused(x)]
    refused = len(streams) - len(served)
    note = f"{refused} of {len(streams)} refused with 429 or 503 (clients retry those)"
    return served, note if refused else ""


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
    alone = t.other("alone-0")
    if alone is not None and (alone_problem := _stream_problem(alone)) is not None:
        return skipped(
            f"the streams fail even when sent alone (alone-0: {alone_problem}); "
            "see headers.status and stream.done"
        )
    more = f" ({len(bad)} of {len(streams)} streams failed)" if len(bad) > 1 else ""
    stream = dict(streams)[name]
    return failed(
        f"{len(streams)} concurrent streams, each HTTP 200 with JSON chunks and [DONE]",
        f"{name}: {problem}{more}; prompt 0 sent alone was answered in full",
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


# -- each stream its own code -------------------------------------------------------------


def _codes(streams: list[tuple[str, ChatView]]) -> dict[str, str]:
    """Stream name -> the code its request asked for (streams whose request asked one)."""
    return {name: code for name, x in streams if (code := nonce_asked(x.request_json))}


def _around(text: str, index: int) -> str:
    start = max(0, index - CONTEXT_CHARS // 2)
    return preview(text[start : index + CONTEXT_CHARS], CONTEXT_CHARS * 2)


def _mixed(streams: list[tuple[str, ChatView]]) -> Verdict | None:
    """A failure for the first stream whose text carries another stream's code."""
    codes = _codes(streams)
    owners = {code: name for name, code in codes.items()}
    for name, x in streams:
        text = answer_text(x)
        theirs = [s for s in sightings(text, owners) if owners[s.nonce] != name]
        if not theirs:
            continue
        found = theirs[0]
        own = codes.get(name)
        return failed(
            f"{name} carries only its own code {own or '(none asked)'}",
            f"{name} carries {owners[found.nonce]}'s code {found.nonce} at character "
            f"{found.at}: {_around(text, found.at)!r}",
            at=_offset_of(x, found.at),
            source=name,
        )
    return None


def _echoed(streams: list[tuple[str, ChatView]]) -> str:
    """How many streams echoed their own code: what the proof covers."""
    codes = _codes(streams)
    if not codes:
        return "no request asked for a code, so none was checked for another's text"
    echoed = sum(
        1 for name, x in streams if name in codes and sightings(answer_text(x), [codes[name]])
    )
    return f"none carries another's code ({echoed} of {len(streams)} echoed their own)"


# -- the same text as alone ------------------------------------------------------------------


def _divergence(a: str, b: str) -> int:
    """The index of the first character where ``a`` and ``b`` differ."""
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


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


@rule(
    "concurrency.isolation",
    level=Level.MUST,
    requirement="Concurrent streams stay well-formed (HTTP 200, JSON chunks, a finish_reason, "
    "[DONE]), carry distinct completion ids, and none carries the code another request "
    "asked for (a request refused with 429 or 503 and a JSON error is a proper answer).",
    spec=specs.OPENAI_CHUNK_ID,
    quote="Each request gets its own completion. openai-node `src/lib/ChatCompletionStream.ts` "
    "`finalizeChatCompletion` throws `missing finish_reason for choice N` on a stream cut "
    "without its finish.",
    breaks=(
        "every client: a user is shown text generated for another request",
        "openai-python (a stream cut with [DONE] and no finish_reason reads as a whole answer)",
        "openai-node ChatCompletionStream (finalChatCompletion() throws on the cut stream)",
    ),
    hint="Keep all per-request state per request: one queue, id and detokenizer per "
    "completion, keyed by the request, never a module-level buffer or `current request` "
    "variable shared between handlers. Do not end a running stream when another request "
    "arrives. A proxy must give each client its own upstream stream.",
    scenarios=(CONCURRENCY,),
)
def isolation(t: ChatView) -> Verdict:
    streams, refused = _served(t)
    if len(streams) < 2:
        why = f" ({refused})" if refused else ""
        return skipped(f"{len(streams)} concurrent streams were served{why}; 2 are needed")
    verdict = _malformed(t, streams) or _shared_id(streams) or _mixed(streams)
    if verdict is not None:
        return verdict
    note = f"; {refused}" if refused else ""
    return passed(
        f"{len(streams)} concurrent streams, well-formed, with distinct ids; "
        f"{_echoed(streams)}{note}"
    )


@rule(
    "concurrency.same-answer",
    level=Level.SHOULD,
    requirement="On a deterministic endpoint, a prompt answered among concurrent streams gets "
    "the same text as when it is asked alone.",
    spec=specs.OPENAI_SEED,
    hint="Batching must not change a greedy answer: check that padding, attention masks and "
    "per-request sampling state (seed, temperature) stay per sequence in a batch.",
    scenarios=(CONCURRENCY,),
)
def same_answer(t: ChatView) -> Verdict:
    streams, refused = _served(t)
    if len(streams) < 2 or streams[0][0] != "stream-0":
        why = f" ({refused})" if refused else ""
        return skipped(f"stream-0 and another stream were not both served{why}")
    if _malformed(t, streams) or _shared_id(streams) or _mixed(streams):
        # A broken or mixed stream differs for a reason isolation names.
        return skipped("the concurrent streams broke or mixed; see concurrency.isolation")
    deterministic, why = _deterministic(t)
    if not deterministic:
        return skipped(f"texts not compared: {why}")
    name, x = streams[0]
    alone = t.other("alone-0")
    own, text = answer_text(alone) if alone else "", answer_text(x)
    if text != own:
        at = _divergence(text, own)
        return failed(
            f"{name} equal to prompt 0 asked alone",
            f"{name} differs from its answer alone at character {at}: "
            f"concurrent {_around(text, at)!r}, alone {_around(own, at)!r}",
            at=_offset_of(x, at),
            source=name,
        )
    return passed(
        f"{name}, answered among {len(streams)} concurrent streams, equals prompt 0 alone"
    )
