"""``--exo-api``: which APIs a run tests, the probe that finds them, and what reports say.

Run through pytester against real loopback servers: the reference server, and
small wire servers that serve (or do not serve, or stall on) a path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from wire import Conn, ThreadedServer, hang_before_headers_handler

from conformance.apis import API_NAMES, APIS, choose
from conformance.schemas import validate

pytestmark = pytest.mark.slow

MODELS = json.dumps(
    {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "t"}]}
).encode()
ANSWER = json.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi"},
                "finish_reason": "length",
            }
        ],
    }
).encode()
BAD_REQUEST = json.dumps(
    {"error": {"message": "input is required", "type": "invalid_request_error"}}
).encode()


def _server(responses: str) -> ThreadedServer:
    """Models and a one-token chat answer (so preflight passes); ``/v1/responses``
    answers 400 (``served``), 404 (``missing``) or never (``stall``)."""
    stall = hang_before_headers_handler()

    async def handle(conn: Conn) -> None:
        path = conn.request.target.split("?", 1)[0]
        if path == "/v1/responses" and responses == "stall":
            await stall(conn)
            return
        status, body = 404, b'{"detail": "Not Found"}'
        if path == "/v1/models":
            status, body = 200, MODELS
        elif path == "/v1/chat/completions":
            status, body = 200, ANSWER
        elif path == "/v1/responses" and responses == "served":
            status, body = 400, BAD_REQUEST
        head = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        await conn.send_head(status, head)
        await conn.send(body)

    return ThreadedServer(handle)


@pytest.fixture
def served() -> Iterator[ThreadedServer]:
    with _server("served") as server:
        yield server


def _report(pytester: pytest.Pytester) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((pytester.path / "out.json").read_text())
    assert validate("report", report) == []
    return report


def _probes(server: ThreadedServer) -> list[str]:
    return [r.target for r in server.requests if r.target == "/v1/responses"]


def test_choose_reads_every_value() -> None:
    assert choose([]).explicit == ("chat",)
    assert choose(["auto"]).probed == API_NAMES[1:]
    assert choose(["all"]).explicit == API_NAMES and choose(["all"]).probed == ()
    both = choose(["auto", "responses"])
    assert both.explicit == ("chat", "responses") and "responses" not in both.probed
    assert choose(["responses"]).explicit == ("responses",)
    with pytest.raises(ValueError, match="'chats' is not an API"):
        choose(["chats"])


def test_auto_tests_an_api_the_probe_finds(
    pytester: pytest.Pytester, served: ThreadedServer
) -> None:
    result = pytester.runpytest(
        "--exo-url", served.url, "--exo-rules", "models.schema", "--exo-json", "out.json"
    )
    result.stdout.fnmatch_lines(["exo-conformance: * model m, APIs chat, responses"])
    target = _report(pytester)["targets"][0]
    assert target["apis"] == ["chat", "responses"]
    # The server serves neither Messages nor Ollama: their probes say so.
    assert [s["api"] for s in target["skipped_apis"]] == ["messages", "ollama"]
    assert len(_probes(served)) == 1


def test_auto_skips_an_api_not_served_with_the_probe_answer(pytester: pytest.Pytester) -> None:
    with _server("missing") as server:
        result = pytester.runpytest(
            "--exo-url", server.url, "--exo-rules", "models.schema", "--exo-json", "out.json"
        )
    result.stdout.fnmatch_lines(
        [
            "exo-conformance: * model m, APIs chat",
            "exo-conformance: * responses not served: POST /v1/responses answered HTTP 404",
        ]
    )
    assert result.ret == 0
    target = _report(pytester)["targets"][0]
    assert target["apis"] == ["chat"]
    assert {"api": "responses", "reason": "not served: POST /v1/responses answered HTTP 404"} in (
        target["skipped_apis"]
    )


def test_a_probe_that_stalls_is_cut_by_its_deadline(pytester: pytest.Pytester) -> None:
    # --exo-timeout caps the probe's own deadline, so the test waits 1 s, not 5.
    with _server("stall") as server:
        result = pytester.runpytest(
            "--exo-url", server.url, "--exo-rules", "models.schema", "--exo-timeout", "1"
        )
    result.stdout.fnmatch_lines(
        ["exo-conformance: * responses not served: POST /v1/responses: no answer within *"]
    )
    assert result.ret == 0


def test_an_api_named_is_tested_without_a_probe(
    pytester: pytest.Pytester, served: ThreadedServer
) -> None:
    result = pytester.runpytest(
        "--exo-url", served.url, "--exo-api", "chat", "--exo-rules", "models.schema"
    )
    result.stdout.fnmatch_lines(["exo-conformance: * model m, APIs chat"])
    assert "not served" not in result.stdout.str()
    assert _probes(served) == []


def test_chat_rules_are_not_collected_when_chat_is_not_asked(
    pytester: pytest.Pytester, served: ThreadedServer
) -> None:
    result = pytester.runpytest(
        "--exo-url", served.url, "--exo-api", "responses", "--exo-rules", "models.schema"
    )
    result.stdout.fnmatch_lines(["exo-conformance: * model m, APIs responses"])
    assert "models.schema[" not in result.stdout.str()


def test_environment_and_ini_name_the_apis(
    pytester: pytest.Pytester, served: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXO_API", "chat responses")
    result = pytester.runpytest("--exo-url", served.url, "--exo-rules", "models.schema")
    result.stdout.fnmatch_lines(["exo-conformance: * APIs chat, responses"])
    assert _probes(served) == []  # named, so not probed
    monkeypatch.delenv("EXO_API")
    pytester.makeini("[pytest]\nexo_api =\n    chat\n")
    result = pytester.runpytest("--exo-url", served.url, "--exo-rules", "models.schema")
    result.stdout.fnmatch_lines(["exo-conformance: * model m, APIs chat"])


def test_all_says_which_apis_are_not_tested_yet(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--exo-url", "embedded", "--exo-api", "all", "--exo-rules", "models.schema"
    )
    missing = [n for n in API_NAMES if n not in APIS]
    result.stdout.fnmatch_lines(
        [f"exo-conformance: * {name} not tested yet: *" for name in missing]
        # Every API has rules now: the header lists them all as tested.
        or [f"exo-conformance: * APIs {', '.join(API_NAMES)}*"]
    )
    assert result.ret == 0


def test_an_unknown_api_is_one_usage_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--exo-url", "embedded", "--exo-api", "chat,anthropic")
    result.stderr.fnmatch_lines(["ERROR: --exo-api 'anthropic' is not an API (choose from *"])
    assert "Traceback" not in result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_rule_must_declare_the_api_of_its_scenarios(
    pytester: pytest.Pytester, served: ThreadedServer
) -> None:
    pytester.makeconftest(
        """
