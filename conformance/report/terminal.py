"""The summary printed at the end of a run: failures by level, then the verdict."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..run import ConformanceRun, Result

__all__ = ["terminal_summary", "verdict_line"]


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:157] + "..."


def verdict_line(results: list[Result]) -> str:
    must = sum(1 for r in results if r.outcome in ("failed", "error") and r.level == "MUST")
    other = sum(1 for r in results if r.outcome in ("failed", "error") and r.level != "MUST")
    if must:
        return f"{must} MUST failure{'s' if must != 1 else ''}"
    if other:
        return f"conforms to every MUST rule; {other} strict SHOULD failure(s)"
    return "conforms to every MUST rule"


def _bad(results: list[Result], where: Any, tr: Any) -> None:
    for level in ("MUST", "SHOULD", "MAY"):
        bad = [
            r for r in results if r.level == level and r.outcome in ("failed", "warned", "error")
        ]
        if not bad:
            continue
        tr.write_line(f"{level} ({len(bad)}):")
        for r in bad:
            tr.write_line(f"  {r.outcome.upper():7} {r.rule}[{where(r)}]: {_first_line(r.message)}")


def terminal_summary(tr: Any, run: ConformanceRun) -> None:
    if not run.results:
        return
    tr.section("exo-conformance")
    info = run.target_info()
    names = [t["name"] for t in info]
    names += sorted({r.target for r in run.results} - set(names))
    for name in names:
        results = [r for r in run.results if r.target == name]
        target = next((t for t in info if t["name"] == name), None)
        if len(names) > 1 and not results:
            continue
        url = f"  {target['url']}" if target and target["url"] != name else ""
        model = f"  model {target['model']}" if target else ""
        tr.write_line(f"target {name}{url}{model}", bold=len(names) > 1)
        counts = Counter(r.outcome for r in results)
        tr.write_line(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no results")
        _bad(results, lambda r: r.scenario, tr)
    if run.baseline is not None:
        for entry in run.baseline.stale():
            tr.write_line(f"stale baseline entry (nothing to cover any more): {entry.describe()}")
        for entry in run.baseline.expired():
            tr.write_line(f"expired baseline entry (no longer applied): {entry.describe()}")
    line = verdict_line(run.results)
    tr.write_line(f"verdict: {line}", bold=True, red=line[0].isdigit(), green=not line[0].isdigit())
