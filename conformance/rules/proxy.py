"""What a proxy changed: its stream compared with its upstream's (``--exo-upstream``).

Each paired scenario is recorded through the proxy and directly against the
upstream, one after the other; the upstream's transcript is the proxy
transcript's related exchange :data:`~conformance.scenarios.proxy.UPSTREAM`.
The ordinary rules judge the proxy's stream as any endpoint's; these rules
judge the difference, so a failure here says the proxy, not its upstream,
did it.  Within this group one deviation trips one rule: events the proxy
lost are ``proxy.events``', a failure it hid is ``proxy.errors``', time it
added is ``proxy.buffering``'s.
"""

from __future__ import annotations

import itertools
import json
import statistics
from typing import Any

from ..capture.transcript import Ending, Event
from ..scenarios.chat import STREAMS
from ..scenarios.proxy import PROXY_DISCONNECT, UPSTREAM
from ..scenarios.sessions import POLL_WINDOW_S, generation_counter
from ..view import ChatView
from . import disconnect, specs
from .common import describe_end, media_type, preview
from .registry import Level, Verdict, failed, passed, rule, skipped

__all__ = ["BUFFER_FLOOR_MS", "BUFFER_SHARE", "MIN_SPAN_MS", "buffering_bound_ms"]

#: Streams whose events the proxy relays: the chat streams, tool calls included.
RELAYED = (*STREAMS, "stream-tools-parallel")
#: Scenarios whose upstream answer is an error (an invalid request), plus the streams.
FAILING = (
    "error-invalid-json",
    "error-missing-messages",
    "error-unknown-model",
    "error-stream-missing-messages",
    "error-stream-unknown-model",
)
#: proxy.buffering's bound: the larger of this and BUFFER_SHARE of the upstream's
#: streaming time.  Two recordings made one after the other on one host differ
#: by scheduling noise (tens of ms, more on a loaded host); a proxy that holds a
#: stream back holds it for most of its length.
BUFFER_FLOOR_MS = 500.0
BUFFER_SHARE = 0.25
#: Below this upstream streaming time (first to last content event), noise and
#: buffering cannot be told apart: the rule skips, saying so.
MIN_SPAN_MS = 1000.0
#: Events of the proxy's stream that arrive this close together (or within a
#: quarter of the upstream's median gap, if larger) were released together.
TOGETHER_MS = 2.0


def buffering_bound_ms(upstream_span_ms: float) -> float:
    """How much later than the upstream's a proxied event may arrive."""
    return max(BUFFER_FLOOR_MS, BUFFER_SHARE * upstream_span_ms)


# -- the pair ---------------------------------------------------------------------------


def _upstream(t: ChatView) -> ChatView | Verdict:
    """The upstream's view of the same scenario, or a skip saying why there is none."""
    up = t.other(UPSTREAM)
    if up is None:
        return skipped("no upstream transcript: record with --exo-upstream URL to compare")
    if up.status is None:
        return skipped(f"the upstream did not answer ({describe_end(up)}): nothing to compare")
    return up


def _upstream_stream(t: ChatView) -> ChatView | Verdict:
    """The upstream's stream, when it is a clean one a relay can be compared with."""
    up = _upstream(t)
    if not isinstance(up, ChatView):
        return up
    if up.status != 200:
        return skipped(f"the upstream answered HTTP {up.status}: proxy.errors judges the relay")
    if up.errors:
        return skipped("the upstream sent an error event: proxy.errors judges the relay")
    if not up.ended_cleanly or up.done_index() is None:
        return skipped(f"the upstream's own stream is not whole ({describe_end(up)})")
    return up


#: Chunk fields a proxy may set itself (ids and timestamps it mints, the model
#: name it exposes as a gateway's alias, the fingerprint of its own stack), and
#: padding that differs on every answer by design (OpenAI's `obfuscation`).
REWRITABLE = ("id", "created", "model", "system_fingerprint", "obfuscation")


