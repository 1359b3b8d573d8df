"""The generated suite: one pytest item per rule x scenario x target."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from .capture.transcript import Transcript
from .report.failure import format_failure
from .rules.registry import Level, Rule, Verdict
from .run import ConformanceRun
from .scenarios import CATALOG, Target

__all__ = ["RuleFailure", "RuleItem", "SuiteCollector", "judge"]


class RuleFailure(Exception):
    """A rule failed; the message is the full failure layout."""


class HarnessError(Exception):
    """The harness could not judge: a bug in the tool, never a pass."""


def judge(level: Level, verdict: Verdict, *, strict: bool, known: bool = False) -> str:
    """The reported outcome of a verdict at a level."""
    if verdict.outcome != "failed":
        return verdict.outcome
    if known:
        return "known"
    if level is Level.MUST or (level is Level.SHOULD and strict):
        return "failed"
    return "warned"


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
        self.transcript: Transcript | None = None
        self.exo_outcome = "error"
        self.user_properties += [
            ("rule", rule.id),
            ("level", str(rule.level)),
            ("scenario", scenario),
            ("target", target.label or target.url),
        ]
        self.add_marker(pytest.mark.exo_conformance)

    def runtest(self) -> None:
        transcript = self.run.transcript(self.target, self.scenario)
        self.transcript = transcript
        try:
            verdict = self.rule.check(transcript)
        except Exception as exc:
            raise HarnessError(f"{self.rule.id} could not judge: {exc!r}") from exc
        self.verdict = verdict
        strict = self.run.settings.strict
        known = verdict.outcome == "failed" and self.run.is_known(
            self.rule.id, self.scenario, self.target.label or self.target.url
        )
        self.exo_outcome = judge(self.rule.level, verdict, strict=strict, known=known)
        if self.exo_outcome == "skipped":
            raise pytest.skip.Exception(verdict.message, _use_item_location=True)
        if self.exo_outcome == "failed":
            raise RuleFailure(self.failure_text())

    def failure_text(self) -> str:
        assert self.verdict is not None and self.transcript is not None
        return format_failure(
            self.rule, self.verdict, self.transcript, secrets=self.run.settings.secrets
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
                if scenario not in CATALOG:
                    raise ValueError(f"rule {rule.id} names unknown scenario {scenario!r}")
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
                needed.add(scenario)
    return items
