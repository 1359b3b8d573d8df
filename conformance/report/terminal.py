"""The summary printed at the end of a run: failures by level, then the verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..results import Result, RunInfo
from .latency import cost_line, latency_lines

__all__ = ["deviations", "terminal_summary", "verdict_line", "where"]


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:157] + "..."


def verdict_line(results: Sequence[Result]) -> str:
    must = sum(1 for r in results if r.outcome in ("failed", "error") and r.level == "MUST")
    other = sum(1 for r in results if r.outcome in ("failed", "error") and r.level != "MUST")
    if must:
        return f"{must} MUST failure{'s' if must != 1 else ''}"
    if other:
        return f"conforms to every MUST rule; {other} strict SHOULD failure(s)"
    return "conforms to every MUST rule"


def deviations(results: Sequence[Result]) -> list[tuple[Result, int, int]]:
    """One line per deviation: (first result, scenarios it failed on, scenarios judged),
    for each rule whose results are not all passes, in the order first seen."""
    judged: dict[tuple[str, str, str], list[Result]] = {}
    for r in results:
        judged.setdefault((r.target, r.rule, r.level), []).append(r)
    out = []
    for group in judged.values():
        bad = [r for r in group if r.outcome in ("failed", "warned", "error")]
        if bad:
            counted = [r for r in group if r.outcome != "skipped"]
            out.append((bad[0], len(bad), len(counted)))
    return out


def where(first: Result, bad: int, of: int) -> str:
    """``[stream-basic]`` for one scenario, ``on 3 of 4 scenarios`` for several."""
    return f"[{first.scenario}]" if of <= 1 else f" on {bad} of {of} scenarios"


def _bad(results: Sequence[Result], tr: Any) -> None:
    found = deviations(results)
    for level in ("MUST", "SHOULD", "MAY"):
        lines = [d for d in found if d[0].level == level]
        if not lines:
            continue
        tr.write_line(f"{level} ({len(lines)}):")
        for first, bad, of in lines:
            head = f"{first.outcome.upper():7} {first.rule}{where(first, bad, of)}"
            tr.write_line(f"  {head}: {_first_line(first.message)}")


def terminal_summary(tr: Any, results: Sequence[Result], info: RunInfo) -> None:
    if info.error is not None:
        tr.section("exo-conformance")
        tr.write_line(f"run error ({info.error.kind}): {info.error.message}", red=True, bold=True)
    if not results:
        return
    if info.error is None:
        tr.section("exo-conformance")
    names = [str(t["name"]) for t in info.targets]
    names += sorted({r.target for r in results} - set(names))
    for name in names:
        mine = [r for r in results if r.target == name]
        target = next((t for t in info.targets if t["name"] == name), None)
        if len(names) > 1 and not mine:
            continue
        url = f"  {target['url']}" if target and target["url"] != name else ""
        model = f"  model {target['model']}" if target else ""
        tr.write_line(f"target {name}{url}{model}", bold=len(names) > 1)
        if target and target.get("apis"):
            tr.write_line(f"APIs tested: {', '.join(target['apis'])}")
        for skipped in target.get("skipped_apis", []) if target else []:
            tr.write_line(f"  {skipped['api']}: {skipped['reason']}")
        counts = Counter(r.outcome for r in mine)
        tr.write_line(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no results")
        _bad(mine, tr)
    for note in info.baseline_notes:
        tr.write_line(note)
    for name, figures in info.latency.items():
        for text in latency_lines(name, figures):
            tr.write_line(text)
    if cost := cost_line(info.cost, info.repeat):
        tr.write_line(cost)
    line = verdict_line(results)
    tr.write_line(f"verdict: {line}", bold=True, red=line[0].isdigit(), green=not line[0].isdigit())
