"""--exo-repeat: every scenario recorded N times, a rule failing on any repetition.

The ``done-sometimes`` fault drops [DONE] on every fourth stream of the same
request: one recording of each scenario never shows it, eight always do.
"""

from __future__ import annotations

import json

import pytest
from conftest import ServerFactory

from conformance.repetition import combine
from conformance.results import Repetitions
from conformance.rules.registry import failed, passed, skipped

pytestmark = pytest.mark.slow


def _report(pytester: pytest.Pytester) -> dict[str, object]:
    report = json.loads((pytester.path / "out.json").read_text())
    assert isinstance(report, dict)
    return report


def test_an_intermittent_missing_done_fails_on_k_of_8(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "done-sometimes")
    result = pytester.runpytest(
        "--exo-url", url, "--exo-rules", "stream.done", "--exo-repeat", "8",
        "--exo-json", "out.json", "-p", "no:randomly",
    )  # fmt: skip
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*stream.done*failed on 2 of 8 repetitions*"])
    results = _report(pytester)["results"]
    assert isinstance(results, list) and results
    for r in results:
        assert r["outcome"] == "failed"
        assert r["repetitions"] == {"failed": 2, "of": 8}
        assert "failed on 2 of 8 repetitions (first: repetition 4)" in r["message"]


def test_one_recording_does_not_see_the_intermittent_fault(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "done-sometimes")
    result = pytester.runpytest(
        "--exo-url", url, "--exo-rules", "stream.*", "--exo-json", "out.json",
        "-p", "no:randomly",
    )  # fmt: skip
    assert result.ret == 0
    results = _report(pytester)["results"]
    assert isinstance(results, list)
    assert all(r["repetitions"] == {"failed": 0, "of": 1} for r in results)


def test_the_reference_passes_every_repetition(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server()
    result = pytester.runpytest(
        "--exo-url", url, "--exo-rules", "stream.*", "--exo-rules", "chunk.*",
        "--exo-repeat", "3", "--exo-json", "out.json", "-p", "no:randomly",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    report = _report(pytester)
    results = report["results"]
    assert isinstance(results, list) and results
    assert {r["outcome"] for r in results} <= {"passed", "skipped"}
    assert all(r["repetitions"] == {"failed": 0, "of": 3} for r in results)


def test_repeat_must_be_a_positive_integer(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--exo-url", "embedded", "--exo-repeat", "0")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--exo-repeat: expected a positive number*"])


# -- combining verdicts -------------------------------------------------------------


def test_one_failure_among_passes_fails_and_says_on_how_many() -> None:
    found = combine([passed(), failed("a", "b"), passed(), failed("a", "c")])
    assert found.verdict.outcome == "failed"
    assert found.index == 1 and found.verdict.actual == "b"
    assert found.repetitions == Repetitions(2, 4)
    assert found.verdict.message.startswith("failed on 2 of 4 repetitions (first: repetition 2)")


def test_all_passes_pass_and_a_single_verdict_is_unchanged() -> None:
    assert combine([passed(), passed()]).repetitions == Repetitions(0, 2)
    only = failed("a", "b")
    assert combine([only]).verdict == only
    assert combine([only]).repetitions == Repetitions(1, 1)


def test_skips_alone_skip_and_skips_beside_passes_are_counted() -> None:
    assert combine([skipped("x"), skipped("y")]).verdict.outcome == "skipped"
    mixed = combine([skipped("x"), passed()])
    assert mixed.verdict.outcome == "passed" and "skipped on 1" in mixed.verdict.message
