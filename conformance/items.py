"""The generated suite: one pytest item per rule x scenario x target."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from .capture.transcript import Ending
from .repetition import combine
from .report.failure import format_failure
from .results import Outcome, Repetitions, Result, judge, make_result
from .rules.registry import Rule, Verdict, skipped
from .run import LIVE_ONLY, ConformanceRun
from .scenarios import CATALOG, Target
from .scenarios.load import LOAD
from .scenarios.proxy import UNPAIRED, UPSTREAM
from .view import View

__all__ = ["RuleFailure", "RuleItem", "SuiteCollector", "judge"]


class RuleFailure(Exception):
    """A rule failed; the message is the full failure layout."""


class HarnessError(Exception):
    """The harness could not judge: a bug in the tool, never a pass."""


class RuleItem(pytest.Item):
    def __init__(
        self, *, rule: Rule, scenario: str, target: Target, run: ConformanceRun, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.rule = rule
        self.scenario = scenario
        self.target = target
        self.run = run
        self.verdict: Verdict | None = None
        self.view: View | None = None
        self.repetitions = Repetitions()
        self.exo_outcome = Outcome.ERROR
        self.user_properties += [
            ("rule", rule.id),
            ("level", str(rule.level)),
            ("scenario", scenario),
            ("target", target.label or target.url),
        ]
        self.add_marker(pytest.mark.exo_conformance)

    def runtest(self) -> None:
        views = self.run.views(self.target, self.scenario)
        try:
            verdicts = [
                _not_sent(view) or _not_live(self.run, self.scenario) or self.rule.check(view)
                for view in views
            ]
        except Exception as exc:
            raise HarnessError(f"{self.rule.id} could not judge: {exc!r}") from exc
        combined = combine(verdicts)
        # The first failing repetition is the evidence every report shows.
        self.view = views[combined.index]
        self.repetitions = combined.repetitions
        verdict = self.verdict = combined.verdict
        strict = self.run.settings.strict
        known = verdict.outcome == "failed" and self.run.is_known(
            self.rule.id, self.scenario, self.target.label or self.target.url
        )
        self.exo_outcome = judge(self.rule.level, verdict, strict=strict, known=known)
        if self.exo_outcome == Outcome.SKIPPED:
            raise pytest.skip.Exception(verdict.message, _use_item_location=True)
        if self.exo_outcome == Outcome.FAILED:
            raise RuleFailure(self.failure_text())

    def result(self, *, message: str = "") -> Result:
        """This item's result; without a verdict the harness could not judge (error)."""
        outcome = self.exo_outcome if self.verdict is not None else Outcome.ERROR
        return make_result(
            self.rule,
            self.verdict,
            outcome,
            scenario=self.scenario,
            target=self.target.label or self.target.url,
            nodeid=self.nodeid,
            api=CATALOG[self.scenario].api,
            message=message,
            repetitions=self.repetitions,
        ).redacted(self.run.redact)

    def failure_text(self) -> str:
        assert self.verdict is not None and self.view is not None
        return format_failure(
            self.rule, self.verdict, self.view.transcript, secrets=self.run.settings.secrets
        )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RuleFailure):
            return str(excinfo.value)
        text = "".join(traceback.format_exception(excinfo.value))
        return self.run.redact(f"exo-conformance harness error (please report it):\n{text}")

    def reportinfo(self) -> tuple[str, int | None, str]:
        # The domain heads failure sections.  It must not end the node ID, or
        # pytest prints the rule ID's dots as "::" in verbose lines.
        return self.name, 0, f"{self.name} {self.rule.level}"


def _not_sent(view: View) -> Verdict | None:
    """A skip for an exchange the harness never sent: the target had stopped
    answering, which the rules of the exchanges that ran out their deadline report."""
    if view.transcript.ending is Ending.NOT_SENT:
        return skipped(view.transcript.ending_detail)
    return None


def _not_live(run: ConformanceRun, scenario: str) -> Verdict | None:
    """A skip, on replay, for a scenario that is judged only against a live endpoint."""
    if run.replaying and scenario.startswith(LIVE_ONLY):
        return skipped(
            f"needs a live endpoint: {scenario} watches how the endpoint reacts to the "
            "client (--exo-replay has none)"
        )
    return None


def _wanted(run: ConformanceRun, target: Target, rule: Rule, scenario: str) -> bool:
    """Whether the run judges the rule on the scenario: proxy rules only with a
    proxy and its upstream, and on replay only what the files hold."""
    if rule.group == "proxy":
        if run.replaying:
            return run.has(target, scenario) and (
                scenario in UNPAIRED or run.transcript(target, scenario).other(UPSTREAM) is not None
            )
        return run.upstream is not None or bool(run.settings.upstream)
    return not run.replaying or run.has(target, scenario)


class SuiteCollector(pytest.Collector):
    """The parent of the generated items; collects nothing from files."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        return iter(())


def build_items(session: pytest.Session, run: ConformanceRun, rules: list[Rule]) -> list[RuleItem]:
    parent = SuiteCollector.from_parent(session, name="exo-conformance")
    items: list[RuleItem] = []
    for target in run.targets:
        needed = run.needed.setdefault(target.url, set())
        for rule in rules:
            for scenario in rule.scenarios:
                if scenario == LOAD and not run.settings.load:
                    continue  # the load scenario runs only when asked (--exo-load)
                if scenario not in CATALOG:
                    known = ", ".join(CATALOG)
                    raise pytest.UsageError(
                        f"rule {rule.id} names unknown scenario {scenario!r} (known: {known})"
                    )
                api = CATALOG[scenario].api
                if api not in rule.apis:
                    raise pytest.UsageError(
                        f"rule {rule.id} is for the {', '.join(rule.apis)} API but names "
                        f"scenario {scenario!r}, which speaks {api}: declare api={api!r}"
                    )
                if api not in target.apis:
                    continue  # not tested on this target (--exo-api); the header says why
                if not _wanted(run, target, rule, scenario):
                    continue
                # IDs name the target only when there are several, by its stable
                # label without the scheme: stream.done[stream-basic@127.0.0.1:8000].
                where = (target.label or target.url).split("://", 1)[-1]
                param = f"{scenario}@{where}" if len(run.targets) > 1 else scenario
                name = f"{rule.id}[{param}]"
                # The node ID is the item's name alone, so it reads as users write it.
                items.append(
                    RuleItem.from_parent(
                        parent,
                        name=name,
                        nodeid=name,
                        rule=rule,
                        scenario=scenario,
                        target=target,
                        run=run,
                    )
                )
                if rule.group == "proxy":
                    run.paired.add(scenario)
                needed.add(scenario)
    return items
