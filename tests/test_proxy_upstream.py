"""--exo-upstream through pytester: the reference proxy compared with its upstream."""

from __future__ import annotations

import json

import pytest
from conftest import ServerFactory

PROXY_RULES = ("proxy.events", "proxy.errors", "proxy.buffering", "proxy.headers")


def test_upstream_needs_exactly_one_url(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--exo-url", "http://127.0.0.1:1", "--exo-url", "http://127.0.0.1:2",
        "--exo-upstream", "http://127.0.0.1:3",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--exo-upstream needs exactly one --exo-url*"])


def test_upstream_must_be_a_url(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--exo-url", "http://127.0.0.1:1", "--exo-upstream", "ftp://x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--exo-upstream 'ftp://x' is not an http(s) URL*"])


def test_no_proxy_rule_without_an_upstream(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--exo-url", "embedded", "--collect-only", "-q")
    assert "proxy." not in result.stdout.str()
    assert "stream.done[stream-basic]" in result.stdout.str()


@pytest.mark.slow
def test_the_fixed_proxy_passes_every_proxy_rule(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    upstream = reference_server("--token-delay", "0.02")
    proxy = reference_server("--proxy-to", upstream)
    result = pytester.runpytest(
        "--exo-url", proxy, "--exo-upstream", upstream, "--exo-rules", "proxy.*",
        "--exo-json", "out.json", "-p", "no:randomly",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    outcomes: dict[str, set[str]] = {}
    for r in report["results"]:
        outcomes.setdefault(r["rule"], set()).add(r["outcome"])
    assert set(outcomes) == {*PROXY_RULES, "proxy.disconnect"}
    for rule, seen in outcomes.items():
        assert "passed" in seen and seen <= {"passed", "skipped"}, (rule, seen)
    # The upstream's recordings live inside the proxy's: one target in the report.
    assert [t["url"] for t in report["targets"]] == [proxy]


@pytest.mark.slow
def test_a_proxy_that_strips_headers_is_named(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    upstream = reference_server("--token-delay", "0.001")
    proxy = reference_server("--proxy-to", upstream, "--fault", "headers-stripped")
    result = pytester.runpytest(
        "--exo-url", proxy, "--exo-upstream", upstream, "--exo-rules", "proxy.headers",
        "--exo-json", "out.json", "-p", "no:randomly", "--exo-strict",
    )  # fmt: skip
    assert result.ret == 1
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    failed = [r for r in report["results"] if r["outcome"] == "failed"]
    assert {r["scenario"] for r in failed} == {
        "stream-basic",
        "stream-usage",
        "stream-max-tokens",
        "stream-long",
    }
    assert "X-Accel-Buffering: no" in failed[0]["expected"]
    assert "dropped or changed" in failed[0]["actual"]
