"""The load scenario's figures and a run's cost, as terminal lines and an HTML plot.

The plot is inline SVG built from numbers only (every label passes through
``html.escape``, the target name included), so nothing a server sends can
reach the page unescaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["cost_line", "latency_html", "latency_lines", "latency_svg"]

WIDTH, HEIGHT, PAD = 640, 220, 44
BINS = 30


def _ms(value: Any) -> str:
    return f"{value:9.1f}" if isinstance(value, int | float) else "      n/a"


def latency_lines(name: str, figures: Mapping[str, Any]) -> list[str]:
    """A small table: TTFT, ITL and end-to-end p50/p95/p99 under load, and alone."""
    alone = figures.get("alone") or {}
    head = (
        f"load {name}: {figures['streams']} streams at once for {figures.get('duration_s', 0):g} s,"
        f" {figures['requests']} requests, {figures['completed']} completed,"
        f" {figures['tokens_per_s']:g} tokens/s"
    )
    alone_itl = (alone.get("itl_ms") or {}).get("p50")
    rows = [
        ("time to first content", figures["ttft_ms"], alone.get("ttft_ms")),
        ("inter-token latency", figures["itl_ms"], alone_itl),
        ("end-to-end latency", figures["e2e_ms"], alone.get("e2e_ms")),
    ]
    lines = [head, f"  {'ms':<22}{'p50':>9}{'p95':>9}{'p99':>9}{'alone':>9}"]
    for label, p, lone in rows:
        lines.append(f"  {label:<22}{_ms(p['p50'])}{_ms(p['p95'])}{_ms(p['p99'])}{_ms(lone)}")
    if alone.get("tokens_per_s"):
        lines.append(f"  a lone stream decodes {alone['tokens_per_s']:g} tokens/s")
    return lines


def cost_line(cost: Mapping[str, int] | None, repeat: int = 1) -> str:
    """What the run asked of the endpoints, in one line."""
    if not cost:
        return ""
    unbounded = cost.get("unbounded_requests", 0)
    more = f" (and {unbounded} requests without a bound)" if unbounded else ""
    times = f"; every scenario recorded {repeat} times" if repeat > 1 else ""
    return (
        f"cost: {cost['requests']} requests, {cost['requested_tokens']} completion tokens "
        f"asked for{more}, {cost['generated_tokens']} generated (as usage reports){times}"
    )


# -- the plot -------------------------------------------------------------------------


def _scale(value: float, low: float, high: float, size: float) -> float:
    return 0.0 if high <= low else (value - low) / (high - low) * size


def _axis(title: str, x_label: str, y_label: str) -> list[str]:
    bottom, right = HEIGHT - PAD, WIDTH - 10
    return [
        f'<text x="{PAD}" y="14" font-size="12">{html.escape(title)}</text>',
        f'<line x1="{PAD}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#555"/>',
        f'<line x1="{PAD}" y1="20" x2="{PAD}" y2="{bottom}" stroke="#555"/>',
        f'<text x="{right}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">'
        f"{html.escape(x_label)}</text>",
        f'<text x="4" y="30" font-size="10">{html.escape(y_label)}</text>',
    ]


def _over_time(timeline: Sequence[Sequence[Any]], title: str) -> str:
    """Each sampled stream: when it was sent (x) and its end-to-end and TTFT (y)."""
    points = [(float(s), t, float(e)) for s, t, e in timeline if isinstance(e, int | float)]
    if not points:
        return ""
    t_max = max(p[0] for p in points) or 1.0
    y_max = max(p[2] for p in points) or 1.0
    plot_w, plot_h = WIDTH - PAD - 10, HEIGHT - PAD - 20
    parts = _axis(title, f"sent at (s, to {t_max:.1f})", f"ms (to {y_max:.0f})")
    for sent, ttft, e2e in points:
        x = PAD + _scale(sent, 0, t_max, plot_w)
        y = HEIGHT - PAD - _scale(e2e, 0, y_max, plot_h)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.6" fill="#1f77b4"/>')
        if isinstance(ttft, int | float):
            y = HEIGHT - PAD - _scale(float(ttft), 0, y_max, plot_h)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.6" fill="#ff7f0e"/>')
    parts.append(
        f'<text x="{WIDTH - 10}" y="14" font-size="10" text-anchor="end">'
        '<tspan fill="#1f77b4">end-to-end</tspan> <tspan fill="#ff7f0e">first content</tspan>'
        "</text>"
    )
    return _svg(parts)


def _histogram(values: Sequence[float], title: str) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    width = (high - low) / BINS or 1.0
    counts = [0] * BINS
    for v in values:
        counts[min(int((v - low) / width), BINS - 1)] += 1
    top = max(counts)
    plot_w, plot_h = WIDTH - PAD - 10, HEIGHT - PAD - 20
    bar = plot_w / BINS
    parts = _axis(title, f"ms ({low:.1f} to {high:.1f})", f"streams (to {top})")
    for i, n in enumerate(counts):
        h = _scale(n, 0, top, plot_h)
        x, y = PAD + i * bar, HEIGHT - PAD - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
            'fill="#2ca02c"/>'
        )
    return _svg(parts)


def _svg(parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img">' + "".join(parts) + "</svg>"
    )


def latency_svg(name: str, figures: Mapping[str, Any]) -> str:
    """Latency over the load window and a histogram of end-to-end latency."""
    timeline = figures.get("timeline") or []
    e2e = [float(e) for _, _, e in timeline if isinstance(e, int | float) and math.isfinite(e)]
    return _over_time(timeline, f"{name}: latency over time") + _histogram(
        e2e, f"{name}: end-to-end latency (histogram)"
    )


def latency_html(latency: Mapping[str, Mapping[str, Any]]) -> str:
    """The HTML section: per target, the table and the two plots."""
    if not latency:
        return ""
    out = ["<h2>Load</h2>"]
    for name, figures in latency.items():
        table = "\n".join(latency_lines(name, figures))
        out.append(f"<pre>{html.escape(table)}</pre>")
        out.append(f'<div class="exo-load">{latency_svg(name, figures)}</div>')
    return "\n".join(out)
