"""``python -m conformance.reference`` as a process: its stdout contract and its exits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from test_reference_support import chat_body, data_events, exchange

from conformance.reference import FAULTS, VARIANTS

COMMAND = [sys.executable, "-m", "conformance.reference"]


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _url(first_line: str) -> str:
    assert first_line.startswith("listening on http://127.0.0.1:")
    return first_line.removeprefix("listening on ").strip()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_first_line_is_the_real_url_and_signals_exit_cleanly(stop: signal.Signals) -> None:
    with running("--port", "0", "--token-delay", "0.001") as (proc, first):
        url = _url(first)
        assert not url.endswith(":0")
        # No wait: the socket is listening before the line is printed.
        assert httpx.get(f"{url}/v1/models").status_code == 200
        ex = exchange(url, chat_body(stream=True, max_tokens=2))
        assert data_events(ex.body)[-1] == "[DONE]"
        proc.send_signal(stop)
        assert proc.wait(timeout=10) == 0


def test_signal_during_a_stream_still_exits_cleanly() -> None:
    with running("--token-delay", "0.05") as (proc, first):
        url = _url(first)
        body = chat_body("long", stream=True)
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            next(response.iter_lines())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


def test_options_reach_the_server() -> None:
    args = ("--fault", "no-done", "--api-key", "k", "--nondeterministic", "--host", "127.0.0.1")
    with running(*args) as (proc, first):
        url = _url(first)
        assert exchange(url, chat_body(stream=True)).status == 401
        headers = {"Authorization": "Bearer k"}
        ex = exchange(url, chat_body(stream=True, max_tokens=3), headers=headers)
        assert "[DONE]" not in data_events(ex.body)
        texts = {exchange(url, chat_body(), headers=headers).body for _ in range(2)}
        assert len(texts) == 2
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_proxy_mode_from_the_command_line() -> None:
    with (
        running("--token-delay", "0.001") as (_, upstream_line),
        running("--proxy-to", _url(upstream_line)) as (proxy, proxy_line),
    ):
        url = _url(proxy_line)
        ex = exchange(url, chat_body(stream=True, max_tokens=3))
        assert data_events(ex.body)[-1] == "[DONE]"
        proxy.terminate()
        assert proxy.wait(timeout=10) == 0


def _fails(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=30)


def test_unknown_fault_is_one_clear_line_and_exit_2() -> None:
    result = _fails("--fault", "no-such-fault")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "no-such-fault" in line
    assert all(name in line for name in FAULTS)


def test_proxy_only_fault_needs_a_proxy() -> None:
    result = _fails("--fault", "seed-bug")
    assert result.returncode == 2
    assert "--proxy-to" in result.stderr


def test_list_faults_prints_the_catalog() -> None:
    result = _fails("--list-faults")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(FAULTS)
    for line, fault in zip(lines, FAULTS.values(), strict=True):
        assert line.split()[:2] == [fault.name, fault.kind]


def test_list_variants_prints_the_variants() -> None:
    result = _fails("--list-variants")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        [variant.name, "valid-variant"] for variant in VARIANTS.values()
    ]
    both = _fails("--list-faults", "--list-variants").stdout.splitlines()
    assert len(both) == len(FAULTS) + len(VARIANTS)


def test_unknown_variant_is_one_clear_line_and_exit_2() -> None:
    result = _fails("--variant", "no-such-variant")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no-such-variant" in line
    assert all(name in line for name in VARIANTS)


def test_server_only_variant_refuses_a_proxy() -> None:
    result = _fails("--variant", "queued", "--proxy-to", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "server only" in result.stderr


@pytest.mark.parametrize("option", ["--variant", "--fault"])
def test_a_variant_from_the_command_line(option: str) -> None:
    # --fault NAME still takes a variant's name, as before the variants catalog.
    with running(option, "no-space-after-colon", "--token-delay", "0.001") as (proc, first):
        ex = exchange(_url(first), chat_body(stream=True, max_tokens=2))
        assert ex.body.endswith(b"data:[DONE]\n\n")
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_busy_port_is_an_error() -> None:
    with running() as (proc, first):
        port = _url(first).rsplit(":", 1)[1]
        result = _fails("--port", port)
        assert result.returncode == 1
        assert "cannot listen" in result.stderr
        proc.terminate()


def test_models_listing_is_json() -> None:
    with running() as (proc, first):
        listing = json.loads(exchange(_url(first), path="/v1/models").body)
        assert listing["object"] == "list"
        proc.terminate()
