"""Baselines: matching, expiry, staleness, writing one and running with it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ServerFactory

from conformance.baseline import BaselineError, Entry, load_baseline, render_baseline
from conformance.schemas import validate

TODAY = dt.date(2026, 3, 1)


@dataclass(frozen=True)
class R:
    rule: str
    scenario: str
    target: str
    outcome: str


def _load(tmp_path: Path, text: str) -> list[Entry]:
    path = tmp_path / "b.toml"
    path.write_text(text, encoding="utf-8")
    return load_baseline(path, TODAY).entries


def test_globs_match_rule_target_and_scenario(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(
        '[[known]]\nrule = "headers.*"\ntarget = "http://staging-*"\n'
        'scenario = "stream-*"\nreason = "nginx strips it"\n',
        encoding="utf-8",
    )
    b = load_baseline(path, TODAY)
    assert b.match("headers.x-accel-buffering", "stream-basic", "http://staging-1:8000")
    assert b.match("stream.done", "stream-basic", "http://staging-1:8000") is None
    assert b.match("headers.x-accel-buffering", "nonstream-basic", "http://staging-1") is None
    assert b.match("headers.x-accel-buffering", "stream-basic", "http://prod:8000") is None


def test_target_and_scenario_default_to_any(tmp_path: Path) -> None:
    (entry,) = _load(tmp_path, '[[known]]\nrule = "stream.done"\nreason = "r"\n')
    assert entry.matches("stream.done", "anything", "embedded")


def test_an_expired_entry_stops_matching(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(
        '[[known]]\nrule = "a"\nreason = "r"\nexpires = 2026-02-28\n'
        '[[known]]\nrule = "b"\nreason = "r"\nexpires = 2026-03-01\n',
        encoding="utf-8",
    )
    b = load_baseline(path, TODAY)
    assert b.match("a", "s", "t") is None
    assert b.match("b", "s", "t") is not None  # the expiry day itself still counts
    assert [e.rule for e in b.expired()] == ["a"]
    assert [e.rule for e in b.stale()] == []


def test_stale_means_the_rule_ran_and_passed(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(
        '[[known]]\nrule = "fixed"\nreason = "r"\n'
        '[[known]]\nrule = "still-broken"\nreason = "r"\n'
        '[[known]]\nrule = "not-run"\nreason = "r"\n',
        encoding="utf-8",
    )
    b = load_baseline(path, TODAY)
    b.settle([R("fixed", "s", "t", "passed"), R("still-broken", "s", "t", "known")])
    assert [e.rule for e in b.stale()] == ["fixed"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("known = [", "not valid TOML"),
        ("known = 1", "'known' must be an array of tables"),
        ('[[known]]\nrule = "a"\n', "entry 1: 'reason' is required"),
        ('[[known]]\nrule = "a"\nreason = "r"\nwhy = 1\n', "entry 1: unknown key(s) why"),
        ('[[known]]\nrule = "a"\nreason = "r"\nexpires = "soon"\n', "'expires' must be a date"),
    ],
)
def test_a_bad_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BaselineError, match=r".") as info:
        _load(tmp_path, text)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="No such file"):
        load_baseline(tmp_path / "nope.toml")


def test_render_round_trips(tmp_path: Path) -> None:
    text = render_baseline([("stream.done", "stream-basic", "http://h:1", 'say "hi"\\n\nmore')])
    (entry,) = _load(tmp_path, text)
    assert entry.matches("stream.done", "stream-basic", "http://h:1")
    assert entry.reason == 'say "hi"\\n'


# -- through the plugin ----------------------------------------------------------


@pytest.mark.slow
def test_write_baseline_then_rerun_with_it_passes_as_known(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    first = pytester.runpytest(
        "--exo-url", url, "--exo-rules", "stream.*", "--exo-write-baseline", "known.toml"
    )
    assert first.ret == 1
    written = (pytester.path / "known.toml").read_text()
    assert 'rule = "stream.done"' in written and f'target = "{url}"' in written

    second = pytester.runpytest(
        "--exo-url",
        url,
        "--exo-rules",
        "stream.*",
        "--exo-baseline",
        "known.toml",
        "--exo-json",
        "out.json",
        "-v",
    )
    assert second.ret == 0
    second.stdout.fnmatch_lines(["*stream.done?stream-basic? KNOWN*"])
    report = json.loads((pytester.path / "out.json").read_text())
    assert validate("report", report) == []
    assert report["summary"]["known"] >= 1 and report["summary"]["failed"] == 0
    outcomes = {(r["rule"], r["scenario"]): r["outcome"] for r in report["results"]}
    assert outcomes[("stream.done", "stream-basic")] == "known"
    assert report["baseline"]["stale"] == [] and report["baseline"]["expired"] == []


@pytest.mark.slow
def test_an_expired_entry_lets_the_failure_back(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    pytester.path.joinpath("b.toml").write_text(
        '[[known]]\nrule = "stream.*"\nreason = "fix due"\nexpires = 2001-01-01\n'
    )
    result = pytester.runpytest(
        "--exo-url",
        url,
        "--exo-rules",
        "stream.done",
        "--exo-baseline",
        "b.toml",
        "--exo-json",
        "out.json",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*expired baseline entry (no longer applied): stream.*: fix due"])
    report = json.loads((pytester.path / "out.json").read_text())
    assert [e["rule"] for e in report["baseline"]["expired"]] == ["stream.*"]
    assert report["summary"]["known"] == 0
    assert {r["outcome"] for r in report["results"]} == {"failed"}


@pytest.mark.slow
def test_an_entry_whose_rule_now_passes_is_stale(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--token-delay", "0.001")
    pytester.path.joinpath("b.toml").write_text(
        '[[known]]\nrule = "stream.done"\nreason = "was broken"\n'
        '[[known]]\nrule = "models.schema"\nreason = "not run this time"\n'
    )
    result = pytester.runpytest(
        "--exo-url",
        url,
        "--exo-rules",
        "stream.done",
        "--exo-baseline",
        "b.toml",
        "--exo-json",
        "out.json",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*stale baseline entry (nothing to cover any more): stream.done: was broken"]
    )
    assert "models.schema: not run" not in result.stdout.str()
    report = json.loads((pytester.path / "out.json").read_text())
    assert report["baseline"]["stale"] == [
        {
            "rule": "stream.done",
            "target": "*",
            "scenario": "*",
            "reason": "was broken",
            "expires": "",
        }
    ]


def test_a_bad_baseline_file_is_one_usage_line(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("b.toml").write_text("[[known]]\nrule = 'x'\n")
    result = pytester.runpytest("--exo-url", "embedded", "--exo-baseline", "b.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [
        "ERROR: --exo-baseline b.toml: entry 1: 'reason' is required and must be a string"
    ]
