"""One conformance run: its targets, their recorded scenarios, its results.

Recording happens on a private event loop in a worker thread, so it works
the same from a plain pytest item, from a user's sync test and from a user's
async test (whose own loop is already running).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from . import __version__
from .apis import API_NAMES, choose, settle_apis
from .baseline import Baseline, load_baseline
from .capture.archive import ArchiveError, Recorded, load_dir, write_file
from .capture.cost import METER, Cost
from .capture.recorder import BodyBudget, Limits, make_client
from .capture.redact import redact
from .capture.transcript import Ending, Request, Transcript
from .embedded import EmbeddedServer
from .loadview import LoadRecord, LoadView
from .options import EMBEDDED, Settings
from .results import Result, RunError, RunInfo
from .scenarios import CATALOG, RecordContext, Target, record_all
from .scenarios.load import LOAD, Progress, record_load
from .scenarios.pairs import record_paired
from .targets import preflight
from .view import View, view_of

__all__ = ["LIVE_ONLY", "ConformanceRun", "ReplayError", "target_labels"]

T = TypeVar("T")

#: Body bytes all of a run's exchanges may keep together (at least one
#: exchange's cap): dozens of exchanges each at the 16 MiB cap would otherwise
#: hold hundreds of MiB against an endpoint that answers everything endlessly.
RUN_BODY_BUDGET = 64 * 2**20

#: Scenarios judged only live: they watch the endpoint react to what the client
#: does (drop a stream, add load), which a recording cannot replay.
LIVE_ONLY = ("disconnect", "proxy-disconnect", "load")


class ReplayError(Exception):
    """The transcripts to replay cannot be read (one line)."""


@dataclass
class ConformanceRun:
    settings: Settings
    targets: list[Target] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    started_mono: float = field(default_factory=time.monotonic)
    #: scenario IDs each target needs, filled at collection
    needed: dict[str, set[str]] = field(default_factory=dict)
    baseline: Baseline | None = None
    #: under pytest-xdist, the controller: it starts nothing and records nothing;
    #: its workers send their targets and scenario stats (:meth:`worker_output`)
    controller: bool = False
    #: what workers sent back, merged by :meth:`merge_worker_output`
    remote_targets: list[dict[str, Any]] = field(default_factory=list)
    remote_scenarios: list[dict[str, Any]] = field(default_factory=list)
    remote_cost: dict[str, int] = field(default_factory=dict)
    remote_latency: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: why the run could not start (a target unreachable), for the exit status
    unreachable: str = ""
    #: what kept the run from judging everything, for every report
    error: RunError | None = None
    #: with --exo-upstream: the proxy's upstream, and the scenarios recorded in pairs
    upstream: Target | None = None
    paired: set[str] = field(default_factory=set)
    #: every recording of each scenario, one per repetition (``--exo-repeat``)
    #: the request meter's reading when the run began: the run costs the difference
    cost_start: Cost = field(default_factory=METER.reading)
    #: the load scenario's record per target URL (``--exo-load``)
    loads: dict[str, LoadRecord] = field(default_factory=dict)
    #: where the load scenario's progress lines go (the plugin points it at the terminal)
    progress: Progress | None = None
    #: each target's GET /v1/models answer from preflight, until the models scenario uses it
    _listings: dict[str, Transcript] = field(default_factory=dict)
    _recorded: dict[tuple[str, str], list[Transcript]] = field(default_factory=dict)
    _views: dict[tuple[str, str], list[View]] = field(default_factory=dict)
    _servers: list[EmbeddedServer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _budget: BodyBudget | None = None
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="exo-conformance")
    )

    @property
    def limits(self) -> Limits:
        if self._budget is None:
            self._budget = BodyBudget(max(RUN_BODY_BUDGET, self.settings.max_body_bytes))
        return Limits(
            deadline_s=self.settings.timeout,
            max_body_bytes=self.settings.max_body_bytes,
            budget=self._budget,
        )

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._pool.submit(asyncio.run, coro).result()

    # -- start and stop ------------------------------------------------------

    def load(self) -> None:
        """Read the files the run depends on (BaselineError on a bad one)."""
        if self.settings.baseline is not None:
            self.baseline = load_baseline(self.settings.baseline)
        if self.settings.replay_dir is not None:
            self._load_replay()

    def start(self) -> None:
        """Start embedded servers and preflight every target (TargetError on failure)."""
        if self.replaying:
            return  # the targets are the recorded ones, loaded with the files
        targets = []
        for url, label in zip(self.settings.urls, target_labels(self.settings.urls), strict=True):
            if url == EMBEDDED:
                # With a key, the embedded server requires it, so auth.required
                # has something to judge; the key travels in its environment.
                key = self.settings.api_key
                server = EmbeddedServer(env={"EXO_REFERENCE_API_KEY": key} if key else None)
                self._servers.append(server)
                url = server.start()
            targets.append(Target(url, "", self.settings.api_key, label))
        ready = self._run(self._preflight_all(targets))
        if self.settings.upstream is not None:
            # The upstream is asked for the model the proxy serves: the pair
            # compares one model's answers, each way.
            upstream = Target(self.settings.upstream, "", self.settings.api_key)
            model = self.settings.model or ready[0].model
            self.upstream = self._run(self._preflight_one(upstream, model))
        self.targets = ready

    async def _preflight_one(self, target: Target, model: str) -> Target:
        async with make_client(api_key=self.settings.api_key, limits=self.limits) as client:
            return await preflight(client, target, timeout=self.settings.timeout, model=model)

    def _load_replay(self) -> None:
        assert self.settings.replay_dir is not None
        try:
            found = load_dir(self.settings.replay_dir)
        except ArchiveError as exc:
            raise ReplayError(str(exc)) from None
        targets: dict[str, Target] = {}
        for item in found:
            if item.transcript.scenario not in CATALOG:
                known = ", ".join(CATALOG)
                raise ReplayError(
                    f"{self.settings.replay_dir}: unknown scenario "
                    f"{item.transcript.scenario!r} (known: {known})"
                )
            target = targets.setdefault(item.label, Target(item.url, item.model, None, item.label))
            kept = self._recorded.setdefault((target.url, item.transcript.scenario), [])
            kept.append(item.transcript)
        # A replayed target is tested on the APIs its recordings speak.
        self.targets = [
            dataclasses.replace(t, apis=self._recorded_apis(t.url)) for t in targets.values()
        ]

    def _recorded_apis(self, url: str) -> tuple[str, ...]:
        spoken = {CATALOG[sid].api for (where, sid) in self._recorded if where == url}
        return tuple(api for api in API_NAMES if api in spoken) or ("chat",)

    @property
    def replaying(self) -> bool:
        return self.settings.replay_dir is not None

    def has(self, target: Target, scenario: str) -> bool:
        """Whether a transcript of the scenario is recorded (or loaded) for the target."""
        with self._lock:
            return (target.url, scenario) in self._recorded

    async def _preflight_all(self, targets: list[Target]) -> list[Target]:
        # New connections here too: one model probe's broken connection must not
        # count against the next model.
        fresh = make_client(api_key=self.settings.api_key, limits=self.limits, keepalive=False)
        async with fresh as client:
            out = []
            choice = choose(self.settings.apis)
            for target in targets:
                seen: list[Transcript] = []
                found = await preflight(
                    client,
                    target,
                    timeout=self.settings.timeout,
                    model=self.settings.model,
                    seen=seen,
                )
                self._listings[found.url] = seen[0]
                out.append(await settle_apis(client, found, choice, self.limits))
            return out

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- recording -----------------------------------------------------------

    def target(self, url: str) -> Target:
        for target in self.targets:
            if target.url == url:
                return target
        raise KeyError(url)

    def transcript(self, target: Target, scenario: str) -> Transcript:
        """The scenario's (first) transcript, recording what the target needs on first use."""
        return self.transcripts(target, scenario)[0]

    def transcripts(self, target: Target, scenario: str) -> list[Transcript]:
        """Every recording of the scenario, one per repetition, recorded on first use."""
        with self._lock:
            key = (target.url, scenario)
            if key not in self._recorded and self.replaying:
                return [_not_recorded(target, scenario, self.settings.replay_dir)]
            if key not in self._recorded:
                wanted = self.needed.get(target.url, set()) | {scenario}
                missing = [s for s in wanted if (target.url, s) not in self._recorded]
                for sid, found in self._run(self._record(target, missing)).items():
                    self._recorded[(target.url, sid)] = found
                    for n, t in enumerate(found):
                        self._write(target, t, n if len(found) > 1 else None)
            return self._recorded[key]

    def view(self, target: Target, scenario: str) -> View:
        """The scenario's (first) view."""
        return self.views(target, scenario)[0]

    def views(self, target: Target, scenario: str) -> list[View]:
        """The views of every repetition, each built once and shared by every rule."""
        transcripts = self.transcripts(target, scenario)
        with self._lock:
            key = (target.url, scenario)
            if key not in self._views:
                api = CATALOG[scenario].api
                if scenario == LOAD:
                    load = LoadView(transcripts[0], self.loads[target.url])
                    self._views[key] = [load]
                else:
                    self._views[key] = [view_of(t, api) for t in transcripts]
            return self._views[key]

    async def _record(self, target: Target, ids: Iterable[str]) -> dict[str, list[Transcript]]:
        """Record the scenarios ``repeat`` times, in rounds: one round is every
        scenario once, as a run without repetition records them.  The load
        scenario runs once, after them, for its duration."""
        out: dict[str, list[Transcript]] = {}
        ordered = _in_catalog_order(ids)
        # A new connection per exchange: a server that breaks a kept-alive
        # connection after one answer (a 500, say) must not make the next
        # scenario fail; each is judged on what a lone client would get.
        fresh = make_client(api_key=target.api_key, limits=self.limits, keepalive=False)
        async with fresh as client:
            ctx = RecordContext(client, target, self.limits, self.settings.concurrency)
            alone = [sid for sid in ordered if sid != LOAD]
            for n in range(self.settings.repeat if alone else 0):
                # The first round reads the model list preflight fetched; later ones ask again.
                listing = self._listings.pop(target.url, None) if n == 0 else None
                found = await self._one_round(dataclasses.replace(ctx, listing=listing), alone)
                for sid, t in found.items():
                    out.setdefault(sid, []).append(t)
            if LOAD in ordered:
                main, record = await record_load(
                    ctx, self.settings.load, self.settings.load_duration, self.progress
                )
                self.loads[target.url] = record
                out[LOAD] = [main]
        return out

    async def _one_round(self, ctx: RecordContext, ids: list[str]) -> dict[str, Transcript]:
        """Every scenario once; through a proxy, the paired ones also upstream."""
        if self.upstream is not None:
            return await record_paired(
                ctx, self.upstream, ids, self.paired, parallel=self.settings.parallel
            )
        return await record_all(ctx, ids, parallel=self.settings.parallel)

    def _write(self, target: Target, t: Transcript, repetition: int | None) -> None:
        """With --exo-record, keep the transcript on disk."""
        directory = self.settings.record_dir
        if directory is None:
            return
        label = target.label or target.url
        recorded = Recorded(target.url, label, target.model, t)
        write_file(
            directory,
            recorded,
            several=len(self.targets) > 1,
            secrets=self.settings.secrets,
            repetition=repetition,
        )

    def recorded(self) -> list[Transcript]:
        """Every transcript recorded, every repetition of each scenario."""
        with self._lock:
            return [t for found in self._recorded.values() for t in found]

    def target_name(self, url: str) -> str:
        """The stable name of a target (its label) given its live URL."""
        for target in self.targets:
            if target.url == url:
                return target.label or target.url
        return url

    # -- what reports read, serial or distributed ---------------------------

    def target_info(self) -> list[dict[str, Any]]:
        """One entry per target: its URL, model, stable name and the APIs tested on it."""
        if self.controller:
            seen: dict[str, dict[str, Any]] = {}
            for info in self.remote_targets:
                seen.setdefault(info["name"], info)
            order = {name: i for i, name in enumerate(target_labels(self.settings.urls))}
            return sorted(seen.values(), key=lambda t: order.get(t["name"], len(order)))
        return [
            {
                "url": t.url,
                "model": t.model,
                "name": t.label or t.url,
                "apis": list(t.apis),
                "skipped_apis": [{"api": a, "reason": why} for a, why in t.skipped_apis],
            }
            for t in self.targets
        ]

    def scenario_stats(self) -> list[dict[str, Any]]:
        """One line per recorded scenario and target (first worker's, when distributed)."""
        stats: dict[tuple[str, str], dict[str, Any]] = {}
        local = [
            {
                "id": t.scenario,
                "target": self.target_name(t.target),
                "status": t.status,
                "ttfb_ms": t.ttfb_ms,
                "duration_ms": t.duration_ms,
                "events": len(t.events),
                "bytes": len(t.body),
                "ending": str(t.ending),
                "api": CATALOG[t.scenario].api if t.scenario in CATALOG else "chat",
            }
            for t in self.recorded()
        ]
        for line in [*local, *self.remote_scenarios]:
            stats.setdefault((str(line["target"]), str(line["id"])), line)
        return [stats[k] for k in sorted(stats)]

    def worker_output(self) -> dict[str, Any]:
        """What an xdist worker sends its controller (JSON-able)."""
        return {
            "targets": self.target_info(),
            "scenarios": self.scenario_stats(),
            "unreachable": self.unreachable,
            "cost": (METER.reading() - self.cost_start).to_json(),
            "latency": self._latency(),
        }

    def merge_worker_output(self, payload: dict[str, Any]) -> None:
        self.remote_targets += payload.get("targets", [])
        self.remote_scenarios += payload.get("scenarios", [])
        # Every worker preflights and records on its own: the run costs their sum.
        cost = payload.get("cost")
        if isinstance(cost, dict):
            for key, value in cost.items():
                if isinstance(value, int):
                    self.remote_cost[key] = self.remote_cost.get(key, 0) + value
        latency = payload.get("latency")
        if isinstance(latency, dict):
            for name, figures in latency.items():
                self.remote_latency.setdefault(str(name), figures)
        if payload.get("unreachable") and not self.unreachable:
            self.unreachable = str(payload["unreachable"])
            self.fail("unreachable", self.unreachable.removeprefix("exo-conformance: "))

    def _cost(self) -> dict[str, int] | None:
        if self.controller:
            return dict(self.remote_cost) if self.remote_cost else None
        return (METER.reading() - self.cost_start).to_json()

    def _latency(self) -> dict[str, dict[str, Any]]:
        return {self.target_name(url): r.latency() for url, r in self.loads.items()}

    def fail(self, kind: str, message: str) -> None:
        """Note what kept the run from judging everything (the first cause wins)."""
        if self.error is None:
            self.error = RunError(kind, self.redact(message))

    def lost_targets(self) -> list[str]:
        """Targets that answered preflight but refused connections later (they died)."""
        lost = {t.target for t in self.recorded() if t.ending is Ending.REFUSED}
        return [self.target_name(url) for url in sorted(lost)]

    def info(self) -> RunInfo:
        """The environment description every report reads."""
        baseline_notes: list[str] = []
        if self.baseline is not None:
            baseline_notes += [
                f"stale baseline entry (nothing to cover any more): {e.describe()}"
                for e in self.baseline.stale()
            ]
            baseline_notes += [
                f"expired baseline entry (no longer applied): {e.describe()}"
                for e in self.baseline.expired()
            ]
        return RunInfo(
            version=__version__,
            targets=tuple(self.target_info()),
            started_at=self.started_at,
            duration_s=self.duration_s,
            strict=self.settings.strict,
            error=self.error,
            scenarios=tuple(self.scenario_stats()),
            baseline=self._baseline_info(),
            baseline_notes=tuple(baseline_notes),
            secrets=self.settings.secrets,
            repeat=self.settings.repeat,
            cost=self._cost(),
            latency=self.remote_latency if self.controller else self._latency(),
        )

    def _baseline_info(self) -> dict[str, Any] | None:
        if self.baseline is None:
            return None

        def entries(found: list[Any]) -> list[dict[str, str]]:
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
            "file": str(self.settings.baseline or ""),
            "entries": len(self.baseline.entries),
            "stale": entries(self.baseline.stale()),
            "expired": entries(self.baseline.expired()),
        }

    def redact(self, text: str) -> str:
        return redact(text, self.settings.secrets)

    def is_known(self, rule: str, scenario: str, target: str) -> bool:
        """Whether a failure is a known deviation listed in the baseline."""
        return self.baseline is not None and self.baseline.match(rule, scenario, target) is not None

    @property
    def duration_s(self) -> float:
        return time.monotonic() - self.started_mono


def _not_recorded(target: Target, scenario: str, directory: Path | None) -> Transcript:
    """What a rule sees for a scenario the replayed directory does not hold: it skips."""
    return Transcript(
        scenario=scenario,
        target=target.url,
        request=Request("POST", target.url, ()),
        ending=Ending.NOT_SENT,
        ending_detail=f"not recorded: {directory} holds no {scenario!r} transcript",
    )


def _in_catalog_order(ids: Iterable[str]) -> list[str]:
    """Scenario IDs in catalog order, so one-at-a-time recording has a stable order."""
    wanted = set(ids)
    return [sid for sid in CATALOG if sid in wanted]


def target_labels(urls: Iterable[str]) -> list[str]:
    """Stable target names, from the URLs as given: ``embedded`` or the URL itself.

    They never depend on a port chosen at run time, so every xdist worker
    builds the same item IDs, and a written baseline matches the next run.
    """
    labels: list[str] = []
    for url in urls:
        label = url
        n = 2
        while label in labels:
            label, n = f"{url}-{n}", n + 1
        labels.append(label)
    return labels
