"""Several targets in one run: items, results, scenarios and summary per target."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from conftest import ServerFactory

from conformance.run import target_labels
from conformance.schemas import validate

pytestmark = pytest.mark.slow


def _hostport(url: str) -> str:
    return str(urlsplit(url).netloc)


def test_labels_are_the_urls_as_given_never_a_runtime_port() -> None:
    assert target_labels(["embedded", "http://a:1"]) == ["embedded", "http://a:1"]
    assert target_labels(["http://a:1", "http://a:1"]) == ["http://a:1", "http://a:1-2"]


def test_two_targets_with_different_faults(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    no_done = reference_server("--fault", "no-done", "--token-delay", "0.001")
    no_accel = reference_server("--fault", "no-accel-header", "--token-delay", "0.001")
    result = pytester.runpytest(
        "--exo-url",
        no_done,
        "--exo-url",
        no_accel,
        "-v",
        "--exo-json",
        "out.json",
        "--exo-rules",
        "stream.done",
        "--exo-rules",
        "headers.*",
    )
    a, b = _hostport(no_done), _hostport(no_accel)
    result.stdout.fnmatch_lines_random(
        [
            f"*stream.done?stream-basic@{a}? FAILED*",
            f"*stream.done?stream-basic@{b}? PASSED*",
            f"*headers.x-accel-buffering?stream-basic@{a}? PASSED*",
            f"*headers.x-accel-buffering?stream-basic@{b}? WARNED*",
        ]
    )
    assert result.ret == 1

    report = json.loads((pytester.path / "out.json").read_text())
    assert validate("report", report) == []
    assert [t["url"] for t in report["targets"]] == [no_done, no_accel]
    outcome = {(r["rule"], r["scenario"], r["target"]): r["outcome"] for r in report["results"]}
    assert outcome[("stream.done", "stream-basic", no_done)] == "failed"
    assert outcome[("stream.done", "stream-basic", no_accel)] == "passed"
    assert outcome[("headers.x-accel-buffering", "stream-basic", no_done)] == "passed"
    assert outcome[("headers.x-accel-buffering", "stream-basic", no_accel)] == "warned"
    # Every item is reported once, and each target has its own scenarios.
    assert len(outcome) == len(report["results"])
    assert {(s["target"], s["id"]) for s in report["scenarios"]} >= {
        (no_done, "stream-basic"),
        (no_accel, "stream-basic"),
    }

    # The summary groups failures under their target.
    text = result.stdout.str()
    summary = text[text.index("exo-conformance ===") :]
    first, second = summary.index(f"target {no_done}"), summary.index(f"target {no_accel}")
    assert first < second
    # One line per deviation: a rule failing on every stream is one line.
    assert "FAILED  stream.done on 4 of 4 scenarios" in summary[first:second]
    assert "WARNED  headers.x-accel-buffering on 4 of 4 scenarios" in summary[second:]
    assert "stream.done" not in summary[second:].split("verdict:")[0]


def test_embedded_among_several_targets_is_labelled_embedded(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--token-delay", "0.001")
    result = pytester.runpytest(
        "--exo-url",
        "embedded",
        "--exo-url",
        url,
        "--exo-rules",
        "stream.done",
        "--collect-only",
        "-q",
    )
    result.stdout.fnmatch_lines(
        [
            "stream.done[[]stream-basic@embedded[]]",
            f"stream.done[[]stream-basic@{_hostport(url)}[]]",
        ]
    )
