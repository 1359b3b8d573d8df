"""Throughput and memory of conformance.sse against the decoders clients use.

Run from the repository root:

    .venv/bin/python benchmarks/sse_decoder.py

Throughput: about 50 MB of realistic ``chat.completion.chunk`` events (a role
chunk, content chunks of short varied text, some of it not ASCII, a finish
chunk, ``data: [DONE]``), fed in 16 KiB pieces to each decoder in turn, the
rounds interleaved so that drift in the machine's speed hits all alike:

- ``conformance.sse``: ``SSEDecoder.feed`` per piece, then ``close``;
- ``httpx-sse``: ``EventSource.iter_sse`` itself, over an object that gives it
  the pieces through ``httpx``'s own ``TextDecoder`` as ``Response.iter_text``
  does;
- ``openai``: ``openai._streaming.SSEDecoder.iter_bytes``, the path the SDK's
  ``Stream`` takes over ``Response.iter_bytes``;
- ``split``: a bare ``split(b"\\n\\n")`` loop that only decodes each payload:
  no line ends but LF, no fields, no checks; the practical upper bound.

Each decoder counts its events and the characters of their data, and every
count must agree, so no decoder wins by skipping work.  Times are the
process's CPU time (``time.process_time``), not wall time, so that other
work on a shared machine slows the figures less.

``--compare FILE`` adds ``conformance.sse (compared)``: the decoder in FILE,
another version of ``conformance/capture/sse.py`` (for example
``git show main:conformance/capture/sse.py > /tmp/sse_main.py``), decoding the
same pieces in the same rounds, so a change's cost is measured side by side.

Memory: each decoder, in a fresh subprocess, decodes a 1 GiB stream of the
same kind that is generated in pieces as it is read (never held whole) and
keeps no event; the figure is the peak RSS during decoding (VmHWM, reset just
before) minus the RSS just before it.  Ours is also measured with tracemalloc (peak of traced
allocations), and on two hostile streams that test its caps: one 1 GiB line,
and one 64 MiB event of 1 KiB data lines (four times the event cap).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
from httpx._decoders import TextDecoder
from httpx_sse import EventSource
from openai._streaming import SSEDecoder as OpenAIDecoder

from conformance.sse import SSEDecoder

__all__ = ["DECODERS", "build_stream", "iter_stream", "main"]

PIECE = 16 * 1024
MB = 1_000_000
GIB = 1 << 30

Tally = tuple[int, int]  # events, characters of data
Decoder = Callable[[Iterable[bytes]], Tally]

# Short pieces of text as a model streams them: words, spaces, punctuation,
# code, and text that is not ASCII (accents, CJK, Greek, emoji).
_TOKENS = (
    " the", " a", " of", " and", " to", " in", " is", " that", " for", " it",
    " stream", " event", " server", " client", " token", " model", " cluster",
    ".", ",", ":", "\n", "\n\n", " (", ")", " \"", "\"", " -", "`", "```python\n",
    "def", " main", "():", "    return", " None", " 42", " 3.14", " {\"", "\":",
    " café", " naïve", " Zürich", " 日本語", " の", "文字", " Ελληνικά", " привет",
    " —", " …", " 😀", " ✓", " €", " ñ",
)  # fmt: skip


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-9f3c2b8e1a7d4c6b",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "llama-3.2-3b-instruct-4bit",
        "system_fingerprint": "fp_exo_3f9a1c",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode() + b"\n\n"


def _content_events(rng: random.Random, count: int) -> list[bytes]:
    events = []
    for _ in range(count):
        text = "".join(rng.choice(_TOKENS) for _ in range(rng.randint(1, 3)))
        events.append(_chunk({"content": text}))
    return events


def _opening() -> bytes:
    return _chunk({"role": "assistant", "content": ""})


def _closing() -> bytes:
    return _chunk({}, finish="stop") + b"data: [DONE]\n\n"


def build_stream(size: int, seed: int = 7) -> bytes:
    """One chat completion stream of about ``size`` bytes."""
    rng = random.Random(seed)
    parts = [_opening()]
    total = len(parts[0])
    while total < size:
        (event,) = _content_events(rng, 1)
        parts.append(event)
        total += len(event)
    parts.append(_closing())
    return b"".join(parts)


def iter_stream(size: int, piece: int = PIECE, seed: int = 7) -> Iterator[bytes]:
    """About ``size`` bytes of one stream, made as they are read, in ``piece``-byte pieces."""
    rng = random.Random(seed)
    block = b"".join(_content_events(rng, 4096))  # about 1 MB, cycled
    pending = bytearray(_opening())
    made = 0
    while made < size:
        pending += block
        made += len(block)
        while len(pending) >= piece:
            yield bytes(pending[:piece])
            del pending[:piece]
    pending += _closing()
    for start in range(0, len(pending), piece):
        yield bytes(pending[start : start + piece])


def iter_long_line(size: int, piece: int = PIECE) -> Iterator[bytes]:
    """A hostile stream: ``size`` bytes of one data line that never ends."""
    chunk = b"data: " + b"x" * (piece - 6)
    yield chunk
    for _ in range(size // piece):
        yield b"x" * piece


def iter_huge_event(size: int, piece: int = PIECE) -> Iterator[bytes]:
    """A hostile stream: one event of ``size`` bytes made of 1 KiB data lines."""
    line = b"data: " + b"x" * 1017 + b"\n"
    chunk = line * (piece // len(line))
    for _ in range(size // len(chunk)):
        yield chunk
    yield b"\n"


# -- the decoders -------------------------------------------------------------


def run_ours(pieces: Iterable[bytes], decoder_class: type[Any] = SSEDecoder) -> Tally:
    decoder = decoder_class()
    events = chars = 0
    for piece in pieces:
        for event in decoder.feed(piece):
            events += 1
            chars += len(event.data)
    decoder.close()
    return events, chars


class _Body:
    """The part of ``httpx.Response`` that ``httpx_sse.EventSource`` reads."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.headers = {"content-type": "text/event-stream"}
        self._pieces = pieces

    def iter_text(self) -> Iterator[str]:
        # As httpx.Response.iter_text: an incremental UTF-8 decoder per read.
        decoder = TextDecoder(encoding="utf-8")
        for piece in self._pieces:
            text = decoder.decode(piece)
            if text:
                yield text
        text = decoder.flush()
        if text:
            yield text


