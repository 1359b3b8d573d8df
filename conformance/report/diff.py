"""Two JSON reports compared rule by rule: what newly fails, what newly passes.

For yesterday's run against today's, or one target against another: results
are matched by rule and scenario (and by target, when both reports cover the
same several targets).  A result is *failing* when it failed, warned or the
harness could not judge it (error); a known deviation (baseline) is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FAILING", "Change", "Comparison", "ReportError", "compare", "load_report", "render"]

FAILING = ("failed", "warned", "error")
#: A report larger than this is refused (reports of the whole suite are well under 10 MiB).
MAX_REPORT_BYTES = 64 * 2**20

Key = tuple[str, ...]


class ReportError(Exception):
    """A report file that cannot be compared, in one line."""


@dataclass(frozen=True, slots=True)
class Change:
    """One result whose standing changed between the two reports."""

    rule: str
    scenario: str
    target: str
    level: str
    before: str  # outcome in A ("absent" when A has no such result)
    after: str
    message: str

    @property
    def name(self) -> str:
        where = f"@{self.target}" if self.target else ""
        return f"{self.rule}[{self.scenario}{where}]"


@dataclass(frozen=True, slots=True)
class Comparison:
    newly_failing: tuple[Change, ...]
    newly_passing: tuple[Change, ...]
    still_failing: int
    compared: int

    @property
    def new_must_failures(self) -> tuple[Change, ...]:
        return tuple(
            c for c in self.newly_failing if c.level == "MUST" and c.after in ("failed", "error")
        )


def load_report(path: Path) -> list[dict[str, Any]]:
    """The results of a JSON report (``--exo-json``), or one ReportError line."""
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise ReportError(f"{path}: larger than {MAX_REPORT_BYTES} bytes; not a report")
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    results = data.get("results") if isinstance(data, dict) else None
    tool = data.get("tool") if isinstance(data, dict) else None
    if not isinstance(results, list) or not isinstance(tool, dict):
        raise ReportError(f"{path}: not an exo-conformance JSON report (no tool and results)")
    for r in results:
        if not isinstance(r, dict) or not all(
            isinstance(r.get(k), str) for k in ("rule", "scenario", "outcome")
        ):
            raise ReportError(f"{path}: a result without rule, scenario and outcome: {r!r:.120}")
    return results


def _keyed(results: list[dict[str, Any]], by_target: bool) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for r in results:
        key = (
            (r["rule"], r["scenario"], str(r.get("target", "")))
            if by_target
            else (
                r["rule"],
                r["scenario"],
            )
        )
        out[key] = r
    return out


def _targets(results: list[dict[str, Any]]) -> set[str]:
    return {str(r.get("target", "")) for r in results}


def compare(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> Comparison:
    """B against A.  Reports of several targets are matched target by target, and
    must then cover the same targets; one-target reports are matched whatever
    their targets are called."""
    ta, tb = _targets(a), _targets(b)
    by_target = len(ta) > 1 or len(tb) > 1
    if by_target and ta != tb:
        raise ReportError(
            f"the reports cover different targets ({', '.join(sorted(ta))} against "
            f"{', '.join(sorted(tb))}); compare reports of one target each"
        )
    before, after = _keyed(a, by_target), _keyed(b, by_target)
    failing, passing, still = [], [], 0
    for key, r in after.items():
        old = before.get(key)
        was = str(old["outcome"]) if old else "absent"
        now = str(r["outcome"])
        change = Change(
            r["rule"],
            r["scenario"],
            key[2] if by_target else "",
            str(r.get("level", "")),
            was,
            now,
            str(r.get("message", "")),
        )
        if now in FAILING and was in FAILING:
            still += 1
        elif now in FAILING:
            failing.append(change)
        elif now == "passed" and was in FAILING:
            passing.append(change)
    return Comparison(tuple(failing), tuple(passing), still, len(after))


def render(c: Comparison, a: str, b: str) -> str:
    """The comparison as text, newly failing first."""
    lines = [f"exo-conformance diff: {a} -> {b} ({c.compared} results)"]
    for title, changes in (("newly failing", c.newly_failing), ("newly passing", c.newly_passing)):
        lines.append(f"{title}: {len(changes)}")
        for ch in sorted(changes, key=lambda x: (x.level != "MUST", x.name)):
            message = ch.message.splitlines()[0][:160] if ch.message else ""
            lines.append(
                f"  {ch.level:<6} {ch.name}: {ch.before} -> {ch.after}  {message}".rstrip()
            )
    lines.append(f"still failing: {c.still_failing}")
    musts = len(c.new_must_failures)
    lines.append(
        f"verdict: {musts} new MUST failure{'s' * (musts != 1)}"
        if musts
        else "verdict: no new MUST failure"
    )
    return "\n".join(lines)
