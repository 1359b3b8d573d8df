"""The fault matrix: the whole suite against the reference server, once per fault.

For every entry of the fault catalog, :func:`run_case` starts the reference
server (and, in ``proxy`` mode, the fixed reference proxy in front of it) on
loopback, runs the suite against it through the real command line
(``python -m pytest --exo-url URL --exo-json report.json`` in an empty
directory), and collects the rules that did not pass.  A catalog entry that
shows only with a key (``Fault.needs_key``) runs with one: the server that
carries the fault gets ``--api-key`` and the suite ``--exo-api-key``.  :func:`run_matrix`
does that for many cases at once.

From the rows, :func:`render_matrix` writes the fault-matrix document and
:func:`must_necessity` answers, for every MUST rule, whether some fault would
go unnoticed without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from conformance.embedded import EmbeddedServer, EmbeddedServerError
from conformance.reference.faults import FAULTS, NO_FAULT, Fault, get_fault
from conformance.reference.models import MODELS
from conformance.reference.variants import VARIANTS
from conformance.rules import REGISTRY, Level

__all__ = [
    "API_KEY",
    "DEFAULT_JOBS",
    "NOT_PASSING",
    "SOLO",
    "TOKEN_DELAY",
    "Case",
    "Finding",
    "MatrixError",
    "Mode",
    "Necessity",
    "Row",
    "all_cases",
    "must_necessity",
    "render_matrix",
    "render_necessity",
    "run_case",
    "run_matrix",
]

Mode = Literal["server", "proxy"]

#: Outcomes that count as "tripped".  ``error`` is a harness bug, kept apart by callers.
NOT_PASSING = ("failed", "warned", "error")

#: Seconds before each token.  Fast, yet stream-long (80 tokens) still takes
#: 1.6 s, above the one second stream.incremental needs before it judges.
TOKEN_DELAY = 0.02

#: Parallel runs by default: each is mostly waiting on timed streams.
DEFAULT_JOBS = 4

#: Cases run alone, after the others.  one-byte-writes makes the harness decode
#: every stream a byte per read; with other suites sharing the CPU, the
#: recorder's own lag past ``[DONE]`` can exceed stream.closes' grace and be
#: blamed on the server.
SOLO = frozenset({"one-byte-writes"})

_PYTEST_TIMEOUT_S = 600.0

#: The key of keyed cases: given to the server (or proxy) that carries the fault
#: and to the suite, whose auth scenario then sends no key and a wrong one.
API_KEY = "exo-matrix-key"


class MatrixError(RuntimeError):
    """A case could not be run (server did not start, pytest wrote no report)."""


@dataclass(frozen=True, slots=True, order=True)
class Case:
    """One run of the suite.

    ``mode`` ``server``: the reference server with the fault.  ``proxy``: the
    fixed reference proxy in front of the reference server; the fault is
    applied at the server, or at the proxy for proxy-only faults (seed-bug).
    ``fault`` ``None`` is the correct endpoint.  ``key``: run with an API key
    even though the entry does not need one (the correct endpoint with a key);
    entries that need one (``Fault.needs_key``) always get it.
    """

    fault: str | None
    mode: Mode = "server"
    key: bool = False

    @property
    def entry(self) -> Fault:
        return get_fault(self.fault)

    @property
    def with_key(self) -> bool:
        return self.key or self.entry.needs_key

    @property
    def at_proxy(self) -> bool:
        """Whether the fault (and the key) sits at the proxy rather than the server."""
        return self.mode == "proxy" and self.entry.scope == "proxy"

    @property
    def name(self) -> str:
        entry = self.entry
        name = entry.name
        if self.mode == "proxy" and entry.scope != "proxy":
            name += "@proxy"
        return name + "+key" if self.key and not entry.needs_key else name

    @property
    def label(self) -> str:
        """The mode column of the matrix document."""
        return f"{self.mode}, with key" if self.with_key else self.mode


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """A rule that did not pass on at least one scenario."""

    rule: str
    level: str
    outcome: str


@dataclass(frozen=True, slots=True)
class Row:
    """What one case tripped, as read from its JSON report."""

    case: Case
    findings: frozenset[Finding]
    #: (rule, level, scenario) for every skipped result
    skipped: frozenset[tuple[str, str, str]]
    #: (rule, scenario) -> message, for every result that did not pass
    messages: Mapping[tuple[str, str], str] = field(default_factory=dict)
    duration_s: float = 0.0
    exit_code: int = 0
    #: pytest's terminal output: the full failure layouts (expected, actual, hint)
    output: str = ""
    #: why the case could not be run at all (then nothing else is meaningful)
    problem: str = ""

    @property
    def tripped(self) -> dict[str, str]:
        """Rule ID -> level, for every rule that failed, warned or errored."""
        return {f.rule: f.level for f in sorted(self.findings)}

    @property
    def errors(self) -> set[str]:
        """Rules the harness could not judge: a harness bug, never a pass."""
        return {f.rule for f in self.findings if f.outcome == "error"}

    @property
    def must_failures(self) -> set[str]:
        return {f.rule for f in self.findings if f.level == Level.MUST}


def all_cases() -> list[Case]:
    """The clean server (without and with a key), every catalog entry, the clean
    proxy and the seed-bug proxy."""
    cases = [Case(None), Case(None, key=True)]
    for fault in [*FAULTS.values(), *VARIANTS.values()]:
        cases.append(Case(fault.name, "proxy" if fault.scope == "proxy" else "server"))
    cases.append(Case(None, "proxy"))
    return cases


def _server_args(fault: Fault, token_delay: float, *, keyed: bool = False) -> list[str]:
    args = ["--token-delay", str(token_delay)]
    if fault is not NO_FAULT:
        flag = "--variant" if fault.kind == "valid-variant" else "--fault"
        args += [flag, fault.name]
    if keyed:
        args += ["--api-key", API_KEY]
    return args


#: The exchange deadline of every matrix run.
MATRIX_TIMEOUT_S = 15


def _clean_env() -> dict[str, str]:
    """The environment without settings that would change the run under test."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EXO_", "PYTEST_")) and k != "PYTHONPATH"
    } | {"PYTHONUNBUFFERED": "1"}