from conformance import passed, rule, Level

@rule("mine.wrong-api", level=Level.SHOULD, requirement="r",
      scenarios=["models"], api="responses")
def wrong(view):
    return passed()
"""
    )
    # In a subprocess: the rule registers itself, and must not stay registered here.
    result = pytester.runpytest_subprocess("--exo-url", served.url, "--exo-api", "chat")
    result.stderr.fnmatch_lines(
        ["ERROR: rule mine.wrong-api is for the responses API but names scenario 'models'*"]
    )


def test_the_report_carries_the_api_of_every_scenario_and_result(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest(
        "--exo-url", "embedded", "--exo-api", "responses", "--exo-api", "chat",
        "--exo-rules", "responses.status", "--exo-rules", "headers.status",
        "--exo-json", "out.json", "-v",
    )  # fmt: skip
    result.stdout.fnmatch_lines_random(
        [
            "exo-conformance: * APIs chat, responses",
            "*responses.status?responses-stream? PASSED*",
            "*headers.status?stream-basic? PASSED*",
        ]
    )
    report = _report(pytester)
    assert report["targets"][0]["apis"] == ["chat", "responses"]
    apis = {s["id"]: s["api"] for s in report["scenarios"]}
    assert apis["responses-stream"] == "responses" and apis["stream-basic"] == "chat"
    by_rule = {r["rule"]: r["api"] for r in report["results"]}
    assert by_rule == {"responses.status": "responses", "headers.status": "chat"}
    assert result.ret == 0
