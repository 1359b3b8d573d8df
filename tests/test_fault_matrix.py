"""The self-test matrix: every fault trips exactly the rules it should, and nothing else.

The whole suite runs through the real command line (``python -m pytest
--exo-url URL --exo-json ...``) against the reference server with each fault
of the catalog, on real loopback sockets.  The set of rules a fault trips is
compared with ``EXPECTED``, reviewed row by row against what the fault does.
A fault added to the catalog without a row here fails.  Valid variants and
the correct endpoint trip nothing, with or without the fixed proxy in front;
the seed-bug proxy fails with a message that names the cause.

The matrix runs once per session, several cases at once, for the cases the
collected items need.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from matrix import (
    IN_PROXY,
    Case,
    Finding,
    Row,
    all_cases,
    must_necessity,
    render_matrix,
    render_necessity,
    render_verdicts,
    run_matrix,
)

from conformance.reference.faults import FAULTS, SEED_BUG, UPSTREAM_KEPT
from conformance.reference.variants import VARIANTS
from conformance.rules import REGISTRY, Level
from conformance.scenarios import CATALOG

ROOT = Path(__file__).resolve().parent.parent

#: fault -> the exact rule IDs (MUST and SHOULD) it trips on the reference server.
#: Reviewed row by row against what each fault does; docs/fault-matrix.md has
#: the levels.  Rows marked "over-trip" carry rules that fire as a side effect
#: of another rule's failure rather than for their own requirement: kept here
#: so the matrix records today's behaviour, and listed as rule issues.
EXPECTED: dict[str, frozenset[str]] = {
    # -- framing and lifecycle
    "no-done": frozenset(
        {
            "stream.done",
            "client.openai-sdk",  # the SDK cannot tell a finished answer from a cut one
        }
    ),
    # Every reader stops at [DONE], as clients do: only stream.after-done sees the chunk.
    "data-after-done": frozenset({"stream.after-done"}),
    # disconnect.recovers asks only that the next request is served: its held-open
    # body is stream.closes's to judge.
    "open-after-done": frozenset({"stream.closes"}),
    "buffered": frozenset(
        {
            "stream.incremental",
            "disconnect.cancels",  # the whole answer is generated before the drop is seen
        }
    ),
    "gzip": frozenset(
        {
            "headers.content-encoding",
            "stream.incremental",  # compressed whole, so buffered
            "disconnect.cancels",
        }
    ),
    "non-json-data": frozenset({"sse.data-json", "client.openai-sdk"}),
    # -- headers
    "no-accel-header": frozenset({"headers.x-accel-buffering"}),
    "no-cache-header": frozenset({"headers.cache-control"}),
    "wrong-content-type": frozenset({"headers.content-type"}),
    # -- chunks
    "role-missing": frozenset({"chunk.role-first"}),
    "role-every-chunk": frozenset({"chunk.role-once"}),
    "id-changes": frozenset({"chunk.id-stable"}),
    "wrong-object": frozenset({"chunk.object"}),  # chunk.schema leaves `object` to it
    "finish-reason-missing": frozenset(
        {
            "chunk.finish-reason",
            "chunk.max-tokens",  # no `length` finish on the cut stream
            "error.stream-event",  # [DONE] with no finish_reason reads as an unreported failure
        }
    ),
    "finish-reason-twice": frozenset({"chunk.finish-reason"}),
    "content-after-finish": frozenset(
        {
            "chunk.finish-reason",  # chunk.max-tokens trusts usage, which counts right
            "consistency.content",  # the stream has one more word than the non-stream answer
        }
    ),
    "bad-finish-reason": frozenset(
        {
            "chunk.finish-reason",  # chunk.schema leaves finish_reason to it
            "chunk.max-tokens",  # `done` instead of `length`
            "consistency.finish-reason",
        }
    ),
    "usage-ignored": frozenset({"chunk.usage-requested"}),
    # One deviation, one rule: chunk.finish-reason leaves the empty choice to it.
    "usage-on-a-choice": frozenset({"chunk.usage-requested"}),
    "usage-wrong-sum": frozenset({"chunk.usage-requested", "completion.usage"}),
    "max-tokens-ignored": frozenset({"chunk.max-tokens", "completion.max-tokens"}),
    # -- non-stream answers
    "nonstream-mismatch": frozenset({"consistency.content"}),
    "nonstream-empty-body": frozenset({"completion.schema"}),
    # -- errors
    "error-as-200-json": frozenset(
        {
            "error.invalid-json",
            "error.missing-messages",
            "error.stream-request",
            "error.unknown-model",
        }
    ),
    "unknown-model-200": frozenset({"error.stream-request", "error.unknown-model"}),
    "detail-errors": frozenset({"error.schema"}),
    "error-no-done": frozenset(
        {
            "stream.done",
            "error.stream-event-done",
            "client.openai-sdk",  # the SDK raises on the error event
            "consistency.content",  # the stream's text stops partway
        }
    ),
    "midstream-error": frozenset(
        {
            # A correctly reported failure: no framing or error rule trips, and no
            # MUST rule (the next request after a drop is served: chunks, then the error).
            "client.openai-sdk",
            "consistency.content",
        }
    ),
    # Neither finish nor [DONE]: the finish and usage rules leave it to these two.
    "silent-close": frozenset(
        {"stream.done", "error.stream-event", "client.openai-sdk", "consistency.content"}
    ),
    # -- faults real servers were caught in
    "bursts": frozenset({"stream.incremental"}),  # 4 bursts during the generation
    "withheld-headers": frozenset(
        {
            "stream.incremental",  # everything at the end
            "disconnect.cancels",  # the whole answer is generated before the drop is seen
        }
    ),
    # Undisturbed recording: only the concurrency scenario sends requests at once.
    "cut-on-new-request": frozenset({"concurrency.isolation"}),
    "tool-index-missing": frozenset({"chunk.tool-calls", "consistency.tool-calls"}),
    "tool-index-shared": frozenset({"chunk.tool-calls", "consistency.tool-calls"}),
    # Kept open with keep-alives: the harness stops at its deadline, stream.done owns it.
    "dead-runner-keepalive": frozenset({"stream.done"}),
    # Shown only by repetition or load (see REVEALED_BY): a default run, each
    # scenario recorded once and at most 8 streams at once, sees nothing.
    "done-sometimes": frozenset(),
    "cross-talk": frozenset(),
    "cut-under-load": frozenset(),
    # -- faults that each leave one MUST rule alone to catch them
    "stream-500": frozenset({"headers.status"}),  # every stream rule skips on a non-200
    "invalid-utf8": frozenset(
        {
            "sse.utf8",
            "client.openai-sdk",  # the SDK decodes lines strictly
            "consistency.content",  # the stream's text carries U+FFFD where the byte was
        }
    ),
    "unterminated-last": frozenset(
        {
            "sse.terminated",
            "stream.done",  # an unterminated event is discarded: no [DONE] is dispatched
            "client.openai-sdk",  # the SDK never sees [DONE] either
        }
    ),
    "nonstream-text-plain": frozenset({"completion.content-type"}),
    "models-broken": frozenset({"models.schema"}),  # ids stay: preflight proceeds
    "content-not-string": frozenset(
        {
            "chunk.delta-content-type",  # chunk.schema leaves delta.content to it
            "consistency.content",  # no string content to join
        }
    ),
    "choice-index-wrong": frozenset(
        {
            "chunk.choice-index",
            # The stream has no choice 0 to compare with the non-stream answer's.
            "consistency.content",
            "consistency.tool-calls",
        }
    ),
    # A stream carries another's code; same-answer leaves the mix to isolation.
    "mixed-streams": frozenset({"concurrency.isolation"}),
    # Every other non-stream rule (completion.*, consistency.*) skips on a non-200
    # and points at completion.status; streams, errors and the auth probe are untouched.
    "nonstream-500": frozenset({"completion.status"}),
    # Run with a key (needs_key): the suite's own requests carry it and pass; only
    # the auth scenario's keyless and wrong-key requests show the missing check.
    "auth-ignored": frozenset({"auth.required"}),
    # -- gateways (run at the server here; at the proxy in EXPECTED_IN_PROXY)
    "block-flush": frozenset({"stream.incremental"}),  # 16 KiB blocks: stream-long in two
    "headers-stripped": frozenset({"headers.cache-control", "headers.x-accel-buffering"}),
    # -- proxies in front of the reference server, compared with it (--exo-upstream)
    # The upstream runs midstream-error; the proxy ends each failed stream with a
    # `stop` finish chunk, so the cut answers read as whole ones to every chunk rule.
    "error-to-finish": frozenset(
        {
            "proxy.errors",
            "chunk.max-tokens",  # `stop` after 3 of 5 tokens asked, where `length` is due
            "chunk.tool-calls",  # `stop` after a tool call
            "chunk.usage-requested",  # the usage chunk never came
            "consistency.content",  # the text stops partway (as midstream-error alone)
            "consistency.finish-reason",  # stop against the non-stream answer's length
            "cancel.marked",  # the cancelled stream, too, ends with a success finish
        }
    ),
    # The proxy reads the upstream to its end after the client left; the upstream's
    # counters (read directly, and through the proxy) show it ran on.
    UPSTREAM_KEPT: frozenset({"proxy.disconnect", "disconnect.cancels"}),
    # -- the seed's proxy: headers, then a reset with no body
    SEED_BUG: frozenset(
        {
            "proxy.events",  # none of the upstream's events arrived; the message names why
            "stream.done",
            "error.stream-event",
            "chunk.schema",  # by design: a stream with no chunk fails chunk.schema
            "client.openai-sdk",
        }
    ),
    # -- the Responses endpoint
    "responses-limit-as-completed": frozenset({"responses.incomplete"}),
    # The error event is yielded, not raised: only the terminal tells a client it failed.
    "responses-failed-as-completed": frozenset({"responses.failed"}),
    # openai-python reads a missing number as None; typed clients (async-openai) reject it.
    "responses-no-sequence": frozenset({"responses.sequence"}),
    "responses-delta-before-item": frozenset(
        {"responses.item-lifecycle", "client.openai-responses"}  # the SDK raises RuntimeError
    ),
    "responses-output-mismatch": frozenset(
        {"responses.output", "client.openai-responses"}  # get_final_response() has other text
    ),
    "responses-bad-arguments": frozenset(
        {"responses.tool-call", "client.openai-responses"}  # the SDK json.loads them
    ),
    "responses-no-terminal": frozenset(
        {"responses.terminal", "client.openai-responses"}  # get_final_response() raises
    ),
    # -- the Messages and Ollama endpoints (faults of api_entries.py): chat is untouched
    "messages-index-reused": frozenset({"messages.blocks"}),
    "messages-interleaved": frozenset({"messages.block-order"}),
    # EXO's own behaviour: the failure ends like an answer with a null stop_reason.
    "messages-error-null-stop": frozenset({"messages.error-event"}),
    "messages-error-untyped": frozenset({"messages.event-type"}),
    "ollama-no-done": frozenset({"ollama.done"}),
    # EXO's own behaviour: the error text arrives as the answer.
    "ollama-error-as-content": frozenset({"ollama.error-line"}),
    "ollama-string-arguments": frozenset(
        {
            "ollama.tool-arguments",
            "client.ollama-sdk",  # pydantic rejects the string: the SDK raises mid-stream
        }
    ),
    # The stream runs on after the cancel was accepted: late, and (so) not marked.
    "cancel-ignored": frozenset({"cancel.ends"}),
    # One deviation per API: each API's error rule sees its own invalid requests.
    "fastapi-422": frozenset({"messages.error-schema", "ollama.error-schema"}),
    "plain-500": frozenset({"messages.error-status", "ollama.error-schema"}),
    # -- valid variants: nothing at all (legitimate behaviour must trip no rule)
    **{name: frozenset() for name in VARIANTS},
}

#: fault -> the rules it trips when the fixed proxy itself carries it, in front of
#: the correct reference server (and compared with it, --exo-upstream).  The
#: ordinary rules judge the proxy's stream as any endpoint's; proxy.* says the
#: proxy did it.
EXPECTED_IN_PROXY: dict[str, frozenset[str]] = {
    "buffered": frozenset(
        {
            "proxy.buffering",
            "stream.incremental",
            # the upstream finished before the client could drop: proxy.disconnect skips,
            # disconnect.cancels (through the proxy) reads it as a generation run on
            "disconnect.cancels",
        }
    ),
    "block-flush": frozenset({"proxy.buffering", "stream.incremental"}),
    "gzip": frozenset(
        {"proxy.buffering", "stream.incremental", "headers.content-encoding", "disconnect.cancels"}
    ),
    "headers-stripped": frozenset(
        {"proxy.headers", "headers.cache-control", "headers.x-accel-buffering"}
    ),
    # proxy.events compares what a client reads, before [DONE]: the missing [DONE] is
    # stream.done's.
    "no-done": frozenset({"stream.done", "client.openai-sdk"}),
}
assert set(EXPECTED_IN_PROXY) == set(IN_PROXY)

#: Every catalog entry: the faults and the valid variants.
ENTRIES = {**FAULTS, **VARIANTS}
VALID_VARIANTS = sorted(VARIANTS)
FAULT_NAMES = sorted(FAULTS)


def _case_for(name: str) -> Case:
    """The case a catalog entry runs as: alone, or in the proxy for proxy-only faults."""
    return Case(name, "proxy" if ENTRIES[name].scope == "proxy" else "server")


CLEAN = [Case(None), Case(None, "proxy")]
CLEAN_WITH_KEY = Case(None, key=True)
#: test function -> the cases it reads (parametrized tests name theirs by parameter)
CASES_BY_TEST: dict[str, list[Case]] = {
    "test_clean_server_and_fixed_proxy_trip_nothing": CLEAN,
    "test_clean_server_with_a_key_trips_nothing_and_judges_auth": [CLEAN_WITH_KEY, Case(None)],
    "test_seed_bug_failure_names_the_cause": [_case_for(SEED_BUG)],
    "test_documents_match_a_fresh_run": all_cases(),
}


def _cases_of(item: pytest.Item) -> list[Case]:
    if not isinstance(item, pytest.Function) or item.module is None:
        return []
    if item.module.__name__ != __name__:
        return []
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "fault" in callspec.params:
        return [_case_for(callspec.params["fault"])]
    if callspec is not None and "in_proxy" in callspec.params:
        return [Case(callspec.params["in_proxy"], "proxy", in_proxy=True)]
    return CASES_BY_TEST.get(item.originalname, [])


@pytest.fixture(scope="session")
def matrix(request: pytest.FixtureRequest) -> Iterator[dict[Case, Row]]:
    """Rows for every case the collected items of this module need, run at once."""
    wanted: dict[Case, None] = {}
    for item in request.session.items:
        for case in _cases_of(item):
            wanted[case] = None
    rows = run_matrix(wanted)
    yield {row.case: row for row in rows}


def _row(matrix: dict[Case, Row], case: Case) -> Row:
    row = matrix[case]
    assert not row.problem, f"{case.name} could not be run: {row.problem}"
    assert not row.errors, f"{case.name}: the harness could not judge {sorted(row.errors)}"
    return row


def _explain(row: Row, expected: frozenset[str]) -> str:
    got = set(row.tripped)
    lines = [f"{row.case.name} tripped {sorted(got)}"]
    for rule in sorted(got - expected):
        msgs = [m for (r, s), m in sorted(row.messages.items()) if r == rule]
        lines.append(f"  unexpected {rule}: {msgs[0] if msgs else ''}")
    for rule in sorted(expected - got):
        lines.append(f"  missing {rule}")
    return "\n".join(lines)


# -- fast checks of the table itself ------------------------------------------------


def test_every_catalog_entry_has_an_expected_row() -> None:
    assert sorted(EXPECTED) == sorted(ENTRIES), (
        "add a row to EXPECTED for every fault and valid variant "
        f"(missing: {sorted(set(ENTRIES) - set(EXPECTED))}, "
        f"unknown: {sorted(set(EXPECTED) - set(ENTRIES))})"
    )


def test_expected_rows_name_real_rules() -> None:
    unknown = {r for rules in EXPECTED.values() for r in rules if r not in REGISTRY}
    assert not unknown


def test_valid_variants_expect_nothing() -> None:
    assert {name: EXPECTED.get(name) for name in VALID_VARIANTS} == {
        name: frozenset() for name in VALID_VARIANTS
    }


#: Faults a default run cannot see, and the mode (and its test) that does.
REVEALED_BY = {
    "done-sometimes": "--exo-repeat (tests/test_repeat.py)",
    "cross-talk": "--exo-load (tests/test_load.py)",
    "cut-under-load": "--exo-load (tests/test_load.py)",
}


def test_every_fault_expects_a_must_or_should_rule() -> None:
    for name in FAULT_NAMES:
        if name in REVEALED_BY:
            assert EXPECTED[name] == frozenset(), f"{name} shows only with {REVEALED_BY[name]}"
            continue
        assert EXPECTED.get(name), f"fault {name!r} is expected to trip nothing"


def test_must_necessity_counts_sole_must_failures() -> None:
    def row(name: str, *findings: tuple[str, str]) -> Row:
        return Row(
            Case(name),
            frozenset(Finding(r, lvl, "failed") for r, lvl in findings),
            frozenset(),
        )

    rows = [
        row("no-done", ("stream.done", "MUST"), ("client.openai-sdk", "SHOULD")),
        row("buffered", ("stream.incremental", "MUST"), ("stream.done", "MUST")),
        row("no-cache-header", ("headers.cache-control", "SHOULD")),
    ]
    found = must_necessity(rows, ["stream.done", "stream.incremental", "sse.utf8"])
    assert found.needed == ("stream.done",)
    assert found.not_needed == ("sse.utf8", "stream.incremental")
    assert found.tripped_by["stream.incremental"] == ("buffered",)
    assert found.untested == ("sse.utf8",)
    assert found.undetected == ("no-cache-header",)
    text = render_necessity(found)
    assert "**1 of 3 MUST rules are needed.**" in text
    shuffled = must_necessity(rows[::-1], ["sse.utf8", "stream.incremental", "stream.done"])
    assert text == render_necessity(shuffled)


def test_verdicts_list_variants_with_their_must_failures_and_faults_with_their_rules() -> None:
    def row(name: str, *findings: tuple[str, str]) -> Row:
        found = frozenset(Finding(r, lvl, "failed") for r, lvl in findings)
        return Row(Case(name), found, frozenset())

    variant, other_variant = sorted(VALID_VARIANTS)[:2]
    fault, other_fault = sorted(FAULT_NAMES)[:2]
    rows = [
        row(variant),
        row(other_variant, ("stream.done", "MUST"), ("headers.cache-control", "SHOULD")),
        row(fault, ("stream.done", "MUST"), ("sse.utf8", "MUST"), ("sse.fields", "SHOULD")),
        row(other_fault, ("headers.cache-control", "SHOULD")),
        row(None),  # the correct endpoint is the matrix's, not a catalog entry
    ]
    text = render_verdicts(rows)
    assert "**1 of 2 valid variants trip no MUST rule.**" in text
    assert "**1 of 2 faults trip a MUST rule.**" in text
    lines = text.splitlines()
    (mine,) = [line for line in lines if line.startswith(f"| `{other_variant}` |")]
    assert mine.endswith("| 1: `stream.done` | `headers.cache-control` |")
    (mine,) = [line for line in lines if line.startswith(f"| `{fault}` |")]
    assert mine.endswith("| `sse.utf8`, `stream.done` | `sse.fields` |")
    assert f"- `{fault}`: `sse.utf8`, `stream.done`" in lines  # a double trip, listed
    assert text == render_verdicts(rows[::-1])


# -- the matrix, on real sockets ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("in_proxy", sorted(EXPECTED_IN_PROXY))
def test_fault_at_the_proxy_trips_exactly_its_rules(matrix: dict[Case, Row], in_proxy: str) -> None:
    row = _row(matrix, Case(in_proxy, "proxy", in_proxy=True))
    assert set(row.tripped) == EXPECTED_IN_PROXY[in_proxy], _explain(
        row, EXPECTED_IN_PROXY[in_proxy]
    )


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(ENTRIES))
def test_fault_trips_exactly_its_rules(matrix: dict[Case, Row], fault: str) -> None:
    assert fault in EXPECTED, f"no expected row for {fault!r}: add it to EXPECTED"
    row = _row(matrix, _case_for(fault))
    assert set(row.tripped) == EXPECTED[fault], _explain(row, EXPECTED[fault])


@pytest.mark.slow
def test_clean_server_and_fixed_proxy_trip_nothing(matrix: dict[Case, Row]) -> None:
    alone, proxied = (_row(matrix, case) for case in CLEAN)
    assert alone.tripped == {}, _explain(alone, frozenset())
    assert proxied.tripped == alone.tripped, _explain(proxied, frozenset())
    # The proxy skips nothing the server alone judges, on the one API it relays
    # (Messages, Ollama and Responses are not served through it: not tested there).
    chat = {s[:2] for s in alone.skipped if CATALOG[s[2]].api == "chat"}
    ordinary = {s[:2] for s in proxied.skipped if not s[0].startswith("proxy.")}
    assert ordinary == chat
    # Compared with its upstream, the fixed proxy passes every proxy.* rule on some
    # scenario (nothing tripped, so judged means passed).
    for rule in (r for r in REGISTRY if r.group == "proxy"):
        judged = [s for s in rule.scenarios if (rule.id, rule.level, s) not in proxied.skipped]
        assert judged, f"{rule.id} skipped on every scenario behind the fixed proxy"


@pytest.mark.slow
def test_clean_server_with_a_key_trips_nothing_and_judges_auth(matrix: dict[Case, Row]) -> None:
    keyed, open_ = _row(matrix, CLEAN_WITH_KEY), _row(matrix, Case(None))
    assert keyed.tripped == {}, _explain(keyed, frozenset())
    # With a key auth.required is judged (and passes); without one it skips.
    assert "auth.required" not in {s[0] for s in keyed.skipped}
    assert "auth.required" in {s[0] for s in open_.skipped}
    assert {s[:2] for s in keyed.skipped} == {s[:2] for s in open_.skipped} - {
        ("auth.required", "SHOULD")
    }


def test_keyed_cases_are_named_and_labelled() -> None:
    assert CLEAN_WITH_KEY.name == "none+key" and CLEAN_WITH_KEY.label == "server, with key"
    needs = _case_for("auth-ignored")
    assert needs.with_key and needs.name == "auth-ignored"
    assert CLEAN_WITH_KEY in all_cases() and not Case(None).with_key


@pytest.mark.slow
def test_seed_bug_failure_names_the_cause(matrix: dict[Case, Row]) -> None:
    row = _row(matrix, _case_for(SEED_BUG))
    assert row.exit_code == 1
    assert "stream.done" in row.must_failures
    layout = _layout(row.output, "stream.done", "stream-basic")
    # What was expected, what arrived (200 headers, then the connection reset
    # before any body byte) and what to do about it.
    expected = _field(layout, "expected")
    actual = _field(layout, "actual")
    hint = _field(layout, "hint")
    assert "[DONE]" in expected, layout
    assert "no events at all" in actual and "after 0 bytes" in actual, layout
    assert "proxy must keep the upstream stream open" in hint, layout
    # Compared with its upstream, the proxy lost every event, and the rule says why.
    paired = _field(_layout(row.output, "proxy.events", "stream-basic"), "actual")
    assert "none of them" in paired and "async with client.stream()" in paired, paired


def _field(layout: str, name: str) -> str:
    """One field of a failure layout, its continuation lines joined."""
    text = layout.split(f"\n{name}:", 1)[1]
    lines = [text.split("\n", 1)[0]]
    for line in text.split("\n")[1:]:
        if not line.startswith(" " * 13):
            break
        lines.append(line)
    return " ".join(" ".join(lines).split())


def _layout(output: str, rule: str, scenario: str) -> str:
    """The failure layout of ``rule[scenario]`` in pytest's terminal output."""
    head = f"{rule}  MUST  [{scenario}]"
    assert head in output, f"no failure layout for {rule}[{scenario}] in:\n{output[-3000:]}"
    text = output.split(head, 1)[1]
    return head + text.split("reproduce:", 1)[0]


@pytest.mark.slow
def test_documents_match_a_fresh_run(matrix: dict[Case, Row]) -> None:
    rows = [_row(matrix, case) for case in all_cases()]
    matrix_doc = ROOT / "docs" / "fault-matrix.md"
    necessity_doc = ROOT / "docs" / "must-necessity.md"
    verdicts_doc = ROOT / "docs" / "verdicts.md"
    regenerate = "regenerate with: python scripts/fault_matrix.py"
    assert matrix_doc.read_text(encoding="utf-8") == render_matrix(rows), regenerate
    assert necessity_doc.read_text(encoding="utf-8") == render_necessity(must_necessity(rows)), (
        regenerate
    )
    assert verdicts_doc.is_file(), regenerate
    assert verdicts_doc.read_text(encoding="utf-8") == render_verdicts(rows), regenerate


def test_necessity_reads_must_rules_from_the_registry() -> None:
    musts = {r.id for r in REGISTRY if r.level == Level.MUST}
    assert set(must_necessity([]).must_rules) == musts
