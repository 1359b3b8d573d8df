"""The top of the HTML report: verdict, failures first, counts, matrix, streams.

Pure functions from results to escaped HTML strings; the pytest-html hook in
:mod:`conformance.report.html` places them above the results table.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from ..results import OUTCOMES, Result, RunInfo
from .latency import cost_line, latency_html
from .terminal import deviations, verdict_line, where

__all__ = ["STYLE", "VERDICT_PHRASE", "StreamView", "defang", "summary_html", "title_of"]

_BAD = ("failed", "error", "warned")
_LETTER = {"passed": "P", "failed": "F", "warned": "W", "skipped": "S", "known": "K", "error": "E"}
_LEVELS = ("MUST", "SHOULD", "MAY")

#: The phrase CI looks for; text a server controlled must never spell it out.
VERDICT_PHRASE = "conforms to every MUST rule"
_DEFANGED = "conforms to every MUST&#8203;rule"

STYLE = """<style>
.exo-summary{font-size:13px;margin:8px 0;color:#222}
.exo-summary a{color:#0d47a1}
.exo-summary table{border-collapse:collapse;margin:4px 0 12px}
.exo-summary th,.exo-summary td{border:1px solid #ddd;padding:2px 6px;text-align:left}
.exo-verdict{font-size:18px;font-weight:bold;padding:6px 10px;border-radius:4px;
display:inline-block}
.exo-verdict.ok{background:#e8f5e9;color:#1b5e20}.exo-verdict.bad{background:#ffebee;color:#b71c1c}
.exo-o-passed{background:#c8e6c9}.exo-o-failed{background:#ef9a9a}.exo-o-error{background:#ce93d8}
.exo-o-warned{background:#ffe082}.exo-o-skipped{background:#e0e0e0}.exo-o-known{background:#b3e5fc}
.exo-matrix td.cell{text-align:center;min-width:14px;padding:1px 3px}
.exo-matrix th.scn{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal}
.exo-matrix td.cell a{color:inherit;text-decoration:none;display:block}
.exo-failures li{margin:2px 0;background:none;border-left:6px solid #e57373;padding-left:6px}
.exo-failures li.exo-o-warned{border-left-color:#ffb300}
.exo-rule dt{font-weight:bold;margin-top:4px}.exo-rule dd{margin-left:16px}
.exo-rule pre,.exo-summary pre{white-space:pre-wrap;word-break:break-all;background:#fafafa;
border:1px solid #eee;padding:4px;max-height:320px;overflow:auto}
.exo-timeline{max-width:100%;height:auto;border:1px solid #eee}
</style>"""


@dataclass(frozen=True, slots=True)
class StreamView:
    """One recorded stream as the summary shows it (already escaped SVG)."""

    target: str
    scenario: str
    caption: str
    svg: str


def _e(text: object) -> str:
    return html.escape(str(text))


def row_anchor(nodeid: str) -> str:
    """The fragment that points at a result's row (pytest-html's tbody id)."""
    return "#" + quote(nodeid, safe="")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 200 else line[:197] + "..."


def title_of(info: RunInfo) -> str:
    """The report's title: the tool and what it tested."""
    names = ", ".join(str(t.get("name") or t.get("url")) for t in info.targets) or "no target"
    return f"exo-conformance: {names}"


def verdict_block(results: Sequence[Result], info: RunInfo) -> str:
    """The verdict and the targets it is about, then the run-level error if any."""
    line = verdict_line(list(results))
    css = "bad" if line[:1].isdigit() or info.error is not None else "ok"
    if info.error is not None:
        # A run that stopped early must not read as a pass, not even to a grep.
        kind = info.error.kind
        line = f"not fully judged ({kind}); {line}" if results else f"not judged ({kind})"
    targets = "".join(
        f"<li>{_e(t.get('name'))}: {_e(t.get('url'))}"
        + (f" model {_e(t['model'])}" if t.get("model") else "")
        + (f", APIs {_e(', '.join(t['apis']))}" if t.get("apis") else "")
        + "".join(
            f"; {_e(s.get('api'))} {_e(s.get('reason'))}" for s in t.get("skipped_apis") or []
        )
        + "</li>"
        for t in info.targets
    )
    out = (
        f'<p class="exo-verdict {css}" id="exo-verdict">verdict: {_e(line)}</p>'
        f'<ul class="exo-targets">{targets}</ul>'
    )
    if info.error is not None:
        out += (
            f'<p class="exo-run-error" id="exo-run-error"><b>run error '
            f"({_e(info.error.kind)}):</b> {_e(info.error.message)}</p>"
        )
        return defang(out)
    return out


def failures_block(results: Sequence[Result], many_targets: bool) -> str:
    """One line per deviation: a rule failing on several scenarios is one line."""
    found = [d for d in deviations(results) if d[0].outcome in _BAD]
    if not found:
        return '<p class="exo-failures">No failing or warned rules.</p>'
    order = {lvl: i for i, lvl in enumerate(_LEVELS)}
    found.sort(key=lambda d: (d[0].outcome == "warned", order.get(d[0].level, 9), d[0].rule))
    items = []
    for r, bad, of in found:
        at = f"@{r.target}" if many_targets else ""
        items.append(
            f'<li class="exo-o-{_e(r.outcome)}"><a href="{_e(row_anchor(r.nodeid))}">'
            f"{_e(r.outcome.upper())} {_e(r.level)} {_e(r.rule)}{_e(where(r, bad, of))}{_e(at)}"
            f"</a>: {_e(_first_line(r.message))}</li>"
        )
    return (
        f'<h3 id="exo-failures">Failures and warnings ({len(found)})</h3>'
        f'<ul class="exo-failures">{"".join(items)}</ul>'
    )


def counts_block(results: Sequence[Result]) -> str:
    counts = Counter((r.rule.split(".", 1)[0], r.level, r.outcome) for r in results)
    keys = sorted(
        {(g, lvl) for g, lvl, _ in counts},
        key=lambda k: (k[0], _LEVELS.index(k[1]) if k[1] in _LEVELS else 9),
    )
    head = "".join(f"<th>{o}</th>" for o in OUTCOMES)
    rows = []
    for group, level in keys:
        cells = []
        for outcome in OUTCOMES:
            n = counts.get((group, level, outcome), 0)
            css = f' class="exo-o-{outcome}"' if n and outcome != "passed" else ""
            cells.append(f"<td{css}>{n or ''}</td>")
        rows.append(f"<tr><td>{_e(group)}</td><td>{_e(level)}</td>{''.join(cells)}</tr>")
    totals = Counter(r.outcome for r in results)
    total = "".join(f"<td>{totals.get(o, 0)}</td>" for o in OUTCOMES)
    return (
        f'<h3>Counts by group and level</h3><table class="exo-counts"><tr><th>group</th>'
        f"<th>level</th>{head}</tr>{''.join(rows)}"
        f"<tr><th>all</th><th></th>{total}</tr></table>"
    )


def matrix_block(results: Sequence[Result], target: str, title: str) -> str:
    mine = [r for r in results if r.target == target]
    if not mine:
        return ""
    scenarios = sorted({r.scenario for r in mine})
    rules = list(dict.fromkeys(r.rule for r in mine))
    by = {(r.rule, r.scenario): r for r in mine}
    level = {r.rule: r.level for r in mine}
    head = "".join(f'<th class="scn">{_e(s)}</th>' for s in scenarios)
    rows = []
    for rule in rules:
        cells = []
        for scenario in scenarios:
            found = by.get((rule, scenario))
            cells.append(_matrix_cell(found))
        rows.append(f"<tr><td>{_e(rule)}</td><td>{_e(level[rule])}</td>{''.join(cells)}</tr>")
    return (
        f'<h3>{_e(title)}</h3><table class="exo-matrix"><tr><th>rule</th><th>level</th>'
        f"{head}</tr>{''.join(rows)}</table>"
    )


def _matrix_cell(found: Result | None) -> str:
    if found is None:
        return '<td class="cell"></td>'
    tip = _e(f"{found.rule}[{found.scenario}] {found.outcome}: {_first_line(found.message)}")
    letter = _LETTER.get(found.outcome, "?")
    link = f'<a href="{_e(row_anchor(found.nodeid))}">{letter}</a>' if found.nodeid else letter
    return f'<td class="cell exo-o-{_e(found.outcome)}" title="{tip}">{link}</td>'


def legend_block() -> str:
    items = "".join(
        f'<span class="exo-o-{o}">&nbsp;{_LETTER[o]} {o}&nbsp;</span> ' for o in OUTCOMES
    )
    return f'<p class="exo-legend">{items}</p>'


def environment_block(env: RunInfo) -> str:
    rows = [
        f"<tr><th>target</th><td>{_e(t.get('url'))}</td><td>model {_e(t.get('model'))}</td></tr>"
        for t in env.targets
    ]
    rows.append(f'<tr><th>tool</th><td colspan="2">exo-conformance {_e(env.version)}</td></tr>')
    rows.append(
        f'<tr><th>started</th><td colspan="2">{_e(env.started_at)} '
        f"({env.duration_s:.1f} s)</td></tr>"
    )
    rows.append(f'<tr><th>strict</th><td colspan="2">{"yes" if env.strict else "no"}</td></tr>')
    return f'<table class="exo-env">{"".join(rows)}</table>'


def streams_block(streams: Sequence[StreamView], results: Sequence[Result]) -> str:
    """One timeline per stream; the ones with failing rules start unfolded."""
    if not streams:
        return ""
    bad = {(r.target, r.scenario) for r in results if r.outcome in _BAD}
    parts = ["<h3>Stream timelines</h3>"]
    for view in sorted(streams, key=lambda v: (v.target, v.scenario)):
        unfold = " open" if (view.target, view.scenario) in bad else ""
        parts.append(
            f'<details class="exo-stream"{unfold}><summary>{_e(view.caption)}'
            f"</summary>{view.svg}</details>"
        )
    return "".join(parts)


def summary_html(
    results: Sequence[Result], env: RunInfo, streams: Sequence[StreamView] = ()
) -> str:
    """The whole conformance summary: the verdict and the target first, then the
    run-level error, failures, counts, the matrix, timelines, and the environment."""
    many = len({r.target for r in results}) > 1
    parts = [
        failures_block(results, many),
        counts_block(results),
        legend_block(),
    ]
    targets = list(dict.fromkeys(r.target for r in results))
    apis = list(dict.fromkeys(r.api for r in results))
    for target in targets:
        # One matrix per API, so each API's rules read against its own scenarios.
        for api in apis:
            title = "Rules \u00d7 scenarios" + (f": {api}" if len(apis) > 1 else "")
            title += f" ({target})" if len(targets) > 1 else ""
            parts.append(matrix_block([r for r in results if r.api == api], target, title))
    parts.append(streams_block(streams, results))
    parts.append(latency_html(env.latency))
    if cost := cost_line(env.cost, env.repeat):
        parts.append(f"<p>{html.escape(cost)}</p>")
    parts.append(environment_block(env))
    # Only the verdict line may spell out the passing verdict; messages cannot.
    detail = defang("".join(parts))
    return f'{STYLE}<div class="exo-summary">{verdict_block(results, env)}{detail}</div>'


def defang(markup: str) -> str:
    """Markup in which server-controlled text cannot fake the passing verdict."""
    return markup.replace(VERDICT_PHRASE, _DEFANGED)
