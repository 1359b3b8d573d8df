"""The Messages and Ollama rules through the plugin: ``--exo-api messages,ollama`` against
the embedded reference server, and what the JSON report says about them."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_messages_and_ollama_run_alone_and_pass(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--exo-url", "embedded", "--exo-api", "messages,ollama", "--exo-json", "out.json"
    )
    assert result.ret == 0, result.stdout.str()[-2000:]
    report = json.loads((pytester.path / "out.json").read_text("utf-8"))
    assert report["targets"][0]["apis"] == ["messages", "ollama"]
    results = report["results"]
    assert {r["api"] for r in results} == {"messages", "ollama"}
    assert not [r for r in results if r["outcome"] not in ("passed", "skipped")]
    rules = {r["rule"] for r in results}
    assert {"messages.blocks", "ollama.lines", "cancel.ends", "client.anthropic-sdk"} <= rules
    scenarios = {s["id"]: s["api"] for s in report["scenarios"]}
    assert scenarios["messages-tools"] == "messages" and scenarios["ollama-stream"] == "ollama"
    assert "cancel-chat" not in scenarios  # chat was not asked


def test_a_fault_fails_its_rule_with_the_bytes(pytester: pytest.Pytester) -> None:
    from conformance.embedded import EmbeddedServer

    with EmbeddedServer(["--token-delay", "0.002", "--fault", "ollama-string-arguments"]) as srv:
        result = pytester.runpytest(
            "--exo-url", srv.url, "--exo-api", "ollama", "--exo-rules", "ollama.tool-arguments"
        )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*ollama.tool-arguments*MUST*", "*arguments as a JSON object*", "*bytes 0-*"]
    )
