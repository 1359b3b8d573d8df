"""What a run costs the endpoint: counted by the recorder, shared requests sent once."""

from __future__ import annotations

import json

import pytest
from conftest import ServerFactory

from conformance.capture.build import from_bytes
from conformance.capture.cost import Cost, Meter, generated_tokens, requested_tokens

#: The chat suite's budget (``--exo-api chat``), as the README states it; each
#: other API an endpoint serves adds its own scenarios (README, "What a run costs").
MAX_REQUESTS = 30
MAX_REQUESTED_TOKENS = 1500


def test_requested_tokens_reads_every_api_s_bound() -> None:
    assert requested_tokens({"max_tokens": 5}) == 5
    assert requested_tokens({"max_completion_tokens": 7, "max_tokens": 5}) == 7
    assert requested_tokens({"max_output_tokens": 9}) == 9
    assert requested_tokens({"options": {"num_predict": 3}}) == 3
    assert requested_tokens({"max_tokens": True}) is None
    assert requested_tokens({"messages": []}) is None and requested_tokens(None) is None


def test_the_meter_counts_requests_bounds_and_usage() -> None:
    usage = {"choices": [], "usage": {"completion_tokens": 4}}
    stream = from_bytes(
        b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'
        b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
    )
    assert generated_tokens(stream) == 4
    meter = Meter()
    before = meter.reading()
    meter.saw("/v1/chat/completions", {"max_tokens": 8}, stream)
    meter.saw("/v1/chat/completions", {"messages": []}, stream)
    meter.saw("/v1/models", None, stream)
    assert meter.reading() - before == Cost(3, 8, 1, 8)


@pytest.mark.slow
def test_a_default_run_stays_within_its_budget(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    result = pytester.runpytest(
        "--exo-url",
        reference_server(),
        "--exo-api",
        "chat",
        "--exo-json",
        "out.json",
        "-p",
        "no:randomly",
    )
    assert result.ret == 0, result.stdout.str()
    cost = json.loads((pytester.path / "out.json").read_text())["cost"]
    assert cost["requests"] <= MAX_REQUESTS, cost
    assert cost["requested_tokens"] <= MAX_REQUESTED_TOKENS, cost
    assert cost["unbounded_requests"] == 0, cost
    result.stdout.fnmatch_lines(["cost: * requests, * completion tokens asked for*"])
