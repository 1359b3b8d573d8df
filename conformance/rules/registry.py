"""Rules, verdicts and the registry that holds them.

A rule is a named pure function over a view, the parsed reading of a
transcript.  Its requirement, level, spec link, quote, broken clients and fix
hint are data on the rule, so the suite, the reports and the documentation all
read them from one place.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from ..capture.transcript import Transcript
from ..view import View, view_of

V = TypeVar("V", bound=View)

__all__ = [
    "REGISTRY",
    "Check",
    "Level",
    "Registry",
    "Rule",
    "Verdict",
    "failed",
    "passed",
    "rule",
    "skipped",
]


class Level(StrEnum):
    """Requirement levels, as RFC 2119 names them."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule concluded about one transcript.

    ``offset`` points into the body of the transcript (or of the related
    exchange named by ``source``) where the evidence is.
    """

    outcome: str  # "passed", "failed" or "skipped"
    message: str = ""
    expected: str = ""
    actual: str = ""
    offset: int | None = None
    source: str = ""


def passed(message: str = "") -> Verdict:
    return Verdict("passed", message)


def failed(
    expected: str,
    actual: str,
    *,
    at: int | None = None,
    source: str = "",
    message: str = "",
) -> Verdict:
    """A failure with Expected/Actual text and, where known, the byte offset."""
    return Verdict("failed", message or actual, expected, actual, at, source)


def skipped(reason: str) -> Verdict:
    """The rule cannot judge this transcript (never a pass in disguise)."""
    return Verdict("skipped", reason)


#: A rule's check: a pure function of the view of one exchange (a ChatView for
#: chat scenarios), typed loosely here so a check may name the view it reads.
Check = Callable[[Any], Verdict]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule and the data every report shows for it.

    ``quote`` is the sentence of the source the level rests on (or the client
    behaviour it protects); ``breaks`` names the clients known to fail when the
    rule does.
    """

    id: str
    level: Level
    requirement: str
    spec: str
    hint: str
    scenarios: tuple[str, ...]
    check: Check
    quote: str = ""
    breaks: tuple[str, ...] = ()
    #: the APIs whose scenarios the rule reads (``chat`` unless declared)
    apis: tuple[str, ...] = ("chat",)

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]

    def judge(self, transcript: Transcript, api: str | None = None) -> Verdict:
        """The verdict on one transcript, read through a fresh view of the rule's
        (first) API, or of ``api`` (for tests)."""
        return self.check(view_of(transcript, api or self.apis[0]))


class Registry:
    """Rules by ID, in registration order; duplicate IDs are an error."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def add(self, new: Rule) -> Rule:
        if new.id in self._rules:
            raise ValueError(f"duplicate rule ID {new.id!r}")
        if not new.scenarios:
            raise ValueError(f"rule {new.id!r} names no scenario")
        self._rules[new.id] = new
        return new

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def get(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def select(self, patterns: list[str] | None) -> list[Rule]:
        """Rules whose ID matches any of the globs (all rules when none given)."""
        if not patterns:
            return list(self)
        return [r for r in self if any(fnmatch.fnmatchcase(r.id, p) for p in patterns)]


REGISTRY = Registry()


def rule(
    rule_id: str,
    *,
    level: Level,
    requirement: str,
    scenarios: Sequence[str],
    spec: str = "",
    hint: str = "",
    quote: str = "",
    breaks: Sequence[str] = (),
    api: str | Sequence[str] = "chat",
    registry: Registry = REGISTRY,
) -> Callable[[Callable[[V], Verdict]], Callable[[V], Verdict]]:
    """Register the decorated check as a rule (the built-in ones and users' alike).

    The check gets the view of each scenario's transcript (``view.transcript``
    is the raw record) and returns :func:`passed`, :func:`failed` or
    :func:`skipped`.  ``api`` names the API (or APIs) of those scenarios, whose
    view the check reads; a rule runs only on targets tested on its scenario's API.
    """
    if isinstance(scenarios, str):
        raise TypeError(f"rule {rule_id!r}: scenarios must be a list of IDs, not one string")
    apis = (api,) if isinstance(api, str) else tuple(api)
    if not apis:
        raise ValueError(f"rule {rule_id!r} names no API")

    def register(check: Callable[[V], Verdict]) -> Callable[[V], Verdict]:
        registry.add(
            Rule(
                rule_id,
                level,
                requirement,
                spec,
                hint,
                tuple(scenarios),
                check,
                quote,
                tuple(breaks),
                apis,
            )
        )
        return check

    return register
