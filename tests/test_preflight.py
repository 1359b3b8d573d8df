"""Preflight's own short deadlines, through the command line as users meet them.

A target that accepts connections and stalls, sends headers and then nothing,
drips its model list, or redirects every path is reported in one line with
exit status 3 within preflight's deadline (targets.LIST_DEADLINE_S), not after
the exchange deadline (--exo-timeout, 120 s by default, left at its default
here).  Each model probe has its own deadline too (targets.PROBE_DEADLINE_S).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from wire import (
    Conn,
    Handler,
    ThreadedServer,
    drip_handler,
    headers_then_nothing_handler,
    redirect_handler,
    respond_handler,
)

from conformance import targets
from conformance.capture import make_client
from conformance.scenarios import Target
from conformance.targets import LIST_DEADLINE_S, TargetError, preflight

pytestmark = pytest.mark.slow

MODELS = json.dumps(
    {"object": "list", "data": [{"id": m, "object": "model"} for m in ("a", "b", "c")]}
).encode()
#: Interpreter, pytest and the plugin starting, several runs at once on two
#: busy cores; still far below the 120 s exchange deadline these runs keep.
STARTUP_SLACK_S = 30.0


@contextmanager
def accepts_and_stalls() -> Iterator[str]:
    """A socket that listens and never accepts: the kernel completes each
    connection, takes the request, and nothing ever answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serving(server: ThreadedServer) -> Iterator[str]:
    with server:
        yield server.url


