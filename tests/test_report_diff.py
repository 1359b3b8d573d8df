"""``exo-conformance diff A.json B.json``: two reports compared rule by rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.commands import diff_main
from conformance.report.diff import ReportError, compare, load_report


def result(rule: str, outcome: str, level: str = "MUST", **kw: Any) -> dict[str, Any]:
    return {
        "rule": rule,
        "level": level,
        "scenario": kw.get("scenario", "stream-basic"),
        "target": kw.get("target", "http://a"),
        "outcome": outcome,
        "message": kw.get("message", f"{rule} {outcome}"),
    }


def report(tmp_path: Path, name: str, *results: dict[str, Any]) -> Path:
    path = tmp_path / name
    data = {"tool": {"name": "exo-conformance", "version": "0"}, "results": list(results)}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_new_must_failure_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = report(tmp_path, "a.json", result("stream.done", "passed"), result("chunk.x", "failed"))
    b = report(tmp_path, "b.json", result("stream.done", "failed"), result("chunk.x", "passed"))
    assert diff_main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "newly failing: 1" in out and "stream.done[stream-basic]: passed -> failed" in out
    assert "newly passing: 1" in out and "chunk.x[stream-basic]: failed -> passed" in out
    assert "verdict: 1 new MUST failure" in out


def test_should_warnings_and_old_failures_exit_0(tmp_path: Path) -> None:
    a = report(
        tmp_path, "a.json", result("stream.done", "failed"), result("h.x", "passed", "SHOULD")
    )
    b = report(
        tmp_path, "b.json", result("stream.done", "failed"), result("h.x", "warned", "SHOULD")
    )
    assert diff_main([str(a), str(b)]) == 0
    c = compare(load_report(a), load_report(b))
    assert c.still_failing == 1 and [x.rule for x in c.newly_failing] == ["h.x"]


def test_a_result_new_in_b_counts_when_it_fails(tmp_path: Path) -> None:
    a = report(tmp_path, "a.json", result("stream.done", "passed"))
    b = report(
        tmp_path, "b.json", result("stream.done", "passed"), result("proxy.events", "failed")
    )
    c = compare(load_report(a), load_report(b))
    assert [(x.rule, x.before) for x in c.new_must_failures] == [("proxy.events", "absent")]


def test_known_and_skipped_are_not_failures() -> None:
    a = [result("stream.done", "passed"), result("chunk.y", "passed")]
    b = [result("stream.done", "known"), result("chunk.y", "skipped")]
    c = compare(a, b)
    assert not c.newly_failing and not c.newly_passing


def test_two_targets_compare_by_rule_and_scenario() -> None:
    a = [result("stream.done", "passed", target="http://exo")]
    b = [result("stream.done", "failed", target="http://proxy")]
    assert [x.rule for x in compare(a, b).new_must_failures] == ["stream.done"]


def test_reports_of_different_several_targets_are_refused() -> None:
    a = [result("r", "passed", target="x"), result("r", "passed", target="y")]
    b = [result("r", "passed", target="x"), result("r", "passed", target="z")]
    with pytest.raises(ReportError, match="different targets"):
        compare(a, b)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it"),
        ("not json", "not JSON"),
        ('{"results": []}', "not an exo-conformance JSON report"),
        ('{"tool": {}, "results": [{"rule": 1}]}', "a result without rule"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    good = report(tmp_path, "good.json", result("stream.done", "passed"))
    assert diff_main([str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_wrong_arguments_are_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert diff_main(["only-one.json"]) == 2
    assert "expected two reports" in capsys.readouterr().err