def run_httpx_sse(pieces: Iterable[bytes]) -> Tally:
    events = chars = 0
    for sse in EventSource(cast(httpx.Response, _Body(pieces))).iter_sse():
        events += 1
        chars += len(sse.data)
    return events, chars


def run_openai(pieces: Iterable[bytes]) -> Tally:
    events = chars = 0
    for sse in OpenAIDecoder().iter_bytes(iter(pieces)):
        events += 1
        chars += len(sse.data)
    return events, chars


def run_split(pieces: Iterable[bytes]) -> Tally:
    events = chars = 0
    rest = b""
    for piece in pieces:
        blocks = (rest + piece).split(b"\n\n")
        rest = blocks.pop()
        for block in blocks:
            data = block[6:].decode()
            events += 1
            chars += len(data)
    return events, chars


DECODERS: dict[str, Decoder] = {
    "conformance.sse": run_ours,
    "httpx-sse": run_httpx_sse,
    "openai": run_openai,
    "split": run_split,
}

_STREAMS: dict[str, Callable[[int], Iterator[bytes]]] = {
    "chat": iter_stream,
    "long-line": iter_long_line,
    "huge-event": iter_huge_event,
}


# -- measuring ----------------------------------------------------------------


Timings = dict[str, tuple[int, list[float]]]  # label: bytes decoded, seconds per round


COMPARED = "conformance.sse (compared)"


def load_decoder(path: Path) -> type[Any]:
    """The ``SSEDecoder`` class of another version of ``conformance/capture/sse.py``."""
    # Loaded as a sibling of the real module, so its relative imports resolve.
    spec = importlib.util.spec_from_file_location("conformance.capture._compared_sse", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    decoder: type[Any] = module.SSEDecoder
    return decoder


def throughput(size: int, repeat: int, compare: Path | None = None) -> Timings:
    """Seconds per decode of a ``size``-byte stream, ``repeat`` rounds per decoder.

    Ours also decodes the same events with CRLF line ends, with CR line ends
    (each a diagnostic, up to the cap) and as ``data:`` with no space (each a
    diagnostic too); and ours and httpx-sse decode them with an ``event:``
    line each, which takes our line-by-line path; all for the record.
    """
    body = build_stream(size)
    runs = [(name, decode, body) for name, decode in DECODERS.items()]
    if compare is not None:
        compared = load_decoder(compare)
        runs.insert(1, (COMPARED, lambda p: run_ours(p, compared), body))
    runs.append(("conformance.sse, CRLF", run_ours, body.replace(b"\n", b"\r\n")))
    runs.append(("conformance.sse, CR", run_ours, body.replace(b"\n", b"\r")))
    runs.append(("conformance.sse, data:", run_ours, body.replace(b"data: ", b"data:")))
    named = body.replace(b"data: ", b"event: chunk\ndata: ")
    runs.append(("conformance.sse, event:", run_ours, named))
    runs.append(("httpx-sse, event:", run_httpx_sse, named))
    expected = run_split([body])
    times: Timings = {label: (len(data), []) for label, _, data in runs}
    for _ in range(repeat):
        for label, decode, data in runs:
            pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]
            gc.collect()
            start = time.process_time()
            tally = decode(pieces)
            times[label][1].append(time.process_time() - start)
            if tally != expected:
                raise AssertionError(f"{label} counted {tally}, expected {expected}")
    return times