def cli(url: str, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXO_", "PYTEST_"))}
    # The default --exo-timeout (120 s) on purpose: preflight must not use it.
    return subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", url, *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


#: case -> (server, extra arguments, what the one line says)
CASES = {
    "hang-after-accept": (
        accepts_and_stalls,
        (),
        f"no answer to GET /v1/models within {LIST_DEADLINE_S:g} s (preflight deadline)",
    ),
    "hang-after-accept, model named": (
        accepts_and_stalls,
        ("--exo-model", "a"),
        f"no answer to GET /v1/models within {LIST_DEADLINE_S:g} s (preflight deadline)",
    ),
    "headers-then-silence": (
        lambda: serving(ThreadedServer(headers_then_nothing_handler())),
        (),
        "GET /v1/models answered HTTP 200 but its body did not arrive whole: "
        f"no body byte within {LIST_DEADLINE_S:g} s (preflight deadline)",
    ),
    "drip": (
        lambda: serving(ThreadedServer(drip_handler(MODELS, 2.0))),
        (),
        f"body bytes within {LIST_DEADLINE_S:g} s (preflight deadline)",
    ),
    "307-on-every-path": (
        lambda: serving(ThreadedServer(redirect_handler("http://127.0.0.1:9/v1/models"))),
        ("--exo-model", "a"),
        "GET /v1/models answered HTTP 307 (redirect to http://127.0.0.1:9/v1/models)",
    ),
}


def test_a_stalling_or_redirecting_target_is_one_line_and_exit_3_within_the_preflight_deadline(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack:
        runs = {}
        for case, (make, extra, _) in CASES.items():
            url = stack.enter_context(make())
            workdir = tmp_path / case.replace(" ", "").replace(",", "-")
            workdir.mkdir()
            runs[case] = (url, time.monotonic(), cli(url, workdir, *extra))
        done = {}
        for case, (url, started, process) in runs.items():
            try:
                output, _ = process.communicate(timeout=LIST_DEADLINE_S + STARTUP_SLACK_S + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            done[case] = (url, time.monotonic() - started, process.returncode, output)
    for case, (url, wall, code, output) in done.items():
        want = CASES[case][2]
        assert code == 3, f"{case}: exit {code}\n{output[-3000:]}"
        assert wall < LIST_DEADLINE_S + STARTUP_SLACK_S, f"{case}: {wall:.1f} s"
        # One line, its reason: pytest's exit prints it twice ("Exit: ..." on
        # stderr and "! _pytest.outcomes.Exit: ... !"), the same words each time.
        said = {
            line.split(f"exo-conformance: {url}: ", 1)[1].rstrip(" !")
            for line in output.splitlines()
            if f"exo-conformance: {url}: " in line
        }
        assert len(said) == 1, f"{case}: {output[-3000:]}"
        assert want in said.pop(), f"{case}: {output[-3000:]}"
        assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]


async def _hang(conn: Conn) -> None:
    if conn.request.method == "GET":
        await respond_handler(200, [("Content-Type", "application/json")], MODELS)(conn)
        return
    await conn.hang()  # every model probe stalls


@pytest.mark.asyncio
async def test_each_model_probe_has_its_own_short_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(targets, "PROBE_DEADLINE_S", 0.5)
    with ThreadedServer(_hang) as server:
        started = time.monotonic()
        async with make_client() as client:
            with pytest.raises(TargetError) as raised:
                await preflight(client, Target(server.url, ""), timeout=120, model=None)
        wall = time.monotonic() - started
        probes = [r for r in server.requests if r.method == "POST"]
    # Three probes of 0.5 s each, not 120 s each (the exchange deadline).
    assert len(probes) == 3
    assert wall < 3 * 0.5 + 10
    assert "none of the first 3 listed models answered" in str(raised.value)
    assert "within 0.5 s each" in str(raised.value)


@pytest.mark.asyncio
async def test_a_named_model_skips_the_probes_but_the_target_must_answer() -> None:
    with ThreadedServer(_hang) as server:
        async with make_client() as client:
            target = await preflight(client, Target(server.url, ""), timeout=120, model="b")
        assert target.model == "b"
        assert [r.method for r in server.requests] == ["GET"]


def _listing(count: int) -> bytes:
    data = [{"id": f"card-{i}", "object": "model"} for i in range(count)]
    return json.dumps({"object": "list", "data": data}).encode()


def _exo_like(count: int, loaded: str) -> Handler:
    """EXO's shape: every known card listed, 404 at once for each one not loaded."""

    async def handle(conn: Conn) -> None:
        json_type = [("Content-Type", "application/json")]
        if conn.request.method == "GET":
            await respond_handler(200, json_type, _listing(count))(conn)
            return
        model = json.loads(conn.request.body).get("model")
        if model != loaded:
            body = json.dumps({"error": {"message": f"No instance found for model {model}"}})
            await respond_handler(404, json_type, body.encode())(conn)
            return
        answer = {"id": "x", "object": "chat.completion", "choices": []}
        await respond_handler(200, json_type, json.dumps(answer).encode())(conn)

    return handle


@pytest.mark.asyncio
async def test_models_refused_at_once_do_not_use_up_the_probes() -> None:
    # The one loaded model is listed 40th, well past MAX_MODEL_PROBES.
    with ThreadedServer(_exo_like(60, "card-39")) as server:
        async with make_client() as client:
            target = await preflight(client, Target(server.url, ""), timeout=120, model=None)
        probes = [r for r in server.requests if r.method == "POST"]
    assert target.model == "card-39"
    assert len(probes) == 40


@pytest.mark.asyncio
async def test_no_loaded_model_among_refusals_names_how_many_were_tried() -> None:
    with ThreadedServer(_exo_like(30, "none-of-them")) as server:
        async with make_client() as client:
            with pytest.raises(TargetError) as raised:
                await preflight(client, Target(server.url, ""), timeout=120, model=None)
    assert "none of the first 30 listed models answered" in str(raised.value)


@pytest.mark.asyncio
async def test_slow_probes_stop_after_max_model_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "PROBE_DEADLINE_S", 0.3)
    many = json.dumps(
        {"object": "list", "data": [{"id": f"m{i}", "object": "model"} for i in range(20)]}
    ).encode()

    async def handle(conn: Conn) -> None:
        if conn.request.method == "GET":
            await respond_handler(200, [("Content-Type", "application/json")], many)(conn)
            return
        await conn.hang()

    with ThreadedServer(handle) as server:
        async with make_client() as client:
            with pytest.raises(TargetError):
                await preflight(client, Target(server.url, ""), timeout=120, model=None)
        probes = [r for r in server.requests if r.method == "POST"]
    assert len(probes) == targets.MAX_MODEL_PROBES


def _chat_only(conn: Conn) -> Awaitable[None]:
    """A server with chat completions but no model list (as several mock servers are)."""
    json_type = [("Content-Type", "application/json")]
    if conn.request.method == "GET":
        return respond_handler(404, json_type, b'{"detail":"Not Found"}')(conn)
    answer = json.dumps({"id": "x", "object": "chat.completion", "choices": []})
    return respond_handler(200, json_type, answer.encode())(conn)


@pytest.mark.asyncio
async def test_no_model_list_with_a_named_model_goes_on() -> None:
    with ThreadedServer(_chat_only) as server:
        async with make_client() as client:
            target = await preflight(client, Target(server.url, ""), timeout=120, model="m")
            with pytest.raises(TargetError) as raised:
                await preflight(client, Target(server.url, ""), timeout=120, model=None)
    assert target.model == "m"
    assert "HTTP 404, expected 200; name the model with --exo-model" in str(raised.value)
