"""One verdict from a rule's verdicts on every repetition of a scenario (``--exo-repeat``).

A rule fails if it fails on any repetition: an intermittent fault is a fault.
The first failing recording is the evidence, and the message says on how
many repetitions it failed, so a reader can tell one bad stream in twenty
from a rule that always fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from .results import Repetitions
from .rules.registry import Verdict

__all__ = ["Combined", "combine"]


@dataclass(frozen=True, slots=True)
class Combined:
    """The verdict to report, which repetition it comes from, and the counts."""

    verdict: Verdict
    index: int
    repetitions: Repetitions


def combine(verdicts: Sequence[Verdict]) -> Combined:
    """Failed if any failed (the first failure, counted); else passed if any passed;
    else the first verdict (every repetition skipped)."""
    if not verdicts:
        raise ValueError("no verdict to combine")
    of = len(verdicts)
    bad = [i for i, v in enumerate(verdicts) if v.outcome == "failed"]
    if bad:
        first = verdicts[bad[0]]
        if of > 1:
            note = f"failed on {len(bad)} of {of} repetitions (first: repetition {bad[0] + 1})"
            first = dataclasses.replace(first, message=f"{note}: {first.message}")
        return Combined(first, bad[0], Repetitions(len(bad), of))
    good = next((i for i, v in enumerate(verdicts) if v.outcome == "passed"), 0)
    chosen = verdicts[good]
    skips = sum(1 for v in verdicts if v.outcome == "skipped")
    if chosen.outcome == "passed" and skips:
        note = f"passed on {of - skips} of {of} repetitions, skipped on {skips}"
        chosen = dataclasses.replace(chosen, message=f"{note}; {chosen.message}".rstrip("; "))
    return Combined(chosen, good, Repetitions(0, of))
