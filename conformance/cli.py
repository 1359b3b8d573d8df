"""``exo-conformance URL [pytest args]``: the suite alone, with an HTML report.

It runs pytest on an empty directory of its own, with that directory's empty
``pytest.ini`` as the ini file (``-c``), so the tests, conftest files and
settings of the directory it is called from take no part.  The root
directory is the one it is called from: pytest shows node IDs relative to the
root directory, so a root elsewhere (the temporary directory) would show
every item as ``../exo-conformance-XXXX/stream.done[stream-basic]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

__all__ = ["main"]

DEFAULT_HTML = "report.html"
USAGE = """usage: exo-conformance URL [pytest options]
       exo-conformance judge PATH [options]    (recorded exchanges, no network)
       exo-conformance diff A.json B.json      (two JSON reports, rule by rule)

Run the exo-conformance suite against URL (an OpenAI-compatible base URL such as
http://127.0.0.1:52415, or 'embedded' for the built-in reference server) and
write an HTML report (default: ./report.html; override with --html PATH).
Any other option is passed to pytest (for example --exo-model, --exo-json,
--exo-strict, --exo-rules 'stream.*', -n auto)."""


def _has(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def build_args(url: str, rest: list[str], workdir: Path) -> tuple[list[str], Path]:
    """The pytest arguments, and where the HTML report will be."""
    args = [
        str(workdir),
        "-c",
        str(workdir / "pytest.ini"),
        "--rootdir",
        str(Path.cwd()),
        "-p",
        "no:cacheprovider",
        "--exo-url",
        url,
        *rest,
    ]
    html = Path(DEFAULT_HTML).resolve()
    if _has(rest, "--html"):
        for i, arg in enumerate(rest):
            if arg == "--html" and i + 1 < len(rest):
                html = Path(rest[i + 1]).resolve()
            elif arg.startswith("--html="):
                html = Path(arg.split("=", 1)[1]).resolve()
    else:
        args += ["--html", str(html)]
    if not _has(rest, "--self-contained-html"):
        args.append("--self-contained-html")
    return args, html


#: Exit statuses of this command (docs/ci.md).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
#: pytest crashed: a harness bug (EX_SOFTWARE), kept apart from EXIT_UNREACHABLE.
EXIT_INTERNAL = 70

#: pytest's exit statuses mapped to the documented ones of this command.
_EXIT_CODES = {
    int(pytest.ExitCode.OK): EXIT_OK,
    int(pytest.ExitCode.TESTS_FAILED): EXIT_FAILED,
    int(pytest.ExitCode.USAGE_ERROR): EXIT_USAGE,
    int(pytest.ExitCode.INTERRUPTED): 130,
    int(pytest.ExitCode.NO_TESTS_COLLECTED): EXIT_USAGE,
}


class _Watch:
    """Sees the run's config, to tell an unreachable target from an internal error."""

    def __init__(self) -> None:
        self.unreachable = False

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from .plugin import RUN_KEY

        run = config.stash.get(RUN_KEY, None)
        self.unreachable = run is not None and bool(run.unreachable)


def _exit_code(code: int, *, unreachable: bool = False) -> int:
    """0: every MUST rule passes; 1: failures; 2: usage; 3: target unreachable."""
    if code == EXIT_UNREACHABLE:
        # pytest's own 3 is INTERNAL_ERROR; the plugin's 3 is an unreachable target.
        return EXIT_UNREACHABLE if unreachable else EXIT_INTERNAL
    return _EXIT_CODES.get(code, code)


def exit_code_of(args: list[str]) -> int:
    """Run pytest with ``args``; the documented exit status of this command."""
    watch = _Watch()
    return _exit_code(int(pytest.main(args, plugins=[watch])), unreachable=watch.unreachable)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("judge", "diff"):
        from .commands import diff_main, judge_main

        return judge_main(argv[1:]) if argv[0] == "judge" else diff_main(argv[1:])
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    url, rest = argv[0], argv[1:]
    if url.startswith("-"):
        print(
            f"exo-conformance: the first argument must be the URL, got {url!r}\n\n{USAGE}",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="exo-conformance-") as tmp:
        workdir = Path(tmp)
        (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        args, html = build_args(url, rest, workdir)
        watch = _Watch()
        code = _exit_code(int(pytest.main(args, plugins=[watch])), unreachable=watch.unreachable)
    if html.exists():
        print(f"exo-conformance: HTML report written to {html}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
