"""The Ollama rules on NDJSON bodies built from bytes: framing judged byte-exactly,
and the objects as ollama-python reads them."""

from __future__ import annotations

import json

import pytest
from messages_builders import NDJSON, good_lines, line, ndjson, ollama_stream

from conformance.capture import Transcript
from conformance.capture.build import from_bytes
from conformance.rules import REGISTRY, Verdict
from conformance.scenarios.ollama import request_for
from conformance.view_ollama import OllamaView


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def tripped(t: Transcript) -> set[str]:
    rules = [r for r in REGISTRY if "ollama" in r.apis and t.scenario in r.scenarios]
    return {r.id for r in rules if r.judge(t).outcome == "failed"}


def answer(value: object, scenario: str = "ollama-nonstream", status: int = 200) -> Transcript:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    request = request_for(scenario, "m") if scenario != "ollama-invalid-body" else None
    return from_bytes(
        raw, scenario=scenario, status=status, headers={"content-type": "application/json"},
        request_json=request,
    )  # fmt: skip


def test_a_correct_stream_passes_every_rule() -> None:
    t = ollama_stream(ndjson(good_lines()))
    assert tripped(t) == set()
    assert OllamaView(t).content() == " Hi there"


def test_multibyte_text_split_anywhere_is_read_the_same() -> None:
    raw = ndjson([line(" 日本語"), line(" 🦀"), line("", True, done_reason="stop")])
    view = OllamaView(ollama_stream(raw))
    assert view.content() == " 日本語 🦀"
    assert tripped(ollama_stream(raw)) == set()


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        pytest.param(b'{"a": 1}\n\n', "blank line", id="blank"),
        pytest.param(b'{"a": 1}\n{"b": 2}', "ends without", id="unterminated"),
        pytest.param(b'{"a": 1}\n[1, 2]\n', "line 4", id="not-an-object"),
        pytest.param(b'{"a": "\xff"}\n', "UTF-8", id="bad-utf8"),
        pytest.param('{"a": "x\u2028y"}\n'.encode(), "iter_lines", id="u2028"),
        pytest.param(b'{"a": 1}\r\r\n', "iter_lines", id="cr-before-crlf"),
        pytest.param(b'{"a": 1}\n\r\n', "blank line", id="blank-crlf"),
    ],
)
def test_broken_framing_fails_lines_and_the_others_skip(raw: bytes, needle: str) -> None:
    t = ollama_stream(ndjson(good_lines()[:2]) + raw)
    verdict = judge("ollama.lines", t)
    assert verdict.outcome == "failed" and needle in verdict.actual
    assert tripped(t) == {"ollama.lines"}


def test_crlf_line_ends_pass_as_httpx_reads_them() -> None:
    # httpx's iter_lines (so ollama-python) takes "\r\n" as one line break.
    t = ollama_stream(ndjson(good_lines()).replace(b"\n", b"\r\n"))
    assert tripped(t) == set()
    assert OllamaView(t).content() == " Hi there"


def test_a_missing_done_line_fails_done_alone() -> None:
    t = ollama_stream(ndjson(good_lines()[:2]))
    assert tripped(t) == {"ollama.done"}


def test_two_done_lines_fail_done() -> None:
    t = ollama_stream(ndjson([*good_lines(), line("", True, done_reason="stop")]))
    assert tripped(t) == {"ollama.done"}


def test_an_error_line_passes_and_stops_the_reading() -> None:
    t = ollama_stream(ndjson([*good_lines()[:2], {"error": "the runner stopped"}]))
    assert tripped(t) == set()
    assert judge("ollama.error-line", t).outcome == "passed"
    assert len(OllamaView(t).read) == 2


def test_an_error_sent_as_content_fails_error_line_alone() -> None:
    failure = line("The runner stopped.", True, done_reason="error")
    t = ollama_stream(ndjson([*good_lines()[:2], failure]))
    assert tripped(t) == {"ollama.error-line"}
    assert judge("ollama.done-reason", t).outcome == "skipped"


def test_an_unknown_done_reason_fails_done_reason() -> None:
    t = ollama_stream(ndjson([*good_lines()[:2], line("", True, done_reason="tool_call")]))
    assert tripped(t) == {"ollama.done-reason"}


def test_num_predict_cut_needs_length() -> None:
    lines = [line(" w") for _ in range(8)]
    stopped = ollama_stream(
        ndjson([*lines, line("", True, done_reason="stop")]), "ollama-num-predict"
    )
    assert tripped(stopped) == {"ollama.done-reason"}
    cut = ollama_stream(
        ndjson([*lines, line("", True, done_reason="length")]), "ollama-num-predict"
    )
    assert tripped(cut) == set()


def _call(arguments: object) -> dict[str, object]:
    call = {"function": {"name": "get_weather", "arguments": arguments}}
    return line("", False, message={"role": "assistant", "content": "", "tool_calls": [call]})


def test_tool_arguments_must_be_objects() -> None:
    done = line("", True, done_reason="stop")
    good = ollama_stream(ndjson([_call({"city": "Paris"}), done]), "ollama-tools")
    assert tripped(good) == set()
    bad = ollama_stream(ndjson([_call('{"city": "Paris"}'), done]), "ollama-tools")
    assert tripped(bad) == {"ollama.tool-arguments"}


def test_a_non_stream_answer_is_judged_as_one_object() -> None:
    body = line("Hi", True, done_reason="stop")
    assert tripped(answer(body)) == set()
    assert tripped(answer({**body, "done": "yes"})) == {"ollama.schema"}
    wrong = from_bytes(
        json.dumps(body).encode(), scenario="ollama-nonstream", headers=NDJSON,
        request_json=request_for("ollama-nonstream", "m"),
    )  # fmt: skip
    assert tripped(wrong) == {"ollama.content-type"}


@pytest.mark.parametrize("scenario", ["ollama-invalid-body", "ollama-unknown-model"])
def test_invalid_requests_need_a_4xx_with_an_error_string(scenario: str) -> None:
    assert tripped(answer({"error": "model not found"}, scenario, 404)) == set()
    assert tripped(answer({"detail": [{"msg": "x"}]}, scenario, 422)) == {"ollama.error-schema"}
    assert tripped(answer(b"Internal Server Error", scenario, 500)) == {"ollama.error-schema"}


def test_a_line_nested_past_the_stack_is_judged_not_crashed_on() -> None:
    deep = b"[" * 100_000 + b"\n"
    t = ollama_stream(ndjson(good_lines()[:1]) + deep)
    verdict = judge("ollama.lines", t)
    assert verdict.outcome == "failed" and "line 2" in verdict.actual


def test_a_flood_of_lines_is_parsed_up_to_the_cap_and_not_judged_past_it() -> None:
    from conformance.view_ollama import MAX_LINES

    t = ollama_stream(b"{}\n" * (MAX_LINES + 5))
    view = OllamaView(t)
    assert len(view.lines) == MAX_LINES and view.capped_at == 3 * MAX_LINES
    for rule in ("ollama.lines", "ollama.done", "ollama.schema"):
        verdict = judge(rule, t)
        assert verdict.outcome == "skipped" and str(MAX_LINES) in verdict.message