def _pytest(url: str, workdir: Path, extra: Sequence[str]) -> tuple[int, dict[str, Any], str]:
    (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    report = workdir / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "--exo-url",
        url,
        # Named, not discovered: discovery asks for a non-stream answer, which
        # some faults (nonstream-empty-body) break on purpose.
        "--exo-model",
        MODELS[0],
        "--exo-json",
        str(report),
        # The reference answers within a second or two; a fault that stalls
        # (dead-runner-keepalive) should cost seconds, not the default 120 s.
        "--exo-timeout",
        str(MATRIX_TIMEOUT_S),
        *extra,
    ]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_PYTEST_TIMEOUT_S,
        check=False,
    )
    if not report.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise MatrixError(f"pytest exited {proc.returncode} without a report:\n{tail}")
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return proc.returncode, data, proc.stdout


def _row(
    case: Case, data: Mapping[str, Any], duration_s: float, exit_code: int, output: str
) -> Row:
    findings: set[Finding] = set()
    skipped: set[tuple[str, str, str]] = set()
    messages: dict[tuple[str, str], str] = {}
    for result in data["results"]:
        outcome = result["outcome"]
        if outcome in NOT_PASSING:
            findings.add(Finding(result["rule"], result["level"], outcome))
            messages[(result["rule"], result["scenario"])] = result["message"]
        elif outcome == "skipped":
            skipped.add((result["rule"], result["level"], result["scenario"]))
    return Row(
        case, frozenset(findings), frozenset(skipped), messages, duration_s, exit_code, output
    )


def run_case(
    case: Case,
    *,
    token_delay: float = TOKEN_DELAY,
    pytest_args: Sequence[str] = (),
) -> Row:
    """Start the case's server(s), run the suite against them, read the report.

    A case that cannot be run comes back as a row whose ``problem`` says why.
    """
    started = time.monotonic()
    try:
        return _run_case(case, token_delay, pytest_args, started)
    except (MatrixError, EmbeddedServerError, subprocess.TimeoutExpired, OSError) as exc:
        empty: frozenset[Any] = frozenset()
        return Row(case, empty, empty, duration_s=time.monotonic() - started, problem=str(exc))


