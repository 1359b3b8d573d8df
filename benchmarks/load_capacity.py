"""How many concurrent streams can the load mode record and judge?

Run from the repository root:

    .venv/bin/python benchmarks/load_capacity.py [--streams 32,64,128,256,384] [--seconds 5]
        [--rounds 3] [--senders 1]

A fast sender in its own process (raw asyncio sockets, no framework) answers
every chat request with a stream of ``max_tokens`` content chunks at 50
tokens/s (20 ms apart), echoing the prompt's nonce code first, each chunk
stamped with the CLOCK_MONOTONIC time of its write (``x_sent_ns``).  For
each stream count, side by side and interleaved, for ``--seconds`` each:

- ``load``: the load mode itself (``record_load``: the recorder, the view,
  the facts of every stream), then the four ``load.*`` rules on its view;
- ``bare``: a bare httpx loop, the same number of streams, a new request as
  each ends, reading ``aiter_raw()`` and stamping every read, splitting
  events on blank lines and pulling out ``x_sent_ns``, nothing more.

The gap error of a pair of consecutive content events is |recorded gap - sent
gap|; a method keeps up with N streams when its median gap error is under
2 ms in its median round (``--rounds`` rounds per N, the order of the two
methods alternating).  The capacity is the largest N that keeps up.
``--senders 2`` runs two sender processes on one port (SO_REUSEPORT), in
case one sender is what falls behind.  ``tokens`` is the share
of N x 50 tokens/s received over the window (below 100%: each request's own
round trip, and a sender or reader falling behind).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance import loadview  # noqa: E402
from conformance.capture.recorder import Limits, make_client  # noqa: E402
from conformance.capture.transcript import Transcript  # noqa: E402
from conformance.rules import load as load_rules  # noqa: E402
from conformance.scenarios import RecordContext, Target  # noqa: E402
from conformance.scenarios.load import load_body, record_load  # noqa: E402
from conformance.scenarios.nonce import make_nonce  # noqa: E402

TOKEN_GAP_S = 0.02  # 50 tokens/s per stream
MEDIAN_GOAL_MS = 2.0

SENDER = textwrap.dedent(
    r"""
    import asyncio, json, re, sys, time
    GAP = float(sys.argv[1])
    NONCE = re.compile(rb"exo-[0-9a-f]{8}")
    HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\nx-accel-buffering: no\r\n"
            b"transfer-encoding: chunked\r\n\r\n")

    def chunk(delta, finish=None, extra=None):
        obj = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1,
               "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if extra:
            obj.update(extra)
        return stamped(json.dumps(obj, separators=(",", ":")).encode()[:-1])

    def stamped(prefix):
        # The write time goes last, so the rest of each chunk is encoded once.
        return b"data: " + prefix + b',"x_sent_ns":%d}\n\n' % time.perf_counter_ns()

    def framed(data):
        return b"%x\r\n" % len(data) + data + b"\r\n"

    async def serve(reader, writer):
        try:
            while await one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def one(reader, writer):
        if True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"GET"):
                body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model",
                                   "created": 1, "owned_by": "b"}]}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body)
                await writer.drain()
                return False
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            request = json.loads(await reader.readexactly(length))
            tokens = int(request.get("max_tokens") or 32)
            found = NONCE.search(json.dumps(request).encode())
            words = [" " + found.group().decode()] if found else []
            words += [" word"] * (tokens - len(words))
            writer.write(HEAD + framed(chunk({"role": "assistant", "content": ""})))
            start = time.monotonic()
            prefixes = [json.dumps({"id": "chatcmpl-b", "object": "chat.completion.chunk",
                                    "created": 1, "model": "m", "choices": [{"index": 0,
                                    "delta": {"content": w}, "finish_reason": None}]},
                                   separators=(",", ":")).encode()[:-1] for w in set(words)]
            encoded = dict(zip(set(words), prefixes))
            for i, word in enumerate(words):
                await asyncio.sleep(max(0.0, start + (i + 1) * GAP - time.monotonic()))
                writer.write(framed(stamped(encoded[word])))
            usage = {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": tokens + 5}
            end = chunk({}, "length") + chunk({}, extra={"choices": [], "usage": usage})
            writer.write(framed(end + b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True

    async def main():
        port = int(sys.argv[2])
        server = await asyncio.start_server(
            serve, "127.0.0.1", port, backlog=4096, reuse_port=True
        )
        print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
    """
)


def _errors(times_ns: list[int], sent_ns: list[int]) -> list[float]:
    return [
        abs((times_ns[i + 1] - times_ns[i]) - (sent_ns[i + 1] - sent_ns[i])) / 1e6
        for i in range(len(times_ns) - 1)
    ]


_SENT = re.compile(rb'"x_sent_ns":(\d+)')


def _transcript_errors(t: Transcript) -> list[float]:
    """Gap errors of the content events of one recorded stream."""
    times, sent = [], []
    for event in t.events:
        if '"content":" ' in event.data:
            match = _SENT.search(event.data.encode())
            if match:
                times.append(event.t_ns)
                sent.append(int(match.group(1)))
    return _errors(times, sent)


async def run_load(url: str, streams: int, seconds: float) -> dict[str, Any]:
    """The load mode for ``seconds`` at ``streams``, judged; gap errors measured aside."""
    errors: list[float] = []
    real_digest = loadview.digest

    def measuring(t: Transcript, **kw: Any) -> Any:
        errors.extend(_transcript_errors(t))
        return real_digest(t, **kw)

    loadview.digest = measuring  # type: ignore[assignment]
    limits = Limits(deadline_s=60)
    try:
        async with make_client(limits=limits) as client:
            ctx = RecordContext(client, Target(url, "m"), limits)
            started = time.monotonic()
            main, record = await record_load(ctx, streams, seconds)
            view = loadview.LoadView(main, record)
            verdicts = [
                rule(view).outcome
                for rule in (load_rules.complete, load_rules.isolation, load_rules.latency)
            ]
            elapsed = time.monotonic() - started
    finally:
        loadview.digest = real_digest  # type: ignore[assignment]
    return _figures("load", streams, errors, record.generated_tokens, record.elapsed_s) | {
        "verdicts": verdicts,
        "wall_s": round(elapsed, 1),
    }


async def run_bare(url: str, streams: int, seconds: float) -> dict[str, Any]:
    """A bare httpx loop: stream after stream, stamping reads, nothing else."""
    errors: list[float] = []
    tokens = 0
    limits = httpx.Limits(max_connections=streams + 1, max_keepalive_connections=streams + 1)
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:
        opened = time.monotonic()
        closes = opened + seconds

        async def one() -> None:
            nonlocal tokens
            body = load_body("m", make_nonce())
            times: list[int] = []
            sent: list[int] = []
            buffer = b""
            async with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
                async for data in r.aiter_raw():
                    now = time.perf_counter_ns()
                    buffer += data
                    *events, buffer = buffer.split(b"\n\n")
                    for event in events:
                        if b'"content":" ' in event and (m := _SENT.search(event)):
                            times.append(now)
                            sent.append(int(m.group(1)))
            tokens += len(times)
            errors.extend(_errors(times, sent))

        async def worker() -> None:
            while time.monotonic() < closes:
                await one()

        await asyncio.gather(*(worker() for _ in range(streams)))
        elapsed = time.monotonic() - opened
    return _figures("bare", streams, errors, tokens, elapsed)


def _figures(
    method: str, streams: int, errors: list[float], tokens: int, elapsed: float
) -> dict[str, Any]:
    expected = streams / TOKEN_GAP_S * elapsed
    median = statistics.median(errors) if errors else float("inf")
    share = tokens / expected if expected else 0.0
    return {
        "method": method,
        "streams": streams,
        "gaps": len(errors),
        "median_ms": round(median, 3),
        "p95_ms": round(sorted(errors)[int(0.95 * (len(errors) - 1))], 3) if errors else None,
        "tokens_share": round(share, 3),
        "keeps_up": median < MEDIAN_GOAL_MS,
    }


def _merged(rows: list[dict[str, Any]], method: str, streams: int) -> dict[str, Any] | None:
    """The median round (by median gap error) of one method at one stream count."""
    mine = [r for r in rows if r["method"] == method and r["streams"] == streams]
    if not mine:
        return None
    pick = sorted(mine, key=lambda r: r["median_ms"])[(len(mine) - 1) // 2]
    return pick | {"keeps_up": pick["median_ms"] < MEDIAN_GOAL_MS}


def _capacity(rows: list[dict[str, Any]], method: str, counts: list[int]) -> int:
    """The largest stream count whose (median round's) median gap error is under the goal."""
    ok = [n for n in counts if (r := _merged(rows, method, n)) is not None and r["keeps_up"]]
    return max(ok, default=0)


def _start_senders(count: int) -> tuple[list[subprocess.Popen[str]], str]:
    """``count`` sender processes on one port (SO_REUSEPORT spreads the connections)."""
    procs: list[subprocess.Popen[str]] = []
    url = ""
    for _ in range(count):
        port = url.rsplit(":", 1)[1] if url else "0"
        proc = subprocess.Popen(
            [sys.executable, "-c", SENDER, str(TOKEN_GAP_S), port],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            for p in procs:
                p.kill()
            raise SystemExit(f"sender did not start: {line!r}")
        url = line.removeprefix("listening on ")
    return procs, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="32,64,128,256,384")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", choices=("load", "bare"), default=None)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per stream count")
    parser.add_argument("--senders", type=int, default=1, help="sender processes")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    procs, url = _start_senders(args.senders)
    rows: list[dict[str, Any]] = []
    try:
        plan = [
            (streams, method)
            for streams in counts
            for n in range(args.rounds)
            # alternate which goes first, so neither always meets the busier moment
            for method in (("load", "bare") if n % 2 == 0 else ("bare", "load"))
        ]
        for streams, method in plan:
            if True:
                if args.only and method != args.only:
                    continue
                run = run_load if method == "load" else run_bare
                row = asyncio.run(run(url, streams, args.seconds))
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for proc in procs:
            proc.kill()
    where = f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}"
    print(f"load average: {os.getloadavg()[0]:.2f}, {where}")
    for method in ("load", "bare"):
        print(f"capacity {method}: {_capacity(rows, method, counts)} streams")
    head = ["streams", "load median ms", "load p95 ms", "load tokens"]
    head += ["bare median ms", "bare p95 ms", "bare tokens"]
    print("| " + " | ".join(head) + " |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for streams in counts:
        pair = {m: _merged(rows, m, streams) for m in ("load", "bare")}
        cells = []
        for method in ("load", "bare"):
            r = pair.get(method)
            cells += (
                [str(r["median_ms"]), str(r["p95_ms"]), f"{r['tokens_share']:.0%}"]
                if r
                else ["-", "-", "-"]
            )
        print(f"| {streams} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