def _status_kib(name: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise LookupError(name)


def _reset_peak_rss() -> None:
    """Start VmHWM (the peak RSS) over from the current RSS.

    Not ``getrusage``'s ru_maxrss: Linux carries it over from the parent
    through fork and exec, so a child would report the parent's peak.
    """
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure_memory(decoder: str, stream: str, size: int, traced: bool) -> dict[str, Any]:
    """Decode ``size`` bytes of ``stream``; report peak memory (run in a fresh process)."""
    decode = DECODERS[decoder]
    if decoder == "conformance.sse" and stream != "chat":
        # The hostile streams test the caps, which the decoder has only when
        # given (as the recorder gives them): a cap stops decoding there.
        def capped() -> SSEDecoder:
            return SSEDecoder(max_line_bytes=1 << 20, max_event_bytes=16 << 20)

        def decode(pieces: Iterable[bytes]) -> Tally:
            return run_ours(pieces, capped)

    make = _STREAMS[stream]
    decode(make(1 << 20))  # warm up: imports, caches, first allocations
    gc.collect()
    if traced:
        tracemalloc.start()
    else:
        _reset_peak_rss()
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    tally = decode(make(size))
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {
        "decoder": decoder,
        "stream": stream,
        "bytes": size,
        "events": tally[0],
        "seconds": seconds,
    }
    if traced:
        result["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        result["rss_delta"] = (_status_kib("VmHWM") - before) * 1024
    return result


def _subprocess_memory(decoder: str, stream: str, size: int, traced: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--memory", decoder, "--stream", stream]
    command += ["--memory-bytes", str(size)] + (["--traced"] if traced else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _mib(value: float) -> str:
    return f"{value / (1 << 20):.1f} MiB"


def _report_throughput(times: Timings) -> None:
    size = times["conformance.sse"][0]
    print(f"throughput: {size / MB:.1f} MB in {PIECE // 1024} KiB pieces, MB = 10^6 bytes,")
    print("  per CPU second of this process")
    best = {label: n / MB / min(runs) for label, (n, runs) in times.items()}
    median = {label: n / MB / statistics.median(runs) for label, (n, runs) in times.items()}
    for label in times:
        print(f"  {label:26} best {best[label]:6.1f} MB/s   median {median[label]:6.1f} MB/s")
    for name in ("httpx-sse", "openai", "split"):
        ratio_best = best["conformance.sse"] / best[name]
        ratio_median = median["conformance.sse"] / median[name]
        print(f"  conformance.sse / {name:10} {ratio_best:5.2f}x best, {ratio_median:5.2f}x median")
    if COMPARED in times:
        ratio_best = best["conformance.sse"] / best[COMPARED]
        ratio_median = median["conformance.sse"] / median[COMPARED]
        ratios = f"{ratio_best:5.2f}x best, {ratio_median:5.2f}x median"
        print(f"  conformance.sse / compared   {ratios}")


def _report_memory(size: int) -> None:
    print(f"memory: peak while decoding {size / GIB:.2f} GiB, no event kept")
    for name in DECODERS:
        result = _subprocess_memory(name, "chat", size, traced=False)
        speed = size / MB / result["seconds"]
        print(f"  {name:16} RSS delta {_mib(result['rss_delta']):>10}   ({speed:.0f} MB/s wall)")
    traced = _subprocess_memory("conformance.sse", "chat", size, traced=True)
    print(f"  conformance.sse  tracemalloc peak {_mib(traced['traced_peak'])}")
    # The hostile streams: one line of the full size (bytes past the line cap
    # are skipped fast); one event of 1 KiB data lines, four times the 16 MiB
    # event cap (each line takes the slow path, so not the full size).
    for stream, hostile in (("long-line", size), ("huge-event", 64 << 20)):
        what = f"{stream} ({_mib(hostile)})"
        rss = _subprocess_memory("conformance.sse", stream, hostile, traced=False)["rss_delta"]
        traced = _subprocess_memory("conformance.sse", stream, hostile, traced=True)
        peak = traced["traced_peak"]
        print(f"  conformance.sse  {what:23} RSS delta {_mib(rss)}, tracemalloc peak {_mib(peak)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=50.0, help="throughput stream size")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per decoder")
    parser.add_argument("--memory-gib", type=float, default=1.0, help="memory stream size")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument(
        "--compare", type=Path, help="also time the SSEDecoder of this file (another sse.py)"
    )
    parser.add_argument("--memory", choices=list(DECODERS), help=argparse.SUPPRESS)
    parser.add_argument("--stream", choices=list(_STREAMS), default="chat", help=argparse.SUPPRESS)
    parser.add_argument("--memory-bytes", type=int, default=GIB, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory:  # the subprocess side of a memory run
        print(json.dumps(measure_memory(args.memory, args.stream, args.memory_bytes, args.traced)))
        return
    print(f"python {sys.version.split()[0]}")
    _report_throughput(throughput(int(args.size_mb * MB), args.repeat, args.compare))
    if not args.no_memory:
        _report_memory(int(args.memory_gib * GIB))


if __name__ == "__main__":
    main()
