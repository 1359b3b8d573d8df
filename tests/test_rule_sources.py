"""Every built-in rule says where its requirement comes from, and a MUST says who breaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import stream_body, stream_transcript

from conformance.report.failure import format_failure
from conformance.report.html import rule_extra_html
from conformance.rules import REGISTRY, Level, Rule, specs
from conformance.view import ChatView

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = [r for r in REGISTRY if r.check.__module__.startswith("conformance.rules.")]


def test_the_built_in_rules_are_all_here() -> None:
    assert len(BUILT_IN) >= 50


@pytest.mark.parametrize("rule", [r for r in BUILT_IN if r.level == Level.MUST], ids=lambda r: r.id)
def test_a_must_rule_quotes_its_source_and_names_the_clients_that_break(rule: Rule) -> None:
    assert rule.quote.strip(), f"{rule.id}: a MUST rule needs the sentence it rests on"
    assert rule.breaks and all(b.strip() for b in rule.breaks), (
        f"{rule.id}: a MUST rule needs the clients known to break (or demote it to SHOULD)"
    )


@pytest.mark.parametrize("rule", BUILT_IN, ids=lambda r: r.id)
def test_a_rule_links_the_most_precise_section(rule: Rule) -> None:
    spec = rule.spec
    assert spec, f"{rule.id}: no spec link"
    if spec.startswith("docs/"):
        assert (ROOT / spec).is_file(), f"{rule.id}: {spec} is not in the repository"
    else:
        assert spec.startswith("https://"), f"{rule.id}: {spec!r} is not an https link"
    assert "#" in spec or spec in specs.BY_PATH, (
        f"{rule.id}: {spec} has no section anchor (add one, or list the page in specs.BY_PATH "
        "when its path is the section)"
    )


def test_a_failure_names_the_clients_that_break_in_the_terminal_and_html() -> None:
    done = REGISTRY.get("stream.done")
    t = stream_transcript(stream_body(done=False))
    verdict = done.check(ChatView(t))
    assert verdict.outcome == "failed"
    text = format_failure(done, verdict, t)
    assert f"breaks:      {done.breaks[0][:40]}" in text
    page = rule_extra_html(done, verdict, t, outcome="failed", redact=lambda s: s)
    assert "<dt>breaks</dt>" in page and "reqwest-eventsource" in page
    # A rule with no known broken client shows no empty field.
    cache = REGISTRY.get("headers.cache-control")
    assert "breaks:" not in format_failure(cache, verdict, t)