def _run_case(case: Case, token_delay: float, pytest_args: Sequence[str], started: float) -> Row:
    fault = case.entry
    at_proxy = case.at_proxy
    # The key goes where the fault is: a keyed server behind a correct proxy
    # (which forwards the Authorization header), or a keyed faulty proxy.
    server_args = _server_args(
        NO_FAULT if at_proxy else fault, token_delay, keyed=case.with_key and not at_proxy
    )
    if case.with_key:
        pytest_args = [*pytest_args, "--exo-api-key", API_KEY]
    pytest_args = [*pytest_args, *_api_args(case)]
    with EmbeddedServer(server_args) as server:
        if case.mode == "proxy":
            proxy_fault = fault if at_proxy else NO_FAULT
            proxy_args = _server_args(proxy_fault, token_delay, keyed=case.with_key and at_proxy)
            args = ["--proxy-to", server.url, *proxy_args]
            with EmbeddedServer(args) as proxy:
                url = proxy.url
                code, data, output = _in_tempdir(url, pytest_args)
        else:
            code, data, output = _in_tempdir(server.url, pytest_args)
    return _row(case, data, time.monotonic() - started, code, output)


def _api_args(case: Case) -> list[str]:
    """The APIs a case tests: those its entry changes; every API for the clean
    server; chat through the proxy (which forwards chat completions only)."""
    if case.fault is None:
        names: tuple[str, ...] = ("chat",) if case.mode == "proxy" else ("all",)
    else:
        names = case.entry.apis
    return [arg for name in names for arg in ("--exo-api", name)]


def _in_tempdir(url: str, pytest_args: Sequence[str]) -> tuple[int, dict[str, Any], str]:
    with tempfile.TemporaryDirectory(prefix="exo-matrix-") as tmp:
        return _pytest(url, Path(tmp), pytest_args)


def run_matrix(
    cases: Iterable[Case],
    *,
    jobs: int = DEFAULT_JOBS,
    token_delay: float = TOKEN_DELAY,
) -> list[Row]:
    """Run the cases, ``jobs`` at a time (``SOLO`` ones alone, last), in the order given."""
    todo = list(cases)
    rows: dict[Case, Row] = {}
    together = [c for c in todo if c.entry.name not in SOLO]
    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="exo-matrix") as pool:
        futures = [pool.submit(run_case, c, token_delay=token_delay) for c in together]
        for case, future in zip(together, futures, strict=True):
            rows[case] = future.result()
    for case in todo:
        if case not in rows:
            rows[case] = run_case(case, token_delay=token_delay)
    return [rows[c] for c in todo]


# -- documents ---------------------------------------------------------------


def _rules_cell(tripped: Mapping[str, str]) -> str:
    if not tripped:
        return "none"
    return ", ".join(f"`{rule}` ({level})" for rule, level in sorted(tripped.items()))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_matrix(rows: Iterable[Row]) -> str:
    """The fault-matrix document: deterministic (sorted, no timings)."""
    by_case = {row.case: row for row in rows}
    out = [
        "# Fault matrix",
        "",
        "Generated by `python scripts/fault_matrix.py` from a run of the whole suite",
        "against the reference server with each fault of the catalog",
        "(`python -m conformance.reference --list-faults`).  Do not edit by hand:",
        "`tests/test_fault_matrix.py` fails when this file and a fresh run disagree.",
        "",
        "A rule is listed when it failed (MUST) or warned (SHOULD) on at least one",
        "scenario.  Valid variants must trip nothing.  Rows *with key* run with an API",
        "key: the server that carries the fault gets `--api-key`, the suite",
        "`--exo-api-key`, so `auth.required` is judged rather than skipped.",
        "",
    ]
    sections: list[tuple[str, list[Row]]] = [
        (
            "Faults",
            [
                r
                for r in by_case.values()
                if r.case.entry.kind == "fault" and r.case.fault is not None
            ],
        ),
        (
            "Valid variants",
            [
                r
                for r in by_case.values()
                if r.case.entry.kind == "valid-variant" and r.case.fault is not None
            ],
        ),
        ("Correct endpoint", [r for r in by_case.values() if r.case.fault is None]),
    ]
    for title, section in sections:
        if not section:
            continue
        out += [
            f"## {title}",
            "",
            "| fault | mode | description | rules tripped |",
            "|---|---|---|---|",
        ]
        for row in sorted(section, key=lambda r: (r.case.entry.name, r.case.label)):
            fault = row.case.entry
            out.append(
                f"| `{fault.name}` | {row.case.label} | {_cell(fault.description)} "
                f"| {_rules_cell(row.tripped)} |"
            )
        out.append("")
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class Necessity:
    """For each MUST rule: the faults that only it detects, and who else sees its faults."""

    #: MUST rule -> faults whose only MUST failure is that rule
    sole: Mapping[str, tuple[str, ...]]
    #: MUST rule -> faults it trips (for rules that are not needed, all covered elsewhere)
    tripped_by: Mapping[str, tuple[str, ...]]
    #: MUST rules that no fault trips at all
    untested: tuple[str, ...]
    #: faults with no MUST failure at all (caught only by SHOULD rules, or not at all)
    undetected: tuple[str, ...]
    #: fault -> its MUST failures
    must_failures: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def must_rules(self) -> tuple[str, ...]:
        return tuple(sorted(self.tripped_by))

    @property
    def needed(self) -> tuple[str, ...]:
        return tuple(r for r in self.must_rules if self.sole.get(r))

    @property
    def not_needed(self) -> tuple[str, ...]:
        return tuple(r for r in self.must_rules if not self.sole.get(r))


