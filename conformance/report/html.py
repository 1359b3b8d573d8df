"""pytest-html integration: conformance columns, per-rule extras and the summary.

Registered by the plugin only when pytest-html writes a report (``--html``).
Extras are attached to the report in ``pytest_runtest_makereport`` as plain
strings, so they survive xdist's report serialization; the summary at the top
is built on the controller from the run's results and the stream timelines
the reports carry.

Everything a server controlled is escaped here, and every string passes
through the run's redaction before it is written.
"""

from __future__ import annotations

import html
from collections.abc import Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from .. import __version__
from ..capture.transcript import Transcript
from ..items import RuleItem
from ..rules.registry import Rule, Verdict
from .curl import curl_command
from .failure import evidence
from .summary import VERDICT_PHRASE, Environment, StreamView, defang, summary_html
from .timeline import caption, is_stream, timeline_svg
from .wire import show_bytes

if TYPE_CHECKING:
    from ..run import ConformanceRun

__all__ = ["VERDICT_PHRASE", "HtmlReport", "defang", "rule_extra_html", "safe_href"]

_COLUMNS = ("rule", "level", "scenario", "target", "outcome")
_TITLES = {"outcome": "Conformance"}


def safe_href(url: str) -> str | None:
    """``url`` if it is http(s) or a relative path, else None (no javascript: links)."""
    text = url.strip()
    if not text or any(ord(ch) < 0x21 for ch in text):
        return None
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        return text
    if not parts.scheme and not parts.netloc and not text.startswith("//"):
        return text
    return None


def spec_link(spec: str) -> str:
    """The spec as an anchor when its address is safe, else as plain text."""
    href = safe_href(spec)
    label = html.escape(spec)
    if href is None:
        return label
    return f'<a href="{html.escape(href, quote=True)}" rel="noopener noreferrer">{label}</a>'


def _field(name: str, value: str) -> str:
    return f"<dt>{html.escape(name)}</dt><dd>{html.escape(value)}</dd>"


