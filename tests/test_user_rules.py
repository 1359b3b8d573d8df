"""Users' own rules: a rule in a conftest runs like a built-in one, in every report."""

from __future__ import annotations

import json

import pytest

CONFTEST = """
from conformance import Level, failed, passed, rule, skipped


@rule("mine.fast-first-token", level=Level.SHOULD,
      requirement="The first content arrives within 30 s.",
      scenarios=["stream-basic"])
def fast_first_token(view):
    first = view.t_first_content_ns
    if first is None:
        return skipped("no content arrived")
    if first > 30e9:
        return failed("first content within 30 s", f"first content after {first / 1e9:.1f} s")
    return passed(f"first content after {first / 1e6:.0f} ms")


@rule("mine.model-named", level=Level.MUST,
      requirement="The request names a model the stream answers with.",
      scenarios=["stream-basic", "stream-long"])
def model_named(view):
    asked = view.asked("model")
    said = {chunk.get("model") for _, chunk in view.chunks()}
    if said != {asked}:
        return failed(f"model {asked!r} in every chunk", f"models {sorted(map(str, said))}")
    return passed()


@rule("mine.always-fails", level=Level.MUST,
      requirement="A rule that fails, to see it in every report.",
      scenarios=["stream-basic"])
def always_fails(view):
    return failed("nothing", f"HTTP {view.status} with {len(view.events)} events", at=0)
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest_subprocess(
        "--exo-url", "embedded", "--exo-rules", "mine.*", "-p", "no:cacheprovider", *args
    )


@pytest.mark.slow
def test_a_user_rule_runs_and_shows_in_terminal_json_and_html(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester, "--exo-json", "report.json", "--html", "report.html", "--self-contained-html"
    )
    out = result.stdout.str()
    assert "mine.always-fails[stream-basic]" in out
    assert result.ret == 1  # the MUST failure fails the run
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    by_id = {(r["rule"], r["scenario"]): r for r in report["results"]}
    assert by_id[("mine.fast-first-token", "stream-basic")]["outcome"] == "passed"
    assert by_id[("mine.model-named", "stream-long")]["outcome"] == "passed"
    bad = by_id[("mine.always-fails", "stream-basic")]
    assert bad["outcome"] == "failed"
    assert bad["expected"] == "nothing"
    assert bad["actual"].startswith("HTTP 200 with ")
    assert bad["offset"] == 0
    assert len(report["results"]) == 4
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert "mine.always-fails" in html
    assert "mine.model-named" in html


def test_a_rule_naming_an_unknown_scenario_is_one_usage_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from conformance import Level, passed, rule\n"
        "@rule('mine.x', level=Level.MUST, requirement='x', scenarios=['no-such-scenario'])\n"
        "def x(view):\n    return passed()\n"
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("--exo-url", "embedded", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "names unknown scenario 'no-such-scenario'" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
