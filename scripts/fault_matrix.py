"""Regenerate docs/fault-matrix.md, docs/must-necessity.md and docs/verdicts.md from a fresh run.

    python scripts/fault_matrix.py [--jobs N] [--check] [--faults NAME ...] [--proxy]

Runs the whole suite against the reference server once per fault (and the
clean server without and with an API key, the clean proxy and the seed-bug
proxy), then writes the three documents.  ``--check`` writes nothing and exits 1
when any would change.  ``--proxy`` instead runs every entry behind the
fixed proxy too (fault applied at the server) and prints where the proxy
changes what the suite sees.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from matrix import (
    DEFAULT_JOBS,
    Case,
    all_cases,
    must_necessity,
    render_matrix,
    render_necessity,
    render_verdicts,
    run_matrix,
)

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
MATRIX_DOC = ROOT / "docs" / "fault-matrix.md"
NECESSITY_DOC = ROOT / "docs" / "must-necessity.md"
VERDICTS_DOC = ROOT / "docs" / "verdicts.md"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="runs at once")
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    p.add_argument(
        "--faults", nargs="*", metavar="NAME", help="run only these (prints, writes nothing)"
    )
    p.add_argument(
        "--proxy",
        action="store_true",
        help="compare each entry alone and behind the fixed proxy (writes nothing)",
    )
    args = p.parse_args(argv)
    cases: list[Case] = all_cases()
    if args.faults:
        cases = [c for c in cases if c.entry.name in args.faults]
    if args.proxy:
        return _compare_proxy(cases, args.jobs)
    started = time.monotonic()
    rows = run_matrix(cases, jobs=args.jobs)
    elapsed = time.monotonic() - started
    for row in rows:
        tripped = ", ".join(f"{r} ({lvl})" for r, lvl in row.tripped.items()) or "none"
        errors = f"  ERRORS: {sorted(row.errors)}" if row.errors else ""
        if row.problem:
            errors += f"  NOT RUN: {row.problem}"
        print(f"{row.case.name:<24} {row.duration_s:5.1f}s  {tripped}{errors}", file=sys.stderr)
    print(f"{len(rows)} runs in {elapsed:.1f}s with {args.jobs} at once", file=sys.stderr)
    if any(row.problem for row in rows):
        return 2
    if args.faults:
        return 0
    docs = {
        MATRIX_DOC: render_matrix(rows),
        NECESSITY_DOC: render_necessity(must_necessity(rows)),
        VERDICTS_DOC: render_verdicts(rows),
    }
    stale = [
        path
        for path, text in docs.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date", file=sys.stderr)
        return 1 if stale else 0
    for path, text in docs.items():
        path.write_text(text, encoding="utf-8")
    return 0


def _compare_proxy(cases: list[Case], jobs: int) -> int:
    alone = [c for c in cases if c.mode == "server"]
    proxied = [Case(c.fault, "proxy", c.key) for c in alone]
    started = time.monotonic()
    rows = run_matrix([*alone, *proxied], jobs=jobs)
    print(f"{len(rows)} runs in {time.monotonic() - started:.1f}s", file=sys.stderr)
    by_case = {row.case: row for row in rows}
    differ = 0
    for case, behind in zip(alone, proxied, strict=True):
        a, b = by_case[case], by_case[behind]
        if a.problem or b.problem:
            print(f"{case.name}: not run: {a.problem or b.problem}")
            differ += 1
            continue
        more = sorted(set(b.tripped) - set(a.tripped))
        fewer = sorted(set(a.tripped) - set(b.tripped))
        if more or fewer:
            differ += 1
            print(f"{case.name}: behind the proxy also {more or '-'}, no longer {fewer or '-'}")
            for rule in more:
                msgs = [m for (r, _), m in sorted(b.messages.items()) if r == rule]
                print(f"    {rule}: {msgs[0][:300] if msgs else ''}")
    print(f"{differ} of {len(alone)} entries differ behind the proxy")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
