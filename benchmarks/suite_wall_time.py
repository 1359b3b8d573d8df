"""Is the default suite's wall time at most 2x its longest scenario plus start-up?

Run from the repository root:

    .venv/bin/python benchmarks/suite_wall_time.py [--rounds 3] [--token-delay 0.02]

One run, against one ``python -m conformance.reference --port 0 --token-delay
DELAY`` started here, measures side by side, the rounds interleaved (each
round takes one of every figure, so a change in the machine's load touches
all of them alike):

- ``startup``: ``python -m pytest --exo-url URL --exo-rules nothing-matches
  -p no:cacheprovider -o asyncio_default_fixture_loop_scope=function`` in an
  empty temp dir with an empty pytest.ini: interpreter, pytest, the plugin,
  the rule catalog and the target's preflight (``GET /v1/models`` and a
  one-token request), with no item collected and nothing recorded.
- ``scenario <id>``: each scenario the default suite needs, recorded alone
  in-process with :func:`conformance.scenarios.record_all` for that one ID,
  on a fresh :func:`conformance.recorder.make_client` client (the same
  ``RecordContext`` the plugin builds: default limits, concurrency 8).
- ``record_all(default set)``: every scenario the suite needs, recorded in
  one :func:`record_all` call in-process: the recording phase alone.
- ``suite``: the full default suite, ``python -m pytest --exo-url URL
  -p no:cacheprovider -o asyncio_default_fixture_loop_scope=function`` in the
  same empty dir, as a subprocess, wall time from spawn to exit.

Each figure is the median of ``--rounds``.  The goal holds when
``(suite - startup) / longest scenario <= 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from conformance import rules as _rules  # noqa: F401 - registers the rules and scenarios
from conformance.capture import Limits, make_client
from conformance.rules.registry import REGISTRY
from conformance.scenarios import CATALOG, RecordContext, Target, record_all
from conformance.targets import preflight

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
BANNER = "listening on "
GOAL = 2.0
#: What the plugin uses by default (options.py): deadline, body cap, concurrent streams.
LIMITS = Limits(deadline_s=120.0, max_body_bytes=16 * 2**20)
CONCURRENCY = 8
#: Exit statuses that mean a run went through: no items (5); passed (0) or failed (1).
STARTUP_OK = {5}
SUITE_OK = {0, 1}
RETRIES = 3
RETRY_PAUSE_S = 5.0
PYTEST_OPTS = ["-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function"]


def start_reference(delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.reference", "--port", "0", "--token-delay", str(delay)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith(BANNER):
        proc.kill()
        raise SystemExit(f"reference server did not start: {line!r}")
    return proc, line[len(BANNER) :]


def default_scenarios() -> list[str]:
    """The scenario IDs the default suite (every rule) records."""
    ids = {s for rule in REGISTRY.select(None) for s in rule.scenarios}
    return [s for s in CATALOG if s in ids]


def pytest_wall(args: list[str], cwd: str) -> tuple[float, int, str]:
    """Wall time of one pytest subprocess, its exit status and its last line."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    tail = (done.stdout.strip().splitlines() or [""])[-1].strip("= ")
    return wall, done.returncode, tail


def measured(args: list[str], cwd: str, ok: set[int], notes: list[str], what: str) -> float:
    """Like :func:`pytest_wall`, run again (up to RETRIES times) when the exit is not in ``ok``.

    The tree may be mid-edit while this runs; a crashed run is not a timing.
    """
    for _ in range(1 + RETRIES):
        wall, code, tail = pytest_wall(args, cwd)
        notes.append(f"{what}: {wall:.3f} s, exit {code}: {tail}")
        if code in ok:
            return wall
        notes[-1] += "  (discarded)"
        time.sleep(RETRY_PAUSE_S)
    raise SystemExit(f"{what}: pytest kept failing; last: {tail}")


