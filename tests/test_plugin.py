"""The plugin as users meet it, run through pytester against real loopback servers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import ServerFactory

from conformance.schemas import validate

pytestmark = pytest.mark.slow

PLAIN_PROJECT = """
import pytest

def test_one():
    assert 1 + 1 == 2

@pytest.mark.parametrize("x", [1, 2])
def test_param(x):
    assert x

def test_fails():
    assert False
"""


def _outcomes(result: pytest.RunResult) -> dict[str, int]:
    return result.parseoutcomes()


def test_without_url_the_plugin_changes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN_PROJECT)
    with_plugin = pytester.runpytest("-q", "-p", "no:randomly")
    without = pytester.runpytest("-q", "-p", "no:exo_conformance")
    assert _outcomes(with_plugin) == _outcomes(without) == {"passed": 3, "failed": 1}
    assert with_plugin.ret == without.ret == 1
    collected = pytester.runpytest("--collect-only", "-q")
    collected_without = pytester.runpytest("--collect-only", "-q", "-p", "no:exo_conformance")
    assert collected.outlines[:4] == collected_without.outlines[:4]
    assert not any("exo" in line for line in collected.outlines)


def test_embedded_run_from_an_empty_directory_passes(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--exo-url", "embedded", "-v", "--exo-json", "out.json")
    result.stdout.fnmatch_lines(
        ["*stream.done?stream-basic? PASSED*", "*verdict: conforms to every MUST rule*"]
    )
    assert result.ret == 0
    outcomes = _outcomes(result)
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] > 20
    report = json.loads((pytester.path / "out.json").read_text())
    assert validate("report", report) == []
    assert report["summary"]["failed"] == 0
    assert {s["id"] for s in report["scenarios"]} >= {"stream-basic", "nonstream-basic", "models"}


def test_fault_fails_the_matching_rule_with_expected_and_actual(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    result = pytester.runpytest("--exo-url", url, "--exo-rules", "stream.*")
    result.stdout.fnmatch_lines(
        [
            "*stream.done  MUST  ?stream-basic?*",
            "expected:    data: ?DONE? as the last event",
            "actual:      last event:*",
            "*verdict: * MUST failure*",
        ]
    )
    assert result.ret == 1


def test_wrong_content_type_fails_headers_content_type(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "wrong-content-type", "--token-delay", "0.001")
    result = pytester.runpytest("--exo-url", url, "--exo-rules", "headers.content-type")
    result.stdout.fnmatch_lines(["*actual:      Content-Type: application/json*"])
    assert result.ret == 1


def test_rules_glob_selects_items(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--exo-url", "embedded", "--exo-rules", "headers.*", "--collect-only", "-q"
    )
    names = [line for line in result.outlines if "[" in line]
    assert names and all("headers." in n for n in names)


def test_a_url_that_is_not_a_url_is_one_usage_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--exo-url", "not a url")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--exo-url 'not a url' is not an http(s) URL*"])
    assert "Traceback" not in result.stderr.str()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_host_is_one_line_and_exit_3(pytester: pytest.Pytester) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = pytester.runpytest("--exo-url", url)
    assert result.ret == 3
    text = result.stdout.str() + result.stderr.str()
    assert f"exo-conformance: {url}: connection refused" in text
    assert "Traceback" not in text


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_a_host_that_never_answers_is_one_line(
    pytester: pytest.Pytester, silent_server: str
) -> None:
    result = pytester.runpytest("--exo-url", silent_server, "--exo-timeout", "1")
    assert result.ret == 3
    text = result.stdout.str() + result.stderr.str()
    assert "no answer to GET /v1/models within 1 s (preflight deadline)" in text


def test_a_web_page_is_not_an_api(pytester: pytest.Pytester) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>hello</body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = pytester.runpytest("--exo-url", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert result.ret == 3
    assert "is not an OpenAI model list (text/html)" in result.stdout.str() + result.stderr.str()


def test_user_fixtures_in_their_own_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mine="""
import pytest

def test_target(exo_target, exo_headers):
    assert exo_target.url.startswith("http://127.0.0.1:")
    assert exo_target.model
    assert exo_headers["content-type"] == "application/json"

def test_transcript(exo_transcript):
    t = exo_transcript("stream-basic")
    assert t.status == 200
    assert t.events[-1].data == "[DONE]"
    assert exo_transcript("stream-basic") is t

@pytest.mark.asyncio
async def test_client(exo_client, exo_target):
    response = await exo_client.get("/v1/models")
    assert response.status_code == 200
"""
    )
    result = pytester.runpytest(
        "--exo-url", "embedded", "--exo-rules", "headers.status", "-p", "asyncio", "-v"
    )
    result.stdout.fnmatch_lines(
        ["*test_target PASSED*", "*test_transcript PASSED*", "*test_client PASSED*"]
    )
    assert result.ret == 0


def test_fixtures_skip_without_a_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine="def test_t(exo_target):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.stdout.fnmatch_lines(["*no endpoint under test*"])


def test_a_broken_non_stream_body_does_not_stop_model_discovery(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "nonstream-empty-body", "--token-delay", "0.001")
    result = pytester.runpytest("--exo-url", url, "--exo-rules", "completion.schema")
    result.stdout.fnmatch_lines(["*completion.schema  MUST  ?nonstream-basic?*"])
    assert result.ret == 1


def test_embedded_server_requires_the_key_when_one_is_given(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--exo-url",
        "embedded",
        "--exo-api-key",
        "k-embedded-7f3",
        "--exo-rules",
        "auth.required",
        "--exo-rules",
        "stream.done",
        "-v",
    )
    result.stdout.fnmatch_lines(
        ["*auth.required?auth? PASSED*", "*stream.done?stream-basic? PASSED*"]
    )
    assert "k-embedded-7f3" not in result.stdout.str()
    assert result.ret == 0
