"""pytest-xdist: ``-n 2`` gives the same results and reports as a serial run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerFactory

from conformance.schemas import validate

pytestmark = pytest.mark.slow

#: Timing rules judge delivery gaps; two workers recording at once may blur them.
TIMING = ("stream.incremental",)


def _report(pytester: pytest.Pytester, name: str, *args: str) -> dict[str, Any]:
    result = pytester.runpytest_subprocess(
        *args,
        "--exo-json",
        name,
        "-p",
        "no:randomly",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    assert result.ret in (0, 1), result.stdout.str()
    if "-n" in args:
        # The controller starts and preflights nothing: its header says so.
        assert "(started by each xdist worker)" in result.stdout.str()
    report: dict[str, Any] = json.loads(Path(pytester.path / name).read_text())
    assert validate("report", report) == []
    return report


def _judged(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (r["rule"], r["scenario"], r["outcome"])
        for r in report["results"]
        if r["rule"] not in TIMING
    }


def _each_once(report: dict[str, Any]) -> None:
    keys = Counter((r["rule"], r["scenario"], r["target"]) for r in report["results"])
    assert max(keys.values()) == 1


def _compare(serial: dict[str, Any], parallel: dict[str, Any]) -> None:
    _each_once(serial)
    _each_once(parallel)
    assert len(parallel["results"]) == len(serial["results"])
    assert _judged(parallel) == _judged(serial)
    # Scenario stats come back from the workers, once per scenario and target.
    assert {(s["target"], s["id"]) for s in parallel["scenarios"]} == {
        (s["target"], s["id"]) for s in serial["scenarios"]
    }
    assert [t["name"] for t in parallel["targets"]] == [t["name"] for t in serial["targets"]]


def test_parallel_equals_serial_against_a_faulty_server(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    serial = _report(pytester, "serial.json", "--exo-url", url)
    parallel = _report(pytester, "parallel.json", "--exo-url", url, "-n", "2")
    _compare(serial, parallel)
    assert ("stream.done", "stream-basic", "failed") in _judged(parallel)
    assert parallel["targets"] == serial["targets"]


def test_parallel_equals_serial_with_embedded_and_a_second_target(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "no-accel-header", "--token-delay", "0.001")
    args = ("--exo-url", "embedded", "--exo-url", url)
    serial = _report(pytester, "serial.json", *args)
    parallel = _report(pytester, "parallel.json", *args, "-n", "2")
    _compare(serial, parallel)
    targets = {(r["rule"], r["target"], r["outcome"]) for r in parallel["results"]}
    assert ("headers.x-accel-buffering", url, "warned") in targets
    assert ("headers.x-accel-buffering", "embedded", "passed") in targets


def test_an_unreachable_target_under_xdist_exits_3(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess(
        "--exo-url",
        "embedded",
        "--exo-url",
        "http://127.0.0.1:9",
        "-n",
        "2",
        "--exo-rules",
        "stream.done",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    # The workers cannot reach the second target: the controller says so once, exits 3.
    assert result.ret == 3
    text = result.stdout.str() + result.stderr.str()
    assert "http://127.0.0.1:9: connection refused" in text
