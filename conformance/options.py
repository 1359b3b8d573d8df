"""Command-line options, their environment variables and ini keys.

Each option is data: its flag, env var, ini key, default and help.  The
resolved values land in one typed :class:`Settings`; any bad value becomes a
one-line :class:`pytest.UsageError`, never a traceback.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest

from .apis import choose

__all__ = ["EMBEDDED", "OPTIONS", "Option", "Settings", "add_options", "read_settings"]

EMBEDDED = "embedded"


@dataclass(frozen=True)
class Option:
    flag: str
    env: str | None
    help: str
    default: str | None = None
    is_flag: bool = False
    repeat: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(
        "--exo-url",
        "EXO_URL",
        "base URL of an OpenAI-compatible endpoint to test, or 'embedded' for the "
        "built-in reference server; repeat for several targets",
        repeat=True,
    ),
    Option(
        "--exo-model",
        "EXO_MODEL",
        "model to request (default: the first listed model that answers)",
    ),
    Option("--exo-api-key", "EXO_API_KEY", "API key, sent as a Bearer token, never printed"),
    Option("--exo-timeout", "EXO_TIMEOUT", "total deadline of one exchange, in seconds", "120"),
    Option("--exo-strict", "EXO_STRICT", "SHOULD failures fail the run", is_flag=True),
    Option(
        "--exo-rules", "EXO_RULES", "run only rule IDs matching this glob (repeatable)", repeat=True
    ),
    Option("--exo-baseline", "EXO_BASELINE", "TOML file of known deviations"),
    Option(
        "--exo-write-baseline",
        "EXO_WRITE_BASELINE",
        "write a baseline covering this run's failures to this TOML file",
    ),
    Option("--exo-json", "EXO_JSON", "write the JSON conformance report to this path"),
    Option("--exo-concurrency", "EXO_CONCURRENCY", "concurrent streams in the isolation test", "2"),
    Option("--exo-max-body", "EXO_MAX_BODY", "cap on one response body, in MiB", "16"),
    Option(
        "--exo-parallel",
        "EXO_PARALLEL",
        "exchanges in flight at once per target outside the concurrency scenarios "
        "(default 1: each exchange is recorded undisturbed)",
        "1",
    ),
    Option(
        "--exo-upstream",
        "EXO_UPSTREAM",
        "with one --exo-url (a proxy): also record every scenario directly against this "
        "upstream URL, and judge what the proxy changed (proxy.* rules)",
    ),
    Option("--exo-record", "EXO_RECORD", "write every recorded transcript to this directory"),
    Option(
        "--exo-replay",
        "EXO_REPLAY",
        "judge the transcripts in this directory (written by --exo-record), with no network",
    ),
    Option(
        "--exo-api",
        "EXO_API",
        "API to test: auto (chat plus each other API the endpoint serves), chat, "
        "responses, messages, ollama or all (repeatable)",
        repeat=True,
    ),
    Option(
        "--exo-repeat",
        "EXO_REPEAT",
        "record every scenario this many times; a rule fails if it fails on any repetition",
        "1",
    ),
    Option(
        "--exo-load",
        "EXO_LOAD",
        "the load scenario: this many concurrent streams, a new request as each ends "
        "(default: off)",
    ),
    Option(
        "--exo-load-duration",
        "EXO_LOAD_DURATION",
        "how long the load scenario runs, in seconds",
        "30",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("exo-conformance", "OpenAI-compatible streaming conformance")
    for opt in OPTIONS:
        if opt.is_flag:
            group.addoption(opt.flag, action="store_true", default=None, help=opt.help)
        elif opt.repeat:
            group.addoption(opt.flag, action="append", default=None, metavar="VALUE", help=opt.help)
        else:
            group.addoption(opt.flag, default=None, metavar="VALUE", help=opt.help)
        kind: Literal["linelist", "bool", "string"] = (
            "linelist" if opt.repeat else ("bool" if opt.is_flag else "string")
        )
        parser.addini(opt.dest, opt.help, type=kind, default=None)


@dataclass(frozen=True)
class Settings:
    urls: tuple[str, ...] = ()
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 120.0
    strict: bool = False
    rules: tuple[str, ...] = ()
    baseline: Path | None = None
    write_baseline: Path | None = None
    json_path: Path | None = None
    concurrency: int = 2
    max_body_bytes: int = 16 * 2**20
    parallel: int = 1
    upstream: str | None = None
    record_dir: Path | None = None
    replay_dir: Path | None = None
    #: the ``--exo-api`` values, checked (``auto`` when none given)
    apis: tuple[str, ...] = ("auto",)
    repeat: int = 1
    #: concurrent streams of the load scenario (0: no load scenario)
    load: int = 0
    load_duration: float = 30.0

    @property
    def active(self) -> bool:
        return bool(self.urls) or self.replay_dir is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()


def _raw(config: pytest.Config, opt: Option) -> Any:
    """Command line first, then the environment, then the ini file."""
    value = config.getoption(opt.dest)
    if value is not None:
        return value
    if opt.env and opt.env in os.environ:
        env = os.environ[opt.env]
        if opt.is_flag:
            return env.strip().lower() in ("1", "true", "yes", "on")
        return env.split() if opt.repeat else env
    ini = config.getini(opt.dest)
    if ini not in (None, "", []):
        return ini
    if opt.default is None:
        return None
    return [opt.default] if opt.repeat else opt.default


def _positive(name: str, text: str, cast: type[float] | type[int]) -> Any:
    try:
        value = cast(text)
    except ValueError:
        raise pytest.UsageError(f"{name}: expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise pytest.UsageError(f"{name}: expected a positive number, got {text!r}")
    return value


def check_url(url: str) -> str:
    """The URL normalised (no trailing slash), or a one-line usage error."""
    if url == EMBEDDED:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(
            f"--exo-url {url!r} is not an http(s) URL (example: http://127.0.0.1:52415, "
            "or 'embedded')"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise pytest.UsageError(f"--exo-url {url!r} has an invalid port") from None
    if parts.query or parts.fragment:
        raise pytest.UsageError(f"--exo-url {url!r}: give the base URL, without ? or #")
    url = url.rstrip("/")
    # Users often paste the API root; the suite adds /v1 itself.
    return url.removesuffix("/v1")


def check_apis(values: list[str] | None) -> tuple[str, ...]:
    """The --exo-api values (commas split them too), or a one-line usage error."""
    names = tuple(n.strip().lower() for v in values or () for n in v.split(",") if n.strip())
    try:
        choose(names)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    return names or ("auto",)


def read_settings(config: pytest.Config) -> Settings:
    values = {opt.dest: _raw(config, opt) for opt in OPTIONS}
    urls = tuple(dict.fromkeys(check_url(u) for u in values["exo_url"] or ()))
    baseline = values["exo_baseline"]
    json_path = values["exo_json"]
    return Settings(
        urls=urls,
        model=values["exo_model"] or None,
        api_key=values["exo_api_key"] or None,
        timeout=_positive("--exo-timeout", str(values["exo_timeout"]), float),
        strict=bool(values["exo_strict"]),
        rules=tuple(values["exo_rules"] or ()),
        baseline=Path(baseline) if baseline else None,
        write_baseline=Path(values["exo_write_baseline"]) if values["exo_write_baseline"] else None,
        json_path=Path(json_path) if json_path else None,
        concurrency=_positive("--exo-concurrency", str(values["exo_concurrency"]), int),
        max_body_bytes=int(_positive("--exo-max-body", str(values["exo_max_body"]), float) * 2**20),
        parallel=_positive("--exo-parallel", str(values["exo_parallel"]), int),
        **_proxy_and_files(values, urls),
        apis=check_apis(values["exo_api"]),
        repeat=_positive("--exo-repeat", str(values["exo_repeat"]), int),
        load=_positive("--exo-load", str(values["exo_load"]), int) if values["exo_load"] else 0,
        load_duration=_positive("--exo-load-duration", str(values["exo_load_duration"]), float),
    )


def _proxy_and_files(values: dict[str, Any], urls: tuple[str, ...]) -> dict[str, Any]:
    """--exo-upstream, --exo-record and --exo-replay, checked against each other."""
    upstream = values["exo_upstream"] or None
    record = Path(values["exo_record"]) if values["exo_record"] else None
    replay = Path(values["exo_replay"]) if values["exo_replay"] else None
    if upstream is not None:
        if len(urls) != 1:
            raise pytest.UsageError(
                "--exo-upstream needs exactly one --exo-url (the proxy in front of it)"
            )
        try:
            upstream = check_url(upstream)
        except pytest.UsageError as exc:
            raise pytest.UsageError(str(exc).replace("--exo-url", "--exo-upstream", 1)) from None
        if upstream == EMBEDDED:
            raise pytest.UsageError("--exo-upstream needs an http(s) URL, not 'embedded'")
    if replay is not None:
        if urls or upstream:
            raise pytest.UsageError(
                "--exo-replay judges recorded transcripts: give no --exo-url or --exo-upstream"
            )
        if not replay.is_dir():
            raise pytest.UsageError(f"--exo-replay {str(replay)!r} is not a directory")
        if record is not None:
            raise pytest.UsageError("--exo-replay and --exo-record cannot be used together")
    return {"upstream": upstream, "record_dir": record, "replay_dir": replay}
