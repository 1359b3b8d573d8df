"""Peak memory of a whole run against an endpoint that floods every stream.

Run from the repository root:

    .venv/bin/python benchmarks/flood_rss.py              # this checkout
    .venv/bin/python benchmarks/flood_rss.py --pythonpath /path/to/other/checkout

It starts ``tests/hostile_server.py flood``: ``GET /v1/models`` lists the model
``m``; every ``POST /v1/chat/completions`` answers 200 and then ``data: {}``
events, one chunk each, as fast as the client reads, forever.  Then it runs
the whole suite as a user would, ``python -m pytest --exo-url URL --exo-model m
--exo-timeout T`` in an empty directory, and prints the pytest process's peak
RSS (``ru_maxrss`` of a helper process whose only child it is, so it is the
child's own peak) and its wall time.  ``--pythonpath`` puts another checkout's
``conformance`` package first, to measure it side by side with this one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "hostile_server.py"

#: Runs argv[2:] and writes "peak_kib wall_s" of that one child to argv[1].
HELPER = """
import resource, subprocess, sys, time
start = time.monotonic()
rc = subprocess.call(sys.argv[2:])
wall = time.monotonic() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {wall} {rc}")
"""


def measure(url: str, timeout: float, pythonpath: str | None) -> tuple[float, float, int]:
    """Peak RSS (MiB), wall time (s) and exit status of one run of the suite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXO_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with tempfile.TemporaryDirectory(prefix="flood-rss-") as tmp:
        out = Path(tmp) / "rss"
        work = Path(tmp) / "run"
        work.mkdir()
        command = [sys.executable, "-m", "pytest", "--exo-url", url, "--exo-model", "m"]
        command += ["--exo-timeout", f"{timeout:g}", "-q", "-p", "no:cacheprovider"]
        command += ["-o", "asyncio_default_fixture_loop_scope=function"]
        subprocess.run(
            [sys.executable, "-c", HELPER, str(out), *command],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        peak, wall, rc = out.read_text().split()
    return int(peak) / 1024, float(wall), int(rc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=10.0, help="--exo-timeout of the run")
    parser.add_argument("--pythonpath", help="a checkout whose conformance package to measure")
    args = parser.parse_args(argv)
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "flood"], stdout=subprocess.PIPE, text=True, cwd=SERVER.parent
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip().removeprefix("listening on ")
        peak, wall, rc = measure(url, args.timeout, args.pythonpath)
    finally:
        server.terminate()
        server.wait(10)
    which = args.pythonpath or str(ROOT)
    print(f"python {sys.version.split()[0]}, conformance from {which}")
    print(f"flood, --exo-timeout {args.timeout:g}: peak RSS {peak:.1f} MiB,", end=" ")
    print(f"wall {wall:.1f} s, exit {rc}")


if __name__ == "__main__":
    main()
