"""``exo-conformance judge`` and ``exo-conformance diff``: the commands beside a run.

``judge PATH [--scenario ID] [--request JSON] [pytest args]`` judges what was
recorded elsewhere, with no network: a directory written by ``--exo-record``,
one transcript file, or a stream captured with ``curl -N`` (``-i`` to keep the
headers).  ``diff A.json B.json`` compares two JSON reports rule by rule.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from .capture.archive import FORMAT, ArchiveError, load_file
from .capture.curl_capture import capture_file, parse_capture
from .report.diff import ReportError, compare, load_report, render
from .scenarios import CATALOG

__all__ = ["BODY_RULES", "diff_main", "judge_main"]

JUDGE_USAGE = """usage: exo-conformance judge PATH [--scenario ID] [--request JSON|@FILE] [...]

Judge recorded exchanges with no network.  PATH is a directory written by
--exo-record, one transcript file (schemas/transcript.schema.json), or a stream
captured with `curl -N -i ...` (or `curl -N`, the body alone: then only the body
rules run).  --scenario names what the capture is (default stream-basic);
--request gives the JSON body that was sent, so rules judge what was asked."""

DIFF_USAGE = """usage: exo-conformance diff A.json B.json

Compare two JSON reports (--exo-json) rule by rule: what newly fails in B, what
newly passes.  Exit 1 when B has a new MUST failure, 0 otherwise, 2 on bad input."""

#: What a body alone can be judged by: no rule that reads headers or the status.
BODY_RULES = ("sse.*", "stream.*", "chunk.*", "error.stream-event*", "client.*")
CAPTURE_URL = "http://capture.invalid"
MAX_CAPTURE_BYTES = 64 * 2**20


class _Usage(Exception):
    """A bad argument or input file, in one line."""


def _option(args: list[str], name: str, default: str | None) -> tuple[str | None, list[str]]:
    """The value of ``--name VALUE`` (or ``--name=VALUE``), and the other arguments."""
    rest: list[str] = []
    value = default
    it = iter(args)
    for arg in it:
        if arg == name:
            value = next(it, None)
            if value is None:
                raise _Usage(f"{name} needs a value")
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return value, rest


def _request(text: str | None) -> Any:
    if text is None:
        return None
    try:
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        return json.loads(raw)
    except OSError as exc:
        raise _Usage(f"--request {text}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _Usage(f"--request: not JSON ({exc})") from None


def _read_capped(path: Path) -> bytes:
    """A file's bytes, refused past MAX_CAPTURE_BYTES before reading (a symlink to an
    endless device reads at most the cap plus one byte)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CAPTURE_BYTES + 1)
    except OSError as exc:
        raise _Usage(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_CAPTURE_BYTES:
        raise _Usage(f"{path}: larger than {MAX_CAPTURE_BYTES} bytes")
    return raw


def _stage(path: Path, scenario: str, request: Any, into: Path) -> bool:
    """Put what ``path`` holds into ``into`` as transcript files; True when the
    headers are known (a transcript, or a capture with its head)."""
    if path.is_dir():
        for file in sorted(p for p in path.glob("*.json") if p.is_file()):
            (into / file.name).write_bytes(_read_capped(file))
        return True
    raw = _read_capped(path)
    if raw.lstrip().startswith(b"{") and FORMAT.encode() in raw[:4096]:
        try:
            load_file(path)
        except ArchiveError as exc:
            raise _Usage(str(exc)) from None
        (into / f"{path.stem}.json").write_bytes(raw)
        return True
    capture = parse_capture(raw)
    data = capture_file(capture, scenario=scenario, request=request, url=CAPTURE_URL)
    (into / f"{scenario}.json").write_text(json.dumps(data), encoding="utf-8")
    return capture.headers is not None


def judge_main(argv: list[str]) -> int:
    from .cli import EXIT_USAGE, exit_code_of

    if not argv or argv[0] in ("-h", "--help"):
        print(JUDGE_USAGE)
        return 0 if argv else EXIT_USAGE
    path, rest = Path(argv[0]), argv[1:]
    try:
        scenario, rest = _option(rest, "--scenario", "stream-basic")
        request_text, rest = _option(rest, "--request", None)
        assert scenario is not None
        if scenario not in CATALOG:
            raise _Usage(f"--scenario {scenario!r}: not a scenario (known: {', '.join(CATALOG)})")
        request = _request(request_text)
        if not path.exists():
            raise _Usage(f"{path}: no such file or directory")
        with tempfile.TemporaryDirectory(prefix="exo-conformance-judge-") as tmp:
            work = Path(tmp)
            staged = work / "transcripts"
            staged.mkdir()
            with_head = _stage(path, scenario, request, staged)
            (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
            args = [
                str(work),
                "-c",
                str(work / "pytest.ini"),
                "--rootdir",
                str(Path.cwd()),
                "-p",
                "no:cacheprovider",
                "--exo-replay",
                str(staged),
                *rest,
            ]
            if not with_head and not any(a.startswith("--exo-rules") for a in rest):
                print(
                    "exo-conformance: the capture has no headers (capture with curl -N -i): "
                    f"judging it by the body rules only ({', '.join(BODY_RULES)})"
                )
                for glob in BODY_RULES:
                    args += ["--exo-rules", glob]
            return exit_code_of(args)
    except _Usage as exc:
        print(f"exo-conformance judge: {exc}", file=sys.stderr)
        return EXIT_USAGE


def diff_main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(DIFF_USAGE)
        return 0
    if len(argv) != 2:
        print(f"exo-conformance diff: expected two reports\n\n{DIFF_USAGE}", file=sys.stderr)
        return 2
    try:
        a, b = (load_report(Path(p)) for p in argv)
        comparison = compare(a, b)
    except ReportError as exc:
        print(f"exo-conformance diff: {exc}", file=sys.stderr)
        return 2
    print(render(comparison, argv[0], argv[1]))
    return 1 if comparison.new_must_failures else 0
