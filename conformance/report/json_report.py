"""The JSON conformance report (``--exo-json``), described by schemas/report.schema.json."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..baseline import Entry
    from ..run import ConformanceRun

__all__ = ["OUTCOMES", "build_report", "write_json_report"]

OUTCOMES = ("passed", "failed", "warned", "skipped", "known", "error")


def _scenarios(run: ConformanceRun) -> list[dict[str, Any]]:
    # Under pytest-xdist the stats come from the workers; the run merges them.
    return run.scenario_stats()


def _baseline(run: ConformanceRun) -> dict[str, Any] | None:
    if run.baseline is None:
        return None

    def entries(found: list[Entry]) -> list[dict[str, str]]:
        return [
            {
                "rule": e.rule,
                "target": e.target,
                "scenario": e.scenario,
                "reason": e.reason,
                "expires": e.expires.isoformat() if e.expires else "",
            }
            for e in found
        ]

    return {
        "file": str(run.settings.baseline or ""),
        "entries": len(run.baseline.entries),
        "stale": entries(run.baseline.stale()),
        "expired": entries(run.baseline.expired()),
    }


def build_report(run: ConformanceRun) -> dict[str, Any]:
    counts = Counter(r.outcome for r in run.results)
    return {
        "tool": {"name": "exo-conformance", "version": __version__},
        "targets": run.target_info(),
        "started_at": run.started_at,
        "duration_s": round(run.duration_s, 3),
        "strict": run.settings.strict,
        "summary": {k: counts.get(k, 0) for k in OUTCOMES},
        "results": [
            {
                "rule": r.rule,
                "level": r.level,
                "scenario": r.scenario,
                "target": r.target,
                "outcome": r.outcome,
                "message": r.message,
                "spec": r.spec,
            }
            for r in run.results
        ],
        "scenarios": _scenarios(run),
        **({"baseline": b} if (b := _baseline(run)) is not None else {}),
    }


def write_json_report(run: ConformanceRun, path: Path) -> None:
    """Write atomically: a reader never sees half a report."""
    text = run.redact(json.dumps(build_report(run), indent=2, ensure_ascii=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".exo-report-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