def _normal(event: Event) -> tuple[str, Any]:
    """An event as compared: its type and data, JSON parsed, the REWRITABLE fields left
    out, so re-serialised JSON compares equal."""
    try:
        value = json.loads(event.data)
    except ValueError:
        return event.type, event.data
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in REWRITABLE}
        value["choices"] = [_without_call_ids(c) for c in value.get("choices") or []]
    return event.type, value


def _without_call_ids(choice: Any) -> Any:
    """A choice with its tool calls' ids left out: each request mints fresh ones."""
    delta = choice.get("delta") if isinstance(choice, dict) else None
    calls = delta.get("tool_calls") if isinstance(delta, dict) else None
    if not isinstance(delta, dict) or not isinstance(calls, list):
        return choice
    plain = [{k: v for k, v in c.items() if k != "id"} if isinstance(c, dict) else c for c in calls]
    return {**choice, "delta": {**delta, "tool_calls": plain}}


def _read(t: ChatView) -> list[tuple[str, Any]]:
    """The events a client reads (those before [DONE]), as compared."""
    return [_normal(p.event) for p in t.read]


def _is_subsequence(short: list[Any], long: list[Any]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def _first_difference(a: list[Any], b: list[Any]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def _show(t: ChatView, index: int) -> str:
    """An event as compared (without `id` and `created`), shortened."""
    events = [p.event for p in t.read]
    if index >= len(events):
        return "(none)"
    kind, value = _normal(events[index])
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return preview(shown if kind == "message" else f"event: {kind} {shown}", 160)


# -- proxy.events ---------------------------------------------------------------------------


@rule(
    "proxy.events",
    level=Level.MUST,
    requirement="Every data event the upstream sends reaches the client, in order and "
    "unchanged (`id`, `created`, `model`, `system_fingerprint`, `obfuscation` and tool-call "
    "ids may differ).",
    spec=specs.SEED_PROXY,
    quote="The generator must own the async context manager: the connection stays open as "
    "long as the generator is consuming data (the seed's fix).",
    breaks=(
        "openai-python (an answer cut short or missing, with no error)",
        "every client of the proxy",
    ),
    hint="Relay the upstream body as it comes: open the upstream stream inside the response "
    "generator (never return a StreamingResponse from inside `async with client.stream()`), "
    "yield every chunk, and close the upstream only after the last one.",
    scenarios=RELAYED,
)
def events(t: ChatView) -> Verdict:
    up = _upstream_stream(t)
    if not isinstance(up, ChatView):
        return up
    sent, got = _read(up), _read(t)
    n = len(sent)
    if t.status != 200:
        return failed(
            f"the upstream's {n} events relayed on HTTP 200, as the upstream answered",
            f"HTTP {t.status} from the proxy" if t.status else f"no response: {describe_end(t)}",
            at=0,
        )
    if got == sent:
        return passed(f"all {n} upstream events reached the client in order")
    if t.errors:
        return skipped("the proxy sent an error event of its own: proxy.errors judges it")
    if got == sent[: len(got)]:
        return failed(
            f"all {n} upstream events",
            _cut(t, len(got), n),
            at=len(t.body),
        )
    if _is_subsequence(got, sent):
        i = _first_difference(got, sent)
        return failed(
            f"all {n} upstream events, in order",
            f"{n - len(got)} of them never reached the client; the first missing is upstream "
            f"event {i + 1}: {_show(up, i)!r}",
            at=t.read[i].event.offset if i < len(t.read) else len(t.body),
        )
    if sorted(map(repr, got)) == sorted(map(repr, sent)):
        i = _first_difference(got, sent)
        return failed(
            "the upstream's events in the upstream's order",
            f"the same {n} events, reordered from event {i + 1}: {_show(t, i)!r}",
            at=t.read[i].event.offset,
        )
    if _is_subsequence(sent, got):
        i = _first_difference(got, sent)
        return failed(
            f"the upstream's {n} events and no other",
            f"the proxy added {len(got) - n} event(s); the first is event {i + 1}: {_show(t, i)!r}",
            at=t.read[i].event.offset,
        )
    i = _first_difference(got, sent)
    if len(got) == n and _text(t) and _text(t) == _text(up):
        return failed(
            "the upstream's events unchanged",
            f"the same text, but the proxy changed event {i + 1}: {_show(t, i)!r}, upstream "
            f"sent {_show(up, i)!r}",
            at=t.read[i].event.offset,
        )
    return skipped(
        f"the two answers differ from event {i + 1} on (proxy: {_show(t, i)!r}, upstream: "
        f"{_show(up, i)!r}) in a way no relay explains: the upstream does not answer the same "
        "request twice alike, so the pair cannot be compared event by event"
    )


def _text(t: ChatView) -> str:
    """What a client shows of the answer: the joined content and tool-call arguments
    (a difference there may be the upstream's own nondeterminism)."""
    parts = []
    for _, chunk in t.chunks():
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                parts.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    parts.append(function["arguments"])
    return "".join(parts)


def _cut(t: ChatView, got: int, sent: int) -> str:
    if got == 0 and t.status == 200:
        # The seed's bug, as a client sees it: headers, then nothing.
        return (
            f"none of them: the proxy answered HTTP 200 and then no event ({describe_end(t)}), "
            "as a proxy does whose upstream stream was closed before its response generator "
            "read it (StreamingResponse returned from inside `async with client.stream()`)"
        )
    return f"only the first {got}, then {describe_end(t)}"


# -- proxy.errors ---------------------------------------------------------------------------


def _upstream_failure(up: ChatView) -> str | None:
    """How the upstream failed (an error status or an error event), or None."""
    if up.status is not None and up.status >= 400:
        body = preview(up.body.decode("utf-8", "replace")) if up.body else "no body"
        return f"HTTP {up.status} ({body})"
    if up.errors:
        first = up.errors[0]
        return f"an error event at byte {first.event.offset}: {preview(first.event.data)!r}"
    return None


def _success_shown(t: ChatView) -> str:
    """What the proxy's answer looks like to a client that sees no error."""
    if t.status is not None and t.status < 300 and not t.events:
        return f"HTTP {t.status}, a {'JSON answer' if t.json() is not None else 'body'}"
    finishes = [
        c.get("finish_reason")
        for _, chunk in t.chunks()
        for c in chunk.get("choices") or []
        if isinstance(c, dict) and c.get("finish_reason")
    ]
    ending = f"finish_reason {finishes[-1]!r}" if finishes else "no error"
    return f"HTTP {t.status}, a stream ending with {ending} and no error event"


@rule(
    "proxy.errors",
    level=Level.MUST,
    requirement="An upstream failure (an error status or an error event) reaches the client "
    "as a failure (an error status, an error event or a broken connection), never as a "
    "success.",
    spec=specs.SEED_PROXY,
    quote="Streaming errors are now returned as SSE `data:` events (the seed's fix).",
    breaks=(
        "openai-python (returns a cut or empty answer as if it were whole)",
        "retry logic in every client (a hidden failure is never retried)",
    ),
    hint="Pass upstream errors on: an upstream 4xx/5xx as the same status with its JSON "
    'body, an upstream `data: {"error": ...}` event as it is, followed by `data: [DONE]`; '
    "never replace them with a finish chunk.",
    scenarios=(*RELAYED, *FAILING),
)
def errors(t: ChatView) -> Verdict:
    up = _upstream(t)
    if not isinstance(up, ChatView):
        return up
    failure = _upstream_failure(up)
    if failure is None:
        return skipped("the upstream reported no failure here: nothing to relay")
    if t.status is None or (not t.ended_cleanly and not t.chunks()):
        return passed(f"the upstream failed with {failure}; the client saw {describe_end(t)}")
    if t.status >= 400:
        return passed(f"the upstream failed with {failure}; the client got HTTP {t.status}")
    if t.errors:
        return passed(f"the upstream failed with {failure}; the client got an error event")
    return failed(
        f"a failure the client sees, as the upstream's {failure}",
        _success_shown(t),
        at=0,
    )


# -- proxy.buffering ------------------------------------------------------------------------


def _content_times(t: ChatView) -> list[int]:
    """When each chunk with content (text, reasoning or tool arguments) arrived, in ns."""
    times = []
    for event, chunk in t.chunks():
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and any(
                delta.get(k) for k in ("content", "reasoning_content", "tool_calls")
            ):
                times.append(event.t_ns)
                break
    return times


def _held_back_ms(proxied: list[int], upstream: list[int]) -> tuple[float, int, int]:
    """The longest hold of the proxy's stream: events that arrived together (within
    TOGETHER_MS, or a quarter of the upstream's median gap) although the upstream
    produced them over a span; that span is how long the first was held.  Returns
    it with the group's first and last event index."""
    gaps = [b - a for a, b in itertools.pairwise(upstream)]
    window = max(TOGETHER_MS * 1e6, statistics.median(gaps) / 4 if gaps else 0.0)
    best = (0.0, 0, 0)
    start = 0
    for i in range(1, len(proxied) + 1):
        if i < len(proxied) and proxied[i] - proxied[i - 1] <= window:
            continue
        held = (upstream[i - 1] - upstream[start]) / 1e6
        if held > best[0]:
            best = (held, start, i - 1)
        start = i
    return best


@rule(
    "proxy.buffering",
    level=Level.MUST,
    requirement="The proxy holds nothing back: its first content arrives, and no event is "
    f"released, later than the upstream's by more than the larger of {BUFFER_FLOOR_MS:g} ms "
    f"and {BUFFER_SHARE:.0%} of the upstream's streaming time (both measured from the pair).",
    spec=specs.NGINX_X_ACCEL,
    quote="When buffering is enabled, nginx receives a response from the proxied server as "
    "soon as possible, saving it into the buffers (nginx, proxy_buffering).",
    breaks=(
        "every streaming UI (the answer appears all at once, after the whole generation)",
        "clients with a read timeout shorter than the generation",
    ),
    hint="Write each upstream event to the client as soon as it is read: no response "
    "buffering, no compression of text/event-stream (or a flush per event), and "
    "`X-Accel-Buffering: no` for nginx in front.",
    scenarios=STREAMS,
)
def buffering(t: ChatView) -> Verdict:
    up = _upstream_stream(t)
    if not isinstance(up, ChatView):
        return up
    ours, theirs = _content_times(t), _content_times(up)
    if t.status != 200 or len(ours) != len(theirs) or not theirs:
        return skipped(
            f"the proxy relayed {len(ours)} content events of the upstream's {len(theirs)}: "
            "proxy.events judges that"
        )
    span = (theirs[-1] - theirs[0]) / 1e6
    if span < MIN_SPAN_MS:
        return skipped(
            f"the upstream streamed its {len(theirs)} content events in {span:.0f} ms: too "
            f"short to tell a hold from scheduling noise (needs {MIN_SPAN_MS:g} ms)"
        )
    bound = buffering_bound_ms(span)
    first = (ours[0] - theirs[0]) / 1e6
    held, a, b = _held_back_ms(ours, theirs)
    numbers = (
        f"first content {first:+.0f} ms against the upstream's; longest hold {held:.0f} ms "
        f"(events {a + 1}-{b + 1} of {len(ours)} released together); bound {bound:.0f} ms "
        f"(upstream streaming time {span:.0f} ms)"
    )
    if first <= bound and held <= bound:
        return passed(numbers)
    at = next((e.offset for e, _ in t.chunks() if e.t_ns == ours[b]), None)
    return failed(f"every event within {bound:.0f} ms of the upstream's", numbers, at=at)


# -- proxy.headers --------------------------------------------------------------------------


def _streaming_headers(t: ChatView) -> dict[str, bool]:
    """Whether each streaming header is there and right."""
    cache = {
        d.split("=", 1)[0].strip().lower()
        for v in t.header_values("cache-control")
        for d in v.split(",")
    }
    accel = [v.strip().lower() for v in t.header_values("x-accel-buffering")]
    return {
        "Content-Type: text/event-stream": media_type(t.header("content-type"))
        == "text/event-stream",
        "Cache-Control: no-cache": bool(cache & {"no-cache", "no-store"}),
        "X-Accel-Buffering: no": accel == ["no"],
    }


@rule(
    "proxy.headers",
    level=Level.SHOULD,
    requirement="The proxied stream keeps the streaming headers the upstream sent: "
    "`Content-Type: text/event-stream`, `Cache-Control: no-cache`, `X-Accel-Buffering: no`.",
    spec=specs.NGINX_X_ACCEL,
    quote="Buffering can also be enabled or disabled by passing “yes” or “no” in the "
    "“X-Accel-Buffering” response header field (nginx, proxy_buffering).",
    breaks=("nginx and caches in front of the proxy (they buffer or store the stream)",),
    hint="Copy the upstream's streaming headers onto the proxied response, or set them "
    "yourself: `Cache-Control: no-cache`, `X-Accel-Buffering: no` (the seed's fix adds both).",
    scenarios=STREAMS,
)
def headers(t: ChatView) -> Verdict:
    up = _upstream(t)
    if not isinstance(up, ChatView):
        return up
    if up.status != 200 or t.status != 200:
        return skipped(f"not two streams (proxy HTTP {t.status}, upstream HTTP {up.status})")
    ours, theirs = _streaming_headers(t), _streaming_headers(up)
    dropped = [name for name, ok in theirs.items() if ok and not ours[name]]
    if dropped:
        shown = "; ".join(
            f"{h.split(':')[0]}: {t.header(h.split(':')[0]) or '(none)'}" for h in dropped
        )
        return failed(
            "the upstream's streaming headers: " + ", ".join(dropped),
            f"the proxy dropped or changed them ({shown})",
            at=0,
        )
    missing = [name for name, ok in ours.items() if not ok]
    if missing:
        return skipped(
            f"neither the upstream nor the proxy sends {', '.join(missing)}: the headers.* "
            "rules report it on the proxy's stream"
        )
    return passed("the proxied stream carries every streaming header")


# -- proxy.disconnect -------------------------------------------------------------------


def _finished_before_drop(t: ChatView) -> bool:
    """Whether the first reading after the drop already shows the generation done,
    not cancelled: the client could drop only after the upstream had finished."""
    first = t.other("generations-0")
    after = t.other("generations-1")
    if first is None or after is None:
        return False
    before, now = generation_counter(first.transcript), generation_counter(after.transcript)
    if before is None or now is None:
        return False
    return now["finished"] > before["finished"] and now["active"] <= before["active"]


@rule(
    "proxy.disconnect",
    level=Level.SHOULD,
    requirement="When the client drops a proxied stream, the proxy drops its upstream stream, "
    f"and the upstream's generation stops within {POLL_WINDOW_S:g} s (judged where "
    "the upstream exposes its generation counters, read directly from the upstream).",
    spec=disconnect.ASGI_DISCONNECT,
    quote="The generator must own the async context manager ... Connection closes when "
    "generator finishes (the seed's fix): closing the generator closes the upstream.",
    breaks=("the upstream (it keeps generating for nobody, holding a slot other users wait for)",),
    hint="Close the upstream stream when the client goes away: keep `async with "
    "client.stream(...)` inside the response generator, so the cancellation that ends the "
    "generator exits the block and closes the upstream connection; never drain it in the "
    "background.",
    scenarios=(PROXY_DISCONNECT,),
)
def drops_upstream(t: ChatView) -> Verdict:
    if t.ending is not Ending.DROPPED and t.status == 200:
        return skipped(f"the stream was not dropped: {describe_end(t)}")
    verdict = disconnect.cancels(t)
    if verdict.outcome != "failed":
        return verdict
    if _finished_before_drop(t):
        return skipped(
            "the upstream had finished generating by the time the client dropped the stream "
            "(the proxy held its events back: proxy.buffering's to judge)"
        )
    return failed(
        "the upstream's generation cancelled once the client dropped the proxied stream",
        f"the upstream kept generating: {verdict.actual}",
        at=verdict.offset,
        source=verdict.source,
    )
