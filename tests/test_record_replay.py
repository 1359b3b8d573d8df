"""--exo-record, --exo-replay and ``exo-conformance judge``, on real loopback servers.

A run recorded against a faulty reference server, replayed once the server is
gone, gives the same verdicts (the scenarios judged only live skip, saying
so); a transcript written by hand and a ``curl -N`` capture are judged too.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.capture.archive import ArchiveError, decode_events, load_dir, load_file
from conformance.capture.curl_capture import parse_capture
from conformance.embedded import EmbeddedServer
from conformance.run import LIVE_ONLY

pytestmark = pytest.mark.slow

RULES = ("stream.*", "chunk.*", "headers.*", "sse.*", "disconnect.*", "error.*")


def _rules() -> list[str]:
    return [arg for glob in RULES for arg in ("--exo-rules", glob)]


def _verdicts(path: Path) -> dict[tuple[str, str], str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(r["rule"], r["scenario"]): r["outcome"] for r in data["results"]}


def _messages(path: Path) -> dict[tuple[str, str], str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(r["rule"], r["scenario"]): r["message"] for r in data["results"]}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run against a reference server with the id-changes fault, recorded; the
    server is stopped before anything is replayed.  chunk.id-stable is a SHOULD
    rule, so both runs are strict: its failure sets the exit status."""
    work = tmp_path_factory.mktemp("recorded")
    server = EmbeddedServer(["--fault", "id-changes", "--token-delay", "0.002"])
    url = server.start()
    try:
        done = _pytest(
            work,
            "--exo-url",
            url,
            "--exo-record",
            "rec",
            "--exo-json",
            "a.json",
            "--exo-strict",
            *_rules(),
        )
    finally:
        server.stop()
    assert done.returncode == 1, done.stdout[-3000:]
    return work / "rec", work / "a.json"


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXO_")}
    (cwd / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8"
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXO_")}
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_replay_gives_the_recorded_verdicts(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    rec, first = recorded
    done = _pytest(
        tmp_path, "--exo-replay", str(rec), "--exo-json", "b.json", "--exo-strict", *_rules()
    )
    assert done.returncode == 1, done.stdout[-3000:]
    live, again = _verdicts(first), _verdicts(tmp_path / "b.json")
    assert live.keys() == again.keys()
    assert live[("chunk.id-stable", "stream-basic")] == "failed"
    differ = {k for k in live if live[k] != again[k]}
    assert differ, "the live-only scenarios must skip on replay"
    assert all(k[1].startswith(LIVE_ONLY) for k in differ), sorted(differ)
    messages = _messages(tmp_path / "b.json")
    assert all("needs a live endpoint" in messages[k] for k in differ)
    # Same verdicts, same evidence.
    same = [k for k in live if k not in differ]
    assert [_messages(first)[k] for k in same] == [messages[k] for k in same]


def test_recorded_files_mask_the_key_and_keep_raw_reads(recorded: tuple[Path, Path]) -> None:
    rec, _ = recorded
    files = sorted(rec.glob("*.json"))
    assert {f.stem for f in files} >= {"stream-basic", "stream-long", "disconnect"}
    found = load_dir(rec)
    basic = next(r.transcript for r in found if r.transcript.scenario == "stream-basic")
    assert basic.reads and sum(r.size for r in basic.reads) == len(basic.body)
    assert basic.events and basic.ending == "complete"


def test_events_decode_from_the_raw_reads_as_recorded(recorded: tuple[Path, Path]) -> None:
    """A file without events (as users write them) decodes to what the recorder saw."""
    rec, _ = recorded
    for item in load_dir(rec):
        t = item.transcript
        if not t.events:
            continue
        rebuilt = decode_events(dataclasses.replace(t, events=(), comments=(), diagnostics=()))

        def where(events: Any) -> list[tuple[Any, ...]]:
            return [(e.type, e.data, e.offset, e.end, e.t_ns) for e in events]

        assert where(rebuilt.events) == where(t.events), t.scenario
        assert [d.code for d in rebuilt.diagnostics] == [d.code for d in t.diagnostics]


def test_a_bad_replay_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "x.json").write_text('{"format": "nope"}', encoding="utf-8")
    done = _pytest(tmp_path, "--exo-replay", "rec")
    assert done.returncode == 4
    assert 'x.json: not a transcript file: "format" must be' in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_replay_refuses_a_url_too(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    done = _pytest(tmp_path, "--exo-replay", "rec", "--exo-url", "http://127.0.0.1:1")
    assert done.returncode == 4 and "give no --exo-url" in done.stderr


# -- files written by hand, and curl captures ---------------------------------------------

BODY = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},'
    b'"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
)
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"x-accel-buffering: no\r\n\r\n"
)


def _hand_written(body: bytes) -> dict[str, Any]:
    return {
        "format": "exo-conformance-transcript",
        "version": 1,
        "target": {"url": "http://my-proxy.example", "model": "m"},
        "transcript": {
            "scenario": "stream-basic",
            "request": {"body_json": {"model": "m", "stream": True, "messages": []}},
            "status": 200,
            "headers": [["content-type", "text/event-stream"]],
            "body_text": body.decode(),
        },
    }


def test_a_hand_written_transcript_is_judged(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_hand_written(BODY)), encoding="utf-8")
    t = load_file(path).transcript
    assert [e.data[:6] for e in t.events] == ['{"id":', '{"id":']
    done = _cli(tmp_path, "judge", str(path), "--exo-json", "out.json")
    assert done.returncode == 1, done.stdout[-2000:]
    verdicts = _verdicts(tmp_path / "out.json")
    assert verdicts[("stream.done", "stream-basic")] == "failed"  # no [DONE]
    assert verdicts[("chunk.role-first", "stream-basic")] == "passed"


