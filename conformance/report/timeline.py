"""A chunk-arrival timeline of one stream, as an inline SVG string.

Time runs left to right in ms from the moment the request was sent.  Each kind
of arrival has its own lane (headers, socket reads, role chunk, content,
other chunks, usage, comments, error events, ``[DONE]``), so a buffered stream
(every mark bunched at the right end) and a stall (a wide empty stretch) show
at a glance.  Every mark has a ``<title>`` tooltip; all text is escaped.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..capture.redact import redact
from ..capture.transcript import Event, Transcript

__all__ = ["KINDS", "Mark", "event_kind", "is_stream", "marks", "nice_step", "timeline_svg"]

#: Lanes top to bottom: (kind, label, colour).
KINDS: tuple[tuple[str, str, str], ...] = (
    ("headers", "headers", "#555555"),
    ("read", "socket reads", "#9e9e9e"),
    ("role", "role chunk", "#7b1fa2"),
    ("content", "content", "#1565c0"),
    ("chunk", "other chunk", "#00897b"),
    ("usage", "usage", "#ef6c00"),
    ("comment", "comment (keep-alive)", "#8d6e63"),
    ("error", "error event", "#c62828"),
    ("done", "[DONE]", "#2e7d32"),
)
_ALWAYS = frozenset({"headers", "role", "usage", "error", "done"})
_LANE_H = 16
_TOP = 8
_LABEL_W = 150
_AXIS_H = 26


@dataclass(frozen=True, slots=True)
class Mark:
    kind: str
    t_ns: int
    tip: str


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _delta_kind(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices")
    if isinstance(chunk.get("usage"), dict) and not choices:
        return "usage"
    for choice in choices if isinstance(choices, list) else []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and delta.get("role"):
            return "role"
    for choice in choices if isinstance(choices, list) else []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and delta.get("content"):
            return "content"
    return "chunk"


def event_kind(event: Event) -> str:
    """Which lane an event belongs in."""
    if event.type == "message" and event.data == "[DONE]":
        return "done"
    try:
        value = json.loads(event.data)
    except ValueError:
        return "chunk"
    if not isinstance(value, dict):
        return "chunk"
    if "error" in value:
        return "error"
    return _delta_kind(value)


def is_stream(transcript: Transcript) -> bool:
    """Whether the exchange was (or was asked to be) an event stream."""
    if transcript.events or transcript.comments:
        return True
    body = transcript.request.json()
    return isinstance(body, dict) and body.get("stream") is True


def _event_text(event: Event, kind: str) -> str:
    """What a tooltip shows: the delta text of a content chunk, else the data."""
    if kind in ("content", "role"):
        value = json.loads(event.data)
        texts = [
            c["delta"].get("content")
            for c in value.get("choices") or []
            if isinstance(c, dict) and isinstance(c.get("delta"), dict)
        ]
        joined = "".join(t for t in texts if isinstance(t, str))
        if joined:
            return _short(json.dumps(joined, ensure_ascii=False))
    return _short(event.data)


def _ms(t_ns: int) -> str:
    return f"{t_ns / 1e6:.1f} ms"


def marks(transcript: Transcript) -> list[Mark]:
    """Every arrival of the transcript, as marks in time order within each kind."""
    out: list[Mark] = []
    if transcript.t_headers_ns is not None:
        out.append(
            Mark(
                "headers",
                transcript.t_headers_ns,
                f"headers (HTTP {transcript.status}) at {_ms(transcript.t_headers_ns)}",
            )
        )
    for read in transcript.reads:
        out.append(
            Mark(
                "read",
                read.t_ns,
                f"read of {read.size} bytes at offset {read.offset}, {_ms(read.t_ns)}",
            )
        )
    for i, event in enumerate(transcript.events):
        kind = event_kind(event)
        out.append(
            Mark(
                kind,
                event.t_ns,
                f"event #{i} {kind} at {_ms(event.t_ns)}: {_event_text(event, kind)}",
            )
        )
    for comment in transcript.comments:
        out.append(
            Mark("comment", comment.t_ns, f"comment at {_ms(comment.t_ns)}: {_short(comment.text)}")
        )
    return out


def thin(all_marks: Sequence[Mark], cap: int) -> list[Mark]:
    """At most about ``cap`` marks: rare kinds kept whole, the rest evenly strided."""
    if len(all_marks) <= cap:
        return list(all_marks)
    kept = [m for m in all_marks if m.kind in _ALWAYS]
    rest = [m for m in all_marks if m.kind not in _ALWAYS]
    room = max(1, cap - len(kept))
    stride = math.ceil(len(rest) / room)
    return kept + rest[::stride]


def nice_step(span: float, ticks: int = 8) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``ticks`` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _axis(span_ms: float, x0: float, width: float, y: float) -> list[str]:
    step = nice_step(span_ms)
    out = [f'<line x1="{x0}" y1="{y}" x2="{x0 + width}" y2="{y}" stroke="#333"/>']
    n = 0
    while n * step <= span_ms + 1e-9:
        x = x0 + width * (n * step) / span_ms
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#333"/>')
        out.append(
            f'<text x="{x:.1f}" y="{y + 15}" font-size="10" text-anchor="middle">'
            f"{_fmt(round(n * step, 6))}</text>"
        )
        n += 1
    out.append(f'<text x="{x0 + width}" y="{y + 25}" font-size="10" text-anchor="end">ms</text>')
    return out


def _lanes(x0: float, width: float) -> list[str]:
    out = []
    for i, (kind, label, colour) in enumerate(KINDS):
        y = _TOP + i * _LANE_H
        fill = "#f5f5f5" if i % 2 else "#ffffff"
        out.append(f'<rect x="{x0}" y="{y}" width="{width}" height="{_LANE_H}" fill="{fill}"/>')
        out.append(f'<rect x="4" y="{y + 4}" width="8" height="8" fill="{colour}"/>')
        out.append(
            f'<text x="16" y="{y + 12}" font-size="11" data-kind="{kind}">'
            f"{html.escape(label)}</text>"
        )
    return out


def _mark_svg(mark: Mark, x: float, secrets: Iterable[str | None]) -> str:
    lane = next(i for i, (kind, _, _) in enumerate(KINDS) if kind == mark.kind)
    colour = KINDS[lane][2]
    y = _TOP + lane * _LANE_H
    tip = html.escape(redact(mark.tip, secrets))
    return (
        f'<line class="exo-mark exo-{mark.kind}" x1="{x:.1f}" y1="{y + 2}" '
        f'x2="{x:.1f}" y2="{y + _LANE_H - 2}" stroke="{colour}" stroke-width="2">'
        f"<title>{tip}</title></line>"
    )


def caption(transcript: Transcript) -> str:
    """One line: when headers and the first byte came, events, longest gap, ending."""
    parts = [f"{transcript.scenario}: HTTP {transcript.status}"]
    if transcript.t_headers_ns is not None:
        parts.append(f"headers {_ms(transcript.t_headers_ns)}")
    if transcript.ttfb_ms is not None:
        parts.append(f"first byte {transcript.ttfb_ms:.1f} ms")
    parts.append(
        f"{len(transcript.events)} events, {len(transcript.body)} bytes "
        f"in {transcript.duration_ms:.1f} ms"
    )
    times = [e.t_ns for e in transcript.events]
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(times)]
    if gaps:
        parts.append(f"longest gap {max(gaps):.1f} ms")
    late = _late_share(transcript)
    if late is not None:
        parts.append(f"{late:.0%} of events in the last tenth of the time")
    parts.append(f"ending {transcript.ending}")
    return ", ".join(parts)


def _late_share(transcript: Transcript) -> float | None:
    if len(transcript.events) < 2 or transcript.t_end_ns <= 0:
        return None
    cut = transcript.t_end_ns * 0.9
    return sum(1 for e in transcript.events if e.t_ns >= cut) / len(transcript.events)


def timeline_svg(
    transcript: Transcript,
    *,
    width: int = 960,
    max_marks: int = 2000,
    secrets: Iterable[str | None] = (),
) -> str:
    """The transcript's arrivals as a self-contained inline ``<svg>`` element."""
    secrets = tuple(secrets)
    everything = marks(transcript)
    shown = thin(everything, max_marks)
    end_ns = max([transcript.t_end_ns, *(m.t_ns for m in everything)])
    span_ms = max(end_ns / 1e6, 1.0)
    plot_w = width - _LABEL_W - 16
    axis_y = _TOP + len(KINDS) * _LANE_H + 2
    height = axis_y + _AXIS_H + 4
    title = caption(transcript)
    if len(shown) < len(everything):
        title += f" (showing {len(shown)} of {len(everything)} marks)"
    title = html.escape(redact(title, secrets))
    body = [
        f'<svg class="exo-timeline" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" aria-label="{title}">',
        f"<title>{title}</title>",
        *_lanes(_LABEL_W, plot_w),
        *_axis(span_ms, _LABEL_W, plot_w, axis_y),
    ]
    for mark in shown:
        x = _LABEL_W + plot_w * (mark.t_ns / 1e6) / span_ms
        body.append(_mark_svg(mark, x, secrets))
    body.append("</svg>")
    return "".join(body)
