"""Results: what a rule's verdict means for the run, and the record every report reads.

A rule returns a :class:`~conformance.rules.registry.Verdict` (passed, failed
or skipped); :func:`judge` turns it into an :class:`Outcome` with the rule's
level, the run's strictness and the baseline of known deviations; a
:class:`Result` carries the outcome with everything a report shows for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .rules.registry import Level, Rule, Verdict

__all__ = [
    "OUTCOMES",
    "Outcome",
    "Repetitions",
    "Result",
    "RunError",
    "RunInfo",
    "count",
    "judge",
    "make_result",
    "must_failures",
]


class Outcome(StrEnum):
    """How one rule on one scenario of one target came out."""

    PASSED = "passed"
    FAILED = "failed"  # a MUST failure, or a SHOULD failure under --exo-strict
    WARNED = "warned"  # a SHOULD failure
    SKIPPED = "skipped"  # the rule could not judge this exchange, and says why
    KNOWN = "known"  # a failure listed in the baseline
    ERROR = "error"  # the harness could not judge: a harness bug, never a pass


#: Every outcome, in the order reports count them.
OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)


def judge(level: Level, verdict: Verdict, *, strict: bool, known: bool = False) -> Outcome:
    """The reported outcome of a verdict at a level."""
    if verdict.outcome != "failed":
        return Outcome(verdict.outcome)
    if known:
        return Outcome.KNOWN
    if level is Level.MUST or (level is Level.SHOULD and strict):
        return Outcome.FAILED
    return Outcome.WARNED


@dataclass(frozen=True, slots=True)
class Repetitions:
    """On how many recordings of a scenario the rule failed."""

    failed: int = 0
    of: int = 1


@dataclass(frozen=True, slots=True)
class Result:
    """The judged outcome of one rule on one scenario of one target, ready to report."""

    rule: str
    level: str
    scenario: str
    target: str
    outcome: str
    message: str = ""
    expected: str = ""
    actual: str = ""
    hint: str = ""
    offset: int | None = None
    spec: str = ""
    breaks: tuple[str, ...] = ()
    nodeid: str = ""
    api: str = "chat"
    repetitions: Repetitions = field(default_factory=Repetitions)

    @property
    def bad(self) -> bool:
        """Whether it is a deviation a reader must see (failed, warned or known)."""
        return self.outcome in (Outcome.FAILED, Outcome.WARNED, Outcome.KNOWN)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "level": self.level,
            "scenario": self.scenario,
            "api": self.api,
            "target": self.target,
            "outcome": self.outcome,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "hint": self.hint,
            "offset": self.offset,
            "spec": self.spec,
            "breaks": list(self.breaks),
            "repetitions": {"failed": self.repetitions.failed, "of": self.repetitions.of},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        reps = data.get("repetitions") or {}
        return cls(
            rule=str(data["rule"]),
            level=str(data["level"]),
            scenario=str(data["scenario"]),
            target=str(data["target"]),
            outcome=str(data["outcome"]),
            message=str(data.get("message", "")),
            expected=str(data.get("expected", "")),
            actual=str(data.get("actual", "")),
            hint=str(data.get("hint", "")),
            offset=data.get("offset"),
            spec=str(data.get("spec", "")),
            breaks=tuple(data.get("breaks") or ()),
            nodeid=str(data.get("nodeid", "")),
            api=str(data.get("api", "chat")),
            repetitions=Repetitions(int(reps.get("failed", 0)), int(reps.get("of", 1))),
        )

    def redacted(self, redact: Any) -> Result:
        """The result with ``redact`` applied to every text a server could have shaped."""
        return replace(
            self,
            message=redact(self.message),
            expected=redact(self.expected),
            actual=redact(self.actual),
        )


def make_result(
    rule: Rule,
    verdict: Verdict | None,
    outcome: Outcome,
    *,
    scenario: str,
    target: str,
    nodeid: str = "",
    api: str = "chat",
    message: str = "",
    repetitions: Repetitions | None = None,
) -> Result:
    """The result of a rule's verdict; ``verdict`` is None when the harness could not judge."""
    found = verdict or Verdict(str(outcome), message)
    return Result(
        rule=rule.id,
        level=str(rule.level),
        scenario=scenario,
        target=target,
        outcome=str(outcome),
        message=message or found.message,
        expected=found.expected,
        actual=found.actual,
        hint=rule.hint if outcome in (Outcome.FAILED, Outcome.WARNED, Outcome.KNOWN) else "",
        offset=found.offset,
        spec=rule.spec,
        breaks=rule.breaks,
        nodeid=nodeid,
        api=api,
        repetitions=repetitions or Repetitions(),
    )


def count(results: Iterable[Result]) -> dict[str, int]:
    """How many results came out each way, every outcome present."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return counts


def must_failures(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.outcome == Outcome.FAILED and r.level == Level.MUST]


@dataclass(frozen=True, slots=True)
class RunError:
    """Why a run could not judge everything: its kind (``unreachable``,
    ``not-an-api``, ``interrupted``, ``target-lost``, ``internal``, ``usage``) and one line."""

    kind: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What reports say about a run besides its results: the environment description."""

    version: str
    targets: tuple[dict[str, Any], ...] = ()
    started_at: str = ""
    duration_s: float = 0.0
    strict: bool = False
    error: RunError | None = None
    scenarios: tuple[dict[str, Any], ...] = ()
    baseline: dict[str, Any] | None = None
    #: stale and expired baseline entries, described in one line each
    baseline_notes: tuple[str, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: how many times every scenario was recorded (``--exo-repeat``)
    repeat: int = 1
    #: requests sent and tokens asked for and generated (None: not counted here)
    cost: dict[str, int] | None = None
    #: the load scenario's figures per target name (``--exo-load``)
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)
