"""Baselines: known deviations that are reported as ``known``, not failing.

A baseline is a TOML file of ``[[known]]`` entries::

    [[known]]
    rule = "headers.x-accel-buffering"     # rule ID or glob (required)
    target = "http://staging-*"            # target URL glob (optional)
    scenario = "stream-*"                  # scenario glob (optional)
    reason = "nginx in front strips it"    # why it is accepted (required)
    expires = 2027-01-31                   # stops matching after this day (optional)

An entry past its expiry date no longer matches, so the deviation fails
again; an entry that matched nothing in a run is reported as stale.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Baseline", "BaselineError", "Entry", "load_baseline", "render_baseline"]


class Judged(Protocol):
    """What :meth:`Baseline.settle` reads of a result."""

    @property
    def rule(self) -> str: ...
    @property
    def scenario(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def outcome(self) -> str: ...


class BaselineError(ValueError):
    """The baseline file cannot be used; the message is one line."""


@dataclass(frozen=True)
class Entry:
    rule: str
    reason: str
    target: str = "*"
    scenario: str = "*"
    expires: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, rule: str, scenario: str, target: str) -> bool:
        return (
            fnmatch.fnmatchcase(rule, self.rule)
            and fnmatch.fnmatchcase(scenario, self.scenario)
            and fnmatch.fnmatchcase(target, self.target)
        )

    def describe(self) -> str:
        where = (
            ""
            if (self.target, self.scenario) == ("*", "*")
            else f" [{self.scenario}@{self.target}]"
        )
        return f"{self.rule}{where}: {self.reason}"


@dataclass
class Baseline:
    entries: list[Entry]
    today: dt.date = field(default_factory=dt.date.today)
    used: set[int] = field(default_factory=set)
    #: entries that some passing result fell under (set by :meth:`settle`)
    passing: set[int] | None = None

    def match(self, rule: str, scenario: str, target: str) -> Entry | None:
        """The live entry that covers this failure, if any (and note its use)."""
        for i, entry in enumerate(self.entries):
            if not entry.expired(self.today) and entry.matches(rule, scenario, target):
                self.used.add(i)
                return entry
        return None

    def expired(self) -> list[Entry]:
        return [e for e in self.entries if e.expired(self.today)]

    def settle(self, results: Iterable[Judged]) -> None:
        """Recount which entries were used from a run's results.

        Results may come from other processes (pytest-xdist workers), so the
        uses noted by :meth:`match` in this one are not the whole story.
        """
        self.used = set()
        self.passing = set()
        for r in results:
            if r.outcome == "known":
                self.match(r.rule, r.scenario, r.target)
            elif r.outcome == "passed":
                self.passing |= {
                    i for i, e in enumerate(self.entries) if e.matches(r.rule, r.scenario, r.target)
                }

    def stale(self) -> list[Entry]:
        """Live entries that covered nothing: the deviation is gone.

        After :meth:`settle`, only entries whose rule ran and passed count as
        stale, so ``--exo-rules`` leaving a rule out does not make its entry stale.
        """
        return [
            e
            for i, e in enumerate(self.entries)
            if i not in self.used
            and not e.expired(self.today)
            and (self.passing is None or i in self.passing)
        ]


_KEYS = {"rule", "reason", "target", "scenario", "expires"}


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise BaselineError(f"{where}: each [[known]] entry must be a table")
    unknown = set(raw) - _KEYS
    if unknown:
        raise BaselineError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("rule", "reason"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise BaselineError(f"{where}: '{key}' is required and must be a string")
    expires = raw.get("expires")
    if expires is not None and not isinstance(expires, dt.date):
        raise BaselineError(f"{where}: 'expires' must be a date like 2027-01-31")
    return Entry(
        rule=raw["rule"],
        reason=raw["reason"],
        target=str(raw.get("target", "*")),
        scenario=str(raw.get("scenario", "*")),
        expires=expires.date() if isinstance(expires, dt.datetime) else expires,
    )


def load_baseline(path: Path, today: dt.date | None = None) -> Baseline:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"--exo-baseline {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"--exo-baseline {path}: not valid TOML ({exc})") from None
    known = data.get("known", [])
    if not isinstance(known, list):
        raise BaselineError(f"--exo-baseline {path}: 'known' must be an array of tables")
    entries = [_entry(raw, f"--exo-baseline {path}: entry {i + 1}") for i, raw in enumerate(known)]
    return Baseline(entries, today or dt.date.today())


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_baseline(failures: Iterable[tuple[str, str, str, str]]) -> str:
    """A baseline covering (rule, scenario, target, message) failures, one entry each."""
    lines = [
        "# Known deviations, written by exo-conformance --exo-write-baseline.",
        "# Give each a reason, and an expiry date where a fix is planned.",
        "",
    ]
    for rule, scenario, target, message in sorted(set(failures)):
        lines += [
            "[[known]]",
            f"rule = {_toml_string(rule)}",
            f"scenario = {_toml_string(scenario)}",
            f"target = {_toml_string(target)}",
            f"reason = {_toml_string(message.splitlines()[0][:200] if message else 'known')}",
            "",
        ]
    return "\n".join(lines)