def _pre(name: str, text: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<dt>{html.escape(name)}</dt><dd><pre{cls}>{html.escape(text)}</pre></dd>"


def _wire_block(verdict: Verdict, transcript: Transcript) -> str:
    found = evidence(verdict, transcript)
    if found is not None:
        start, data = found
        return _pre(f"bytes {start}-{start + len(data)}", show_bytes(data), "exo-wire")
    if verdict.outcome != "failed":
        return ""
    status = f"HTTP {transcript.status}" if transcript.status is not None else "no response"
    lines = [status, *(f"{k}: {v}" for k, v in transcript.headers[:40])]
    return _pre("response head", show_bytes("\n".join(lines).encode()), "exo-wire")


def _curl(transcript: Transcript) -> str:
    request = transcript.request
    if not request.url:
        return ""
    with_key = any(k.lower() == "authorization" for k, _ in request.headers)
    return _pre("reproduce", curl_command(request, with_key=with_key), "exo-curl")


def rule_extra_html(
    rule: Rule, verdict: Verdict | None, transcript: Transcript | None, *, outcome: str, redact: Any
) -> str:
    """The failure layout (or, for a pass, what was checked) as escaped HTML."""
    parts = [
        f'<dl class="exo-rule exo-{html.escape(outcome)}">',
        _field("rule", f"{rule.id}  {rule.level}"),
        _field("requirement", rule.requirement),
    ]
    if verdict is not None and verdict.outcome == "failed":
        parts.append(_field("expected", verdict.expected or "-"))
        parts.append(_field("actual", verdict.actual or verdict.message or "-"))
    elif verdict is not None and verdict.message:
        parts.append(_field("note", verdict.message))
    if verdict is not None and transcript is not None:
        parts.append(_wire_block(verdict, transcript))
    parts.append(_field("hint", rule.hint))
    parts.append(f"<dt>spec</dt><dd>{spec_link(rule.spec)}</dd>")
    if transcript is not None:
        parts.append(_curl(transcript))
    parts.append("</dl>")
    return defang(str(redact("".join(parts))))


def _extra(content: str) -> dict[str, Any]:
    # The shape pytest_html.extras.html() returns, built here so the module
    # imports without pytest-html.
    return {
        "name": "HTML",
        "format_type": "html",
        "content": content,
        "mime_type": None,
        "extension": None,
    }


def _props(report: pytest.TestReport) -> dict[str, Any]:
    return dict(report.user_properties)


class HtmlReport:
    """pytest-html hooks for the conformance suite."""

    def __init__(self, run: ConformanceRun) -> None:
        self.run = run
        #: (target, scenario) of streams whose timeline a report already carries
        self._drawn: set[tuple[str, str]] = set()
        self.streams: dict[tuple[str, str], StreamView] = {}

    def _redact(self, text: str) -> str:
        return self.run.redact(text)

    # -- per item ----------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if isinstance(item, RuleItem) and report.when == "call":
            extras = list(getattr(report, "extras", []))
            extras.extend(self._item_extras(item))
            report.extras = extras  # type: ignore[attr-defined]
            self._carry_stream(item, report)
        return report

    def _timeline(self, transcript: Transcript) -> str:
        svg = timeline_svg(transcript, secrets=self.run.settings.secrets)
        return defang(self._redact(svg))

    def _item_extras(self, item: RuleItem) -> list[dict[str, Any]]:
        outcome = item.exo_outcome if item.verdict is not None else "error"
        content = rule_extra_html(
            item.rule, item.verdict, item.transcript, outcome=outcome, redact=self._redact
        )
        extras = [_extra(content)]
        transcript = item.transcript
        if (
            outcome in ("failed", "warned", "error", "known")
            and transcript is not None
            and is_stream(transcript)
        ):
            extras.append(_extra(f'<div class="exo-tl">{self._timeline(transcript)}</div>'))
        return extras

    def _carry_stream(self, item: RuleItem, report: pytest.TestReport) -> None:
        """The first report of each stream carries its timeline to the summary
        (as a plain attribute, so it crosses from xdist workers too)."""
        transcript = item.transcript
        if transcript is None or not is_stream(transcript):
            return
        target = str(dict(item.user_properties).get("target", item.target.url))
        key = (target, item.scenario)
        if key in self._drawn:
            return
        self._drawn.add(key)
        report.exo_stream = {  # type: ignore[attr-defined]
            "target": target,
            "scenario": item.scenario,
            "caption": self._redact(caption(transcript)),
            "svg": self._timeline(transcript),
        }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "exo_stream", None)
        if isinstance(data, dict):
            view = StreamView(
                str(data["target"]), str(data["scenario"]), str(data["caption"]), str(data["svg"])
            )
            self.streams.setdefault((view.target, view.scenario), view)

    # -- the summary -------------------------------------------------------

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        run = self.run
        env = Environment(
            targets=tuple((t.url, t.model) for t in run.targets),
            version=__version__,
            started_at=run.started_at,
            duration_s=run.duration_s,
            strict=run.settings.strict,
        )
        prefix.append(self._redact(summary_html(run.results, env, list(self.streams.values()))))

    # -- the results table -------------------------------------------------

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        heads = [
            f'<th class="sortable" data-column-type="{c}">{_TITLES.get(c, c.title())}</th>'
            for c in _COLUMNS
        ]
        cells[2:2] = heads

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        props = _props(report)
        values = [self._redact(str(props.get(c, ""))) for c in _COLUMNS]
        if "rule" in props and not values[-1]:
            values[-1] = "error" if report.failed else report.outcome
        row = [
            f'<td class="col-{c}">{html.escape(v)}</td>'
            for c, v in zip(_COLUMNS, values, strict=True)
        ]
        cells[2:2] = row

    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        data[:] = [defang(self._redact(chunk)) for chunk in data]
