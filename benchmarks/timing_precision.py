"""How true are the recorder's event times?

Run from the repository root:

    .venv/bin/python benchmarks/timing_precision.py [--rounds 3] [--tokens 100]

Three streams of ``--tokens`` content chunks paced ``--delay`` apart (50 ms),
each recorded ``--rounds`` times, the rounds interleaved:

- ``raw+recorder``: a tiny raw-socket sender in its own process (blocking
  sockets, TCP_NODELAY, chunked) that writes each event at a scheduled instant
  and puts the CLOCK_MONOTONIC time of the write in the event itself
  (``x_sent_ns``).  Recorded with :func:`conformance.recorder.record`, the
  difference between each recorded gap and the sent gap is the recorder's own
  error; the send-to-stamp latency is reported too.
- ``raw+bare``: the same sender read by a bare asyncio socket loop that stamps
  each ``read()`` and parses nothing it does not need: the floor that the OS
  and the event loop set, with no httpx, h11 or SSE decoding on top.
- ``reference``: ``python -m conformance.reference --token-delay DELAY``
  (skipped when it is not there), ``GET /v1/models`` for the first model, then
  ``{"messages": [... "write a long story"], "stream": true, "max_tokens":
  TOKENS}``.  Its send times are not known, so each gap between consecutive
  content chunks is compared with the intended DELAY: that error includes the
  server's own pacing jitter, not only the recorder's.

Figures are absolute errors in ms: median, p95 and max over every gap of every
round.  Both processes read CLOCK_MONOTONIC (``time.perf_counter_ns`` on
Linux), so the sender's stamps and the recorder's are on one clock.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.capture import Ending, Event, Limits, Transcript, make_client, record

__all__ = ["main", "serve_raw"]

BANNER = "listening on "
PROMPT = "write a long story"
ROOT = Path(__file__).resolve().parent.parent
_SENT = re.compile(rb'"x_sent_ns":(\d+)')


# -- the raw sender (runs in its own process) -----------------------------------


def serve_raw(delay: float) -> None:
    """Serve /v1/models and paced streams on a free loopback port, forever."""
    server = socket.create_server(("127.0.0.1", 0))
    print(f"{BANNER}http://127.0.0.1:{server.getsockname()[1]}", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_raw_exchange, args=(conn, delay), daemon=True).start()


def _raw_exchange(conn: socket.socket, delay: float) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head, body = _read_request(conn)
        if head.startswith(b"GET /v1/models"):
            listing = b'{"object":"list","data":[{"id":"raw-sender","object":"model"}]}'
            conn.sendall(_response_head(b"application/json", len(listing)) + listing)
            return
        tokens = int(json.loads(body or b"{}").get("max_tokens") or 100)
        conn.sendall(_response_head(b"text/event-stream", None))
        _paced_events(conn, tokens, int(delay * 1e9))


def _read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return data, b""
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    while match and len(body) < int(match.group(1)):
        body += conn.recv(65536)
    return head, body


def _response_head(content_type: bytes, length: int | None) -> bytes:
    chunked = b"Transfer-Encoding: chunked"
    framing = b"Content-Length: %d" % length if length is not None else chunked
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
        b"Connection: close\r\n%s\r\n\r\n" % (content_type, framing)
    )


def _paced_events(conn: socket.socket, tokens: int, delay_ns: int) -> None:
    """One chunk per token on an absolute schedule; each carries its send time."""
    start = time.perf_counter_ns()
    for i in range(tokens):
        wait = start + (i + 1) * delay_ns - time.perf_counter_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        sent = time.perf_counter_ns()
        event = (
            b'data: {"object":"chat.completion.chunk","choices":[{"index":0,'
            b'"delta":{"content":"w%d "},"finish_reason":null}],"x_sent_ns":%d}\n\n' % (i, sent)
        )
        conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
    done = b"data: [DONE]\n\n"
    conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))


# -- measuring ---------------------------------------------------------------


@dataclass
class Tally:
    """Absolute gap errors (ms) and send-to-stamp latencies (ms) of one method."""

    errors: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Child:
    """A server process that announces its URL on its first stdout line."""

    def __init__(self, args: Sequence[str]) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(BANNER):
            self.stop()
            raise RuntimeError(f"{' '.join(args)} did not start: {line!r}")
        self.url = line[len(BANNER) :].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _reference_available() -> bool:
    return (ROOT / "conformance" / "reference" / "__main__.py").exists()


async def _stream(url: str, tokens: int) -> tuple[Transcript, int]:
    """Record one long stream; returns it and the clock just before record()."""
    limits = Limits(deadline_s=120)
    async with make_client(limits=limits) as client:
        listing = await record(client, "GET", url + "/v1/models", scenario="models", target=url)
        data = listing.json()
        model = data["data"][0]["id"] if isinstance(data, dict) else "unknown"
        body = {
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
            "max_tokens": tokens,
        }
        before = time.perf_counter_ns()
        t = await record(
            client,
            "POST",
            url + "/v1/chat/completions",
            scenario="timing",
            target=url,
            json=body,
            limits=limits,
        )
    if t.ending is not Ending.COMPLETE:
        raise RuntimeError(f"stream from {url} ended {t.ending}: {t.ending_detail}")
    return t, before


async def measure_recorder(url: str, tokens: int, tally: Tally) -> None:
    """Recorded gaps against the sender's own send gaps."""
    t, before = await _stream(url, tokens)
    stamped = [(e.t_ns, int(m.group(1))) for e, m in _sent_marks(t)]
    for (t0, s0), (t1, s1) in itertools.pairwise(stamped):
        tally.errors.append(abs((t1 - t0) - (s1 - s0)) / 1e6)
    tally.latencies += [(before + t_ns - sent) / 1e6 for t_ns, sent in stamped]