async def record_alone(target: Target, ids: list[str]) -> float:
    async with make_client(api_key=target.api_key, limits=LIMITS) as client:
        ctx = RecordContext(client, target, LIMITS, CONCURRENCY)
        start = time.perf_counter()
        await record_all(ctx, ids)
        return time.perf_counter() - start


async def choose_target(url: str) -> Target:
    async with make_client(limits=LIMITS) as client:
        return await preflight(client, Target(url), timeout=LIMITS.deadline_s, model=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--token-delay", type=float, default=0.02)
    args = parser.parse_args(argv)

    proc, url = start_reference(args.token_delay)
    samples: dict[str, list[float]] = defaultdict(list)
    notes: list[str] = []
    try:
        target = asyncio.run(choose_target(url))
        ids = default_scenarios()
        startup_cmd = ["--exo-url", url, "--exo-rules", "nothing-matches", *PYTEST_OPTS]
        suite_cmd = ["--exo-url", url, *PYTEST_OPTS]
        print(f"startup: python -m pytest {' '.join(startup_cmd)}")
        print(f"suite:   python -m pytest {' '.join(suite_cmd)}")
        print(
            f"reference {url} --token-delay {args.token_delay}, model {target.model}, "
            f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
        )
        print(f"default scenarios ({len(ids)}): {' '.join(ids)}")
        with tempfile.TemporaryDirectory(prefix="exo-suite-wall-") as empty:
            Path(empty, "pytest.ini").write_text("", encoding="utf-8")
            for r in range(1, args.rounds + 1):
                samples["startup"].append(
                    measured(startup_cmd, empty, STARTUP_OK, notes, f"round {r} startup")
                )
                for sid in ids:
                    samples[sid].append(asyncio.run(record_alone(target, [sid])))
                samples["record_all"].append(asyncio.run(record_alone(target, ids)))
                samples["suite"].append(
                    measured(suite_cmd, empty, SUITE_OK, notes, f"round {r} suite")
                )
                print(
                    f"round {r}: startup {samples['startup'][-1]:.3f} s, "
                    f"record_all {samples['record_all'][-1]:.3f} s, "
                    f"suite {samples['suite'][-1]:.3f} s, "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    med = {k: statistics.median(v) for k, v in samples.items()}
    for note in notes:
        print(note)
    print()
    print("| figure | median s | runs s |")
    print("|---|---:|---|")

    def row(name: str, key: str) -> None:
        runs = ", ".join(f"{x:.3f}" for x in samples[key])
        print(f"| {name} | {med[key]:.3f} | {runs} |")

    row("pytest start-up (nothing-matches, with preflight)", "startup")
    for sid in sorted(ids, key=lambda s: -med[s]):
        exclusive = " (exclusive)" if CATALOG[sid].exclusive else ""
        row(f"scenario {sid}{exclusive}", sid)
    row("record_all(default set), in-process", "record_all")
    row("full default suite (subprocess)", "suite")

    longest = max(ids, key=lambda s: med[s])
    shared = [s for s in ids if not CATALOG[s].exclusive]
    exclusive = [s for s in ids if CATALOG[s].exclusive]
    ratio = (med["suite"] - med["startup"]) / med[longest]
    print()
    print(f"longest scenario: {longest} {med[longest]:.3f} s")
    print(
        f"longest shared scenario: {max(shared, key=lambda s: med[s])} "
        f"{max(med[s] for s in shared):.3f} s; exclusive in series: "
        f"{' + '.join(exclusive)} = {sum(med[s] for s in exclusive):.3f} s"
    )
    print(
        f"lower bound of record_all as written (longest shared + exclusive in series): "
        f"{max(med[s] for s in shared) + sum(med[s] for s in exclusive):.3f} s"
    )
    print(
        f"(suite - startup) / longest = ({med['suite']:.3f} - {med['startup']:.3f}) / "
        f"{med[longest]:.3f} = {ratio:.2f}"
    )
    print(f"goal (<= {GOAL:g}): {'holds' if ratio <= GOAL else 'FAILS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
