"""Regenerate docs/fault-matrix.md and docs/must-necessity.md from a fresh run.

    python scripts/fault_matrix.py [--jobs N] [--check] [--faults NAME ...]

Runs the whole suite against the reference server once per fault (and the
clean server, the clean proxy and the seed-bug proxy), then writes both
documents.  ``--check`` writes nothing and exits 1 when either would change.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from conformance.matrix import (
    DEFAULT_JOBS,
    Case,
    all_cases,
    must_necessity,
    render_matrix,
    render_necessity,
    run_matrix,
)

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
MATRIX_DOC = ROOT / "docs" / "fault-matrix.md"
NECESSITY_DOC = ROOT / "docs" / "must-necessity.md"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="runs at once")
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    p.add_argument("--faults", nargs="*", metavar="NAME",
                   help="run only these (prints, writes nothing)")
    args = p.parse_args(argv)
    cases: list[Case] = all_cases()
    if args.faults:
        cases = [c for c in cases if c.entry.name in args.faults]
    started = time.monotonic()
    rows = run_matrix(cases, jobs=args.jobs)
    elapsed = time.monotonic() - started
    for row in rows:
        tripped = ", ".join(f"{r} ({lvl})" for r, lvl in row.tripped.items()) or "none"
        errors = f"  ERRORS: {sorted(row.errors)}" if row.errors else ""
        print(f"{row.case.name:<24} {row.duration_s:5.1f}s  {tripped}{errors}", file=sys.stderr)
    print(f"{len(rows)} runs in {elapsed:.1f}s with {args.jobs} at once", file=sys.stderr)
    if args.faults:
        return 0
    docs = {
        MATRIX_DOC: render_matrix(rows),
        NECESSITY_DOC: render_necessity(must_necessity(rows)),
    }
    stale = [path for path, text in docs.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date", file=sys.stderr)
        return 1 if stale else 0
    for path, text in docs.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
