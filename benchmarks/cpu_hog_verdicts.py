"""Are the suite's verdicts the same with a CPU hog running beside it?

Run from the repository root:

    .venv/bin/python benchmarks/cpu_hog_verdicts.py [--hogs N] [--rounds 2] [--token-delay 0.02]

For each target, the reference server (``python -m conformance.reference
--token-delay DELAY``, started here) and the same server with ``--fault
bursts`` (events held back and released in four bursts), the whole default
suite runs as a user runs it (``python -m pytest --exo-url URL --exo-json
report.json`` in an empty directory), ``--rounds`` times quiet and as many
times with ``--hogs`` busy-loop processes (default: one per CPU) started just
before the suite and stopped when it ends, the rounds interleaved (quiet,
loaded, quiet, loaded...) so a change in the machine's own load touches both
alike.  The hogs run at the same priority as the suite and the server.

Every verdict (rule x scenario: outcome) of every run is compared with the
first quiet run of the same target; the timing verdicts (the rules that read
arrival times) are printed with their figures.  The goal: no verdict flips.
Exit status 1 when one does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conformance.embedded import EmbeddedServer
from conformance.reference.models import MODELS

__all__ = ["main"]

#: The rules whose verdicts rest on arrival times.
TIMING_RULES = (
    "stream.incremental",
    "stream.closes",
    "disconnect.cancels",
    "disconnect.recovers",
    "client.openai-sdk",
)
TARGETS: dict[str, list[str]] = {"reference": [], "bursts": ["--fault", "bursts"]}
PYTEST_OPTS = ["-p", "no:cacheprovider", "-q", "-o", "asyncio_default_fixture_loop_scope=function"]
HOG = "while True:\n    pass\n"
SUITE_TIMEOUT_S = 600.0

#: (rule, scenario) -> (outcome, message)
Verdicts = dict[tuple[str, str], tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Run:
    target: str
    loaded: bool
    round: int
    verdicts: Verdicts
    wall_s: float
    load_before: float
    load_after: float

    @property
    def label(self) -> str:
        return f"{self.target} {'hog' if self.loaded else 'quiet'} #{self.round}"


@contextmanager
def hogs(count: int) -> Iterator[None]:
    """``count`` busy-loop processes for the duration of the block."""
    procs = [
        subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        time.sleep(1.0)  # let them take the CPUs before the suite starts
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)


def run_suite(url: str, timeout: float) -> tuple[Verdicts, float]:
    """The verdicts of one run of the default suite, and its wall time."""
    with tempfile.TemporaryDirectory(prefix="exo-cpu-hog-") as tmp:
        Path(tmp, "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        report = Path(tmp, "report.json")
        cmd = [sys.executable, "-m", "pytest", *PYTEST_OPTS, "--exo-url", url]
        cmd += ["--exo-model", MODELS[0], "--exo-json", str(report)]
        cmd += ["--exo-timeout", str(timeout)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EXO_", "PYTEST_"))}
        started = time.perf_counter()
        done = subprocess.run(
            cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S
        )
        wall = time.perf_counter() - started
        if not report.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise SystemExit(f"pytest exited {done.returncode} without a report:\n{tail}")
        data = json.loads(report.read_text(encoding="utf-8"))
    verdicts = {
        (r["rule"], r["scenario"]): (r["outcome"], r.get("message") or "") for r in data["results"]
    }
    return verdicts, wall


def flips(base: Verdicts, other: Verdicts) -> list[str]:
    """Every verdict whose outcome differs between two runs."""
    out = []
    for key in sorted(set(base) | set(other)):
        a = base.get(key, ("absent", ""))[0]
        b = other.get(key, ("absent", ""))[0]
        if a != b:
            out.append(f"{key[0]}[{key[1]}]: {a} -> {b}: {other.get(key, ('', ''))[1][:200]}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=30.0, help="--exo-timeout of each run")
    args = parser.parse_args(argv)
    print(
        f"{os.cpu_count()} CPUs, {args.hogs} hogs, {args.rounds} rounds, token delay "
        f"{args.token_delay} s, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    runs: list[Run] = []
    for target, fault_args in TARGETS.items():
        server_args = ["--token-delay", str(args.token_delay), *fault_args]
        with EmbeddedServer(server_args) as server:
            for number in range(1, args.rounds + 1):
                for loaded in (False, True):
                    before = os.getloadavg()[0]
                    if loaded:
                        with hogs(args.hogs):
                            verdicts, wall = run_suite(server.url, args.timeout)
                    else:
                        verdicts, wall = run_suite(server.url, args.timeout)
                    run = Run(target, loaded, number, verdicts, wall, before, os.getloadavg()[0])
                    runs.append(run)
                    print(
                        f"{run.label}: {wall:.1f} s, load {before:.2f} -> {run.load_after:.2f}",
                        flush=True,
                    )
    return report(runs)


def report(runs: list[Run]) -> int:
    print()
    print("| target | run | " + " | ".join(f"`{r}`" for r in TIMING_RULES) + " |")
    print("|---|---|" + "---|" * len(TIMING_RULES))
    for run in runs:
        cells = []
        for rule_id in TIMING_RULES:
            outcomes = sorted({o for (r, _), (o, _) in run.verdicts.items() if r == rule_id})
            cells.append("/".join(outcomes) or "-")
        print(f"| {run.target} | {run.label.split(' ', 1)[1]} | " + " | ".join(cells) + " |")
    print()
    for run in runs:
        for (rule_id, scenario), (outcome, message) in sorted(run.verdicts.items()):
            if rule_id == "stream.incremental":
                print(f"{run.label}: {rule_id}[{scenario}] {outcome}: {message}")
        closes = [m for (r, _), (o, m) in run.verdicts.items() if r == "stream.closes"]
        waits = [float(m.split()[1]) for m in closes if m.startswith("closed ")]
        if waits:
            print(f"{run.label}: stream.closes on {len(waits)} streams, at most {max(waits)} ms")
    print()
    flipped = 0
    for target in TARGETS:
        mine = [r for r in runs if r.target == target]
        base = mine[0]
        for run in mine[1:]:
            found = flips(base.verdicts, run.verdicts)
            flipped += len(found)
            print(f"{run.label} vs {base.label}: {len(found)} verdicts differ")
            for line in found:
                print(f"    {line}")
    print(f"goal (no verdict flips): {'holds' if not flipped else 'FAILS'}")
    return 1 if flipped else 0


if __name__ == "__main__":
    raise SystemExit(main())
