"""The JSON conformance report (``--exo-json``), described by schemas/report.schema.json."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..capture.redact import redact
from ..results import OUTCOMES, Result, RunInfo, count

__all__ = ["OUTCOMES", "build_report", "write_json_report"]


def build_report(results: Sequence[Result], info: RunInfo) -> dict[str, Any]:
    """The report as JSON-ready data: results and the run's description."""
    report: dict[str, Any] = {
        "tool": {"name": "exo-conformance", "version": info.version},
        "targets": list(info.targets),
        "started_at": info.started_at,
        "duration_s": round(info.duration_s, 3),
        "strict": info.strict,
        "error": info.error.to_json() if info.error is not None else None,
        "summary": count(results),
        "results": [r.to_json() for r in results],
        "scenarios": list(info.scenarios),
    }
    if info.baseline is not None:
        report["baseline"] = info.baseline
    report["repeat"] = info.repeat
    if info.cost is not None:
        report["cost"] = info.cost
    if info.latency:
        report["latency"] = info.latency
    return report


def write_json_report(results: Sequence[Result], info: RunInfo, path: Path) -> None:
    """Write atomically: a reader never sees half a report."""
    text = json.dumps(build_report(results, info), indent=2, ensure_ascii=False)
    text = redact(text, info.secrets)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".exo-report-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