def must_necessity(rows: Iterable[Row], must_rules: Iterable[str] | None = None) -> Necessity:
    """Which MUST rules are the only MUST failure of some fault (no re-runs).

    A fault is *detected* when it trips at least one MUST rule.  A MUST rule
    is *needed* when some fault's only MUST failure is that rule: disabling
    the rule would let the fault through.
    """
    if must_rules is None:
        must_rules = [r.id for r in REGISTRY if r.level == Level.MUST]
    musts = sorted(set(must_rules))
    faults = [r for r in rows if r.case.entry.kind == "fault" and r.case.fault is not None]
    sole: dict[str, list[str]] = {r: [] for r in musts}
    tripped_by: dict[str, list[str]] = {r: [] for r in musts}
    undetected = []
    by_fault: dict[str, tuple[str, ...]] = {}
    for row in sorted(faults, key=lambda r: r.case.name):
        failures = row.must_failures & set(musts)
        by_fault[row.case.name] = tuple(sorted(failures))
        if not failures:
            undetected.append(row.case.name)
        for rule_id in failures:
            tripped_by[rule_id].append(row.case.name)
        if len(failures) == 1:
            sole[next(iter(failures))].append(row.case.name)
    return Necessity(
        sole={k: tuple(v) for k, v in sole.items()},
        tripped_by={k: tuple(v) for k, v in tripped_by.items()},
        untested=tuple(r for r in musts if not tripped_by[r]),
        undetected=tuple(undetected),
        must_failures=by_fault,
    )


def render_necessity(necessity: Necessity) -> str:
    """The MUST-necessity document: deterministic (sorted, no timings)."""
    musts = necessity.must_rules
    needed = necessity.needed
    covered = [r for r in necessity.not_needed if necessity.tripped_by[r]]
    out = [
        "# MUST necessity",
        "",
        "Generated by `python scripts/fault_matrix.py` from the fault matrix",
        "(docs/fault-matrix.md).  Do not edit by hand.",
        "",
        "A fault is *detected* when it trips at least one MUST rule.  A MUST rule is",
        "*needed* when some fault's only MUST failure is that rule: without the rule,",
        "that fault would pass every MUST check.",
        "",
        f"**{len(needed)} of {len(musts)} MUST rules are needed.**",
        "",
        "## Needed",
        "",
        "| rule | faults it alone detects |",
        "|---|---|",
    ]
    out += [f"| `{r}` | {', '.join(f'`{f}`' for f in necessity.sole[r])} |" for r in needed]
    out += [
        "",
        "## Tripped, but never alone",
        "",
        "Every fault these rules catch is also caught by another MUST rule (in brackets).",
        "",
        "| rule | faults it trips (other MUST rules that catch them) |",
        "|---|---|",
    ]
    for rule_id in covered:
        cells = []
        for fault in necessity.tripped_by[rule_id]:
            others = [r for r in necessity.must_failures.get(fault, ()) if r != rule_id]
            cells.append(f"`{fault}` ({', '.join(others)})")
        out.append(f"| `{rule_id}` | {'; '.join(cells)} |")
    out += [
        "",
        "## Not tripped by any fault",
        "",
        "No fault of the catalog exercises these MUST rules: a gap in the catalog.",
        "",
    ]
    out += [f"- `{r}`" for r in necessity.untested] or ["None."]
    out += [
        "",
        "## Faults no MUST rule detects",
        "",
    ]
    out += [f"- `{f}`" for f in necessity.undetected] or ["None."]
    out.append("")
    return "\n".join(out)