def _sent_marks(t: Transcript) -> Iterator[tuple[Event, re.Match[bytes]]]:
    for event in t.events:
        match = _SENT.search(event.data.encode())
        if match:
            yield event, match


async def measure_bare(url: str, tokens: int, tally: Tally) -> None:
    """The floor: a bare asyncio reader that stamps each read() and nothing more."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"stream": True, "max_tokens": tokens}).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body)
    )
    await writer.drain()
    stamped: list[tuple[int, int]] = []
    buffer = b""
    while chunk := await reader.read(65536):
        now = time.perf_counter_ns()
        buffer += chunk
        *complete, buffer = buffer.split(b"\n\n")
        stamped += [(now, int(m.group(1))) for e in complete if (m := _SENT.search(e))]
    writer.close()
    await writer.wait_closed()
    for (t0, s0), (t1, s1) in itertools.pairwise(stamped):
        tally.errors.append(abs((t1 - t0) - (s1 - s0)) / 1e6)
    tally.latencies += [(t - s) / 1e6 for t, s in stamped]


async def measure_reference(url: str, tokens: int, delay: float, tally: Tally) -> None:
    """Recorded gaps between consecutive content chunks against the intended delay."""
    t, _ = await _stream(url, tokens)
    times = [
        e.t_ns
        for e, chunk in t.chunks()
        for choice in chunk.get("choices") or []
        if isinstance(choice, dict) and (choice.get("delta") or {}).get("content")
    ]
    tally.notes.append(f"{len(times)} content chunks")
    for a, b in itertools.pairwise(times):
        tally.errors.append(abs((b - a) / 1e6 - delay * 1e3))


# -- reporting ---------------------------------------------------------------


def _p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(name: str, tally: Tally) -> str:
    if not tally.errors:
        return f"| {name} | - | - | - | - | - |"
    e, lat = tally.errors, tally.latencies
    latency = f"{statistics.median(lat):.3f}" if lat else "-"
    return (
        f"| {name} | {len(e)} | {statistics.median(e):.3f} | {_p(e, 0.95):.3f} "
        f"| {max(e):.3f} | {latency} |"
    )


def report(tallies: dict[str, Tally], args: argparse.Namespace) -> str:
    lines = [
        f"{args.rounds} rounds x {args.tokens} tokens, {args.delay * 1e3:g} ms apart; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}",
        "",
        "| method | gaps | median abs error ms | p95 ms | max ms | median latency ms |",
        "|---|---:|---:|---:|---:|---:|",
        *(_row(name, tally) for name, tally in tallies.items()),
    ]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Tally]:
    tallies = {"raw+recorder": Tally(), "raw+bare": Tally(), "reference": Tally()}
    raw = Child([str(Path(__file__).resolve()), "--serve-raw", "--delay", str(args.delay)])
    ref = None
    if _reference_available():
        delay = str(args.delay)
        ref = Child(["-m", "conformance.reference", "--port", "0", "--token-delay", delay])
    try:
        for _ in range(args.rounds):
            await measure_recorder(raw.url, args.tokens, tallies["raw+recorder"])
            await measure_bare(raw.url, args.tokens, tallies["raw+bare"])
            if ref is not None:
                await measure_reference(ref.url, args.tokens, args.delay, tallies["reference"])
    finally:
        raw.stop()
        if ref is not None:
            ref.stop()
    return tallies


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tokens", type=int, default=100)
    p.add_argument("--delay", type=float, default=0.05, help="seconds between tokens")
    p.add_argument("--serve-raw", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_raw:
        serve_raw(args.delay)
        return 0
    tallies = asyncio.run(run(args))
    print(report(tallies, args))
    notes = sorted(set(tallies["reference"].notes))
    if notes:
        print(f"\nreference streams: {', '.join(notes)}")
    median = statistics.median(tallies["raw+recorder"].errors)
    print(f"\nrecorder median gap error {median:.3f} ms (goal: within 2 ms)")
    return 0 if median <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
