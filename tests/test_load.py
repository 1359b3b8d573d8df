"""--exo-load: N streams at once for a while, every stream judged, latency reported.

Plugin runs go through pytester against the reference server on loopback; the
load rules' judgments are also checked on hand-made facts, one per way a
stream can end.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import ServerFactory

from conformance.capture.transcript import Ending, Request, Transcript
from conformance.loadview import LoadRecord, LoadView, StreamFacts, percentiles
from conformance.report.latency import latency_html
from conformance.rules.load import complete, error_body, isolation, latency
from conformance.schemas import validate

#: More than the 8 streams in flight past which the load faults start.
STREAMS = "12"
DURATION = "3"


def _run(pytester: pytest.Pytester, url: str, *extra: str) -> tuple[pytest.RunResult, Any]:
    result = pytester.runpytest(
        "--exo-url", url, "--exo-rules", "load.*", "--exo-load", STREAMS,
        "--exo-load-duration", DURATION, "--exo-json", "out.json", "-p", "no:randomly", *extra,
    )  # fmt: skip
    report = json.loads((pytester.path / "out.json").read_text())
    return result, report


def _outcomes(report: Any) -> dict[str, str]:
    return {r["rule"]: r["outcome"] for r in report["results"]}


@pytest.mark.slow
def test_the_reference_passes_under_load_with_latency_in_every_report(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    result, report = _run(pytester, reference_server(), "--html", "out.html")
    assert result.ret == 0, result.stdout.str()
    assert validate("report", report) == []
    assert _outcomes(report) == {
        "load.complete": "passed",
        "load.isolation": "passed",
        "load.error-body": "skipped",
        "load.latency": "passed",
    }
    (figures,) = report["latency"].values()
    assert figures["streams"] == int(STREAMS) and figures["completed"] == figures["requests"] > 0
    for key in ("ttft_ms", "itl_ms", "e2e_ms"):
        assert all(isinstance(figures[key][p], float) for p in ("p50", "p95", "p99"))
    assert figures["alone"]["ttft_ms"] > 0 and figures["tokens_per_s"] > 0
    assert report["cost"]["requests"] >= figures["requests"] + 1
    result.stdout.fnmatch_lines(
        ["*exo-conformance load:*streams open*", "*time to first content*", "cost: * requests*"]
    )
    page = (pytester.path / "out.html").read_text()
    assert "latency over time" in page and "<svg" in page


@pytest.mark.slow
def test_cross_talk_fails_load_isolation_alone(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    result, report = _run(pytester, reference_server("--fault", "cross-talk"))
    assert result.ret == 1
    outcomes = _outcomes(report)
    assert outcomes["load.isolation"] == "failed" and outcomes["load.complete"] == "passed"
    failure = next(r for r in report["results"] if r["rule"] == "load.isolation")
    assert re.search(r"carries '[A-Z0-9]{4}-[A-Z0-9]{4}', the code of stream", failure["actual"])


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["cut-under-load", "cut-on-new-request"])
def test_cut_streams_fail_load_complete_alone(
    pytester: pytest.Pytester, reference_server: ServerFactory, fault: str
) -> None:
    result, report = _run(pytester, reference_server("--fault", fault))
    assert result.ret == 1
    outcomes = _outcomes(report)
    assert outcomes["load.complete"] == "failed" and outcomes["load.isolation"] == "passed"
    result.stdout.fnmatch_lines(["*load.complete*failed on * of * streams*"])


@pytest.mark.slow
def test_without_load_there_are_no_load_items(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    result = pytester.runpytest(
        "--exo-url", reference_server(), "--exo-rules", "load.*", "--collect-only", "-q"
    )
    assert "load." not in result.stdout.str()


# -- the rules on hand-made facts ------------------------------------------------------------


def _facts(number: int, **kw: Any) -> StreamFacts:
    nonce = f"exo-{number:08x}"
    base: dict[str, Any] = {
        "number": number, "started_s": 0.1 * number, "nonce": nonce, "status": 200,
        "ending": Ending.COMPLETE, "done": True, "finished": True, "nonces": (nonce,),
        "ttfc_ms": 10.0, "e2e_ms": 100.0, "tokens": 8,
    }  # fmt: skip
    return StreamFacts(**(base | kw))


def _view(*facts: StreamFacts, alone: StreamFacts | None = None) -> LoadView:
    record = LoadRecord(streams=4, duration_s=1.0, alone=alone or _facts(99))
    for f in facts:
        record.add(f, [1.0, 2.0])
    record.elapsed_s = 1.0
    lone = Transcript("load", "http://t", Request("POST", "http://t/v1/chat/completions"))
    return LoadView(lone, record)


def test_complete_streams_and_proper_refusals_pass_load_complete() -> None:
    refused = _facts(2, status=429, done=False, finished=False, nonces=(), error_body=True)
    errored = _facts(3, done=False, finished=False, error_event='{"error": {"message": "x"}}')
    assert complete(_view(_facts(1), refused, errored)).outcome == "passed"
    assert error_body(_view(_facts(1), refused)).outcome == "passed"


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"done": False}, "no [DONE]"),
        ({"finished": False}, "without any finish_reason"),
        ({"status": 500}, "HTTP 500"),
        ({"status": None, "ending": Ending.DEADLINE}, "no response"),
        ({"ending": Ending.SIZE_CAP}, "size-cap"),
    ],
)
def test_cut_or_wrongly_refused_streams_fail_load_complete(kw: dict[str, Any], says: str) -> None:
    verdict = complete(_view(_facts(1), _facts(2, **kw)))
    assert verdict.outcome == "failed" and says in verdict.actual
    assert "1 of 2 streams" in verdict.actual


def test_load_complete_skips_when_the_lone_stream_fails_too() -> None:
    verdict = complete(_view(_facts(1, done=False), alone=_facts(99, done=False)))
    assert verdict.outcome == "skipped" and "stream.done" in verdict.message


def test_a_refusal_without_an_error_body_fails_load_error_body() -> None:
    bare = _facts(2, status=503, done=False, nonces=())
    assert error_body(_view(_facts(1), bare)).outcome == "failed"
    assert error_body(_view(_facts(1))).outcome == "skipped"


def test_another_streams_code_fails_load_isolation() -> None:
    one, two = _facts(1), _facts(2)
    mixed = _facts(3, nonces=(two.nonce,))
    verdict = isolation(_view(one, two, mixed))
    assert verdict.outcome == "failed"
    assert f"carries {two.nonce!r}, the code of stream 2" in verdict.actual


def test_a_code_nobody_was_sent_is_no_evidence_of_mixing() -> None:
    assert isolation(_view(_facts(1, nonces=("exo-deadbeef",)))).outcome == "passed"


def test_isolation_skips_when_the_endpoint_does_not_repeat_codes() -> None:
    verdict = isolation(_view(_facts(1, nonces=()), alone=_facts(99, nonces=())))
    assert verdict.outcome == "skipped" and "did not repeat" in verdict.message


def test_latency_gives_the_percentiles_and_skips_without_completed_streams() -> None:
    assert "TTFT p50 10.0" in latency(_view(_facts(1), _facts(2))).message
    assert latency(_view(_facts(1, status=503, done=False))).outcome == "skipped"


def test_percentiles_interpolate_and_say_none_without_values() -> None:
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert percentiles([float(i) for i in range(101)]) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}


def test_gap_samples_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("conformance.loadview.MAX_GAP_SAMPLES", 10)
    record = LoadRecord(streams=1, duration_s=1.0)
    for i in range(50):
        record.add(_facts(i), [float(i)] * 3)
    assert len(record.gaps) == 10 and record.sent == 50


def test_the_plot_escapes_a_hostile_target_name() -> None:
    record = _view(_facts(1), _facts(2)).record
    page = latency_html({"<script>alert(1)</script>": record.latency()})
    assert "<script>" not in page and "&lt;script&gt;" in page and page.count("<svg") == 2


@pytest.mark.slow
def test_a_stalled_stream_under_load_ends_at_the_exchange_deadline(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    # Each stream stops after a few tokens and is kept open with keep-alives
    # (for 60 s by the server): the exchange deadline ends every one of them.
    url = reference_server("--fault", "dead-runner-keepalive", "--token-delay", "0.01")
    result = pytester.runpytest(
        "--exo-url", url, "--exo-rules", "load.complete", "--exo-load", "4",
        "--exo-load-duration", "1", "--exo-timeout", "3", "--exo-json", "out.json",
        "-p", "no:randomly",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    report = json.loads((pytester.path / "out.json").read_text())
    (only,) = report["results"]
    # The lone stream stalls too: the stream rules own that, and the load rule says so.
    assert only["outcome"] == "skipped"
    assert "lone stream" in only["message"] and "deadline" in only["message"]
    (figures,) = report["latency"].values()
    assert figures["requests"] >= 4 and figures["completed"] == 0