def test_a_curl_capture_with_its_head_is_judged(tmp_path: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_bytes(HEAD + BODY + b"data: [DONE]\n\n")
    request = json.dumps({"model": "m", "stream": True, "messages": []})
    done = _cli(tmp_path, "judge", str(capture), "--request", request, "--exo-json", "out.json")
    assert done.returncode == 0, done.stdout[-2000:]
    verdicts = _verdicts(tmp_path / "out.json")
    assert verdicts[("stream.done", "stream-basic")] == "passed"
    assert verdicts[("headers.x-accel-buffering", "stream-basic")] == "passed"
    # No timing in a capture: the timing rule skips rather than guessing.
    assert verdicts.get(("stream.incremental", "stream-basic"), "skipped") == "skipped"


def test_a_body_only_capture_is_judged_by_the_body_rules(tmp_path: Path) -> None:
    capture = tmp_path / "body.txt"
    capture.write_bytes(BODY)
    done = _cli(tmp_path, "judge", str(capture), "--exo-json", "out.json")
    assert "judging it by the body rules only" in done.stdout
    verdicts = _verdicts(tmp_path / "out.json")
    assert verdicts[("stream.done", "stream-basic")] == "failed"
    assert not any(rule.startswith("headers.") for rule, _ in verdicts)


def test_judge_bad_input_is_one_line(tmp_path: Path) -> None:
    done = _cli(tmp_path, "judge", str(tmp_path / "missing.txt"))
    assert done.returncode == 2 and "no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_parse_capture_skips_a_continue_head() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + BODY
    capture = parse_capture(raw)
    assert capture.status == 200 and capture.body == BODY
    assert capture.headers is not None and ("x-accel-buffering", "no") in capture.headers


def test_parse_capture_of_a_body_alone() -> None:
    capture = parse_capture(BODY)
    assert capture.headers is None and capture.body == BODY


def test_base64_and_text_bodies_read_alike(tmp_path: Path) -> None:
    text = _hand_written(BODY)
    encoded = _hand_written(BODY)
    del encoded["transcript"]["body_text"]
    encoded["transcript"]["body"] = base64.b64encode(BODY).decode()
    (tmp_path / "a.json").write_text(json.dumps(text), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(encoded), encoding="utf-8")
    a, b = (load_file(tmp_path / n).transcript for n in ("a.json", "b.json"))
    assert a.body == b.body and a.events == b.events


def test_recorded_files_never_hold_the_key(tmp_path: Path) -> None:
    key = "sk-exo-record-secret-0123456789"
    server = EmbeddedServer(["--api-key", key, "--token-delay", "0.001"])
    url = server.start()
    try:
        done = _pytest(
            tmp_path, "--exo-url", url, "--exo-api-key", key, "--exo-record", "rec",
            "--exo-rules", "headers.*", "--exo-rules", "auth.*",
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-2000:]
    files = list((tmp_path / "rec").glob("*.json"))
    assert files
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert key not in text and base64.b64encode(key.encode()).decode() not in text
    basic = load_file(tmp_path / "rec" / "stream-basic.json").transcript
    assert ("authorization", "Bearer ***") in basic.request.headers


def test_a_file_against_the_schema_is_one_line(tmp_path: Path) -> None:
    data = _hand_written(BODY)
    data["transcript"]["reads"] = [{"t_ns": -1, "offset": 0, "size": 3}]
    (tmp_path / "bad.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"bad.json: not a valid transcript file: .*t_ns"):
        load_file(tmp_path / "bad.json")


def test_a_proxy_pair_replays_with_its_upstream(tmp_path: Path) -> None:
    """Recorded through a header-stripping proxy with --exo-upstream, judged again by
    ``exo-conformance judge DIR`` once both servers are gone."""
    upstream = EmbeddedServer(["--token-delay", "0.02"])
    upstream_url = upstream.start()
    proxy = EmbeddedServer(["--proxy-to", upstream_url, "--fault", "headers-stripped"])
    try:
        proxy_url = proxy.start()
        done = _pytest(
            tmp_path, "--exo-url", proxy_url, "--exo-upstream", upstream_url,
            "--exo-rules", "proxy.*", "--exo-record", "rec", "--exo-json", "a.json",
            "--exo-strict",
        )  # fmt: skip
    finally:
        proxy.stop()
        upstream.stop()
    assert done.returncode == 1, done.stdout[-3000:]
    basic = load_file(tmp_path / "rec" / "stream-basic.json").transcript
    assert basic.other("upstream") is not None
    again = _cli(
        tmp_path, "judge", "rec", "--exo-rules", "proxy.*", "--exo-json", "b.json", "--exo-strict"
    )
    assert again.returncode == 1, again.stdout[-3000:]
    live, replayed = _verdicts(tmp_path / "a.json"), _verdicts(tmp_path / "b.json")
    assert live.keys() == replayed.keys()
    assert live[("proxy.headers", "stream-basic")] == replayed[("proxy.headers", "stream-basic")]
    assert replayed[("proxy.headers", "stream-basic")] == "failed"
    differ = {k for k in live if live[k] != replayed[k]}
    assert differ == {("proxy.disconnect", "proxy-disconnect")}, differ
