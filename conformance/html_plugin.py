"""pytest-html integration: conformance columns, per-rule extras and the summary.

Registered by the plugin only when pytest-html writes a report (``--html``).
Extras are attached to the report in ``pytest_runtest_makereport`` as plain
strings, so they survive xdist's report serialization; the summary at the top
is built on the controller from the run's results and the stream timelines
the reports carry.  The HTML itself comes from :mod:`conformance.report`;
every string passes through the run's redaction before it is written.
"""

from __future__ import annotations

import html
from collections.abc import Generator
from typing import Any

import pytest

from .capture.transcript import Transcript
from .items import RuleItem
from .report.html import defang, html_extra, rule_extra_html
from .report.summary import StreamView, summary_html, title_of
from .report.timeline import caption, is_stream, timeline_svg
from .run import ConformanceRun

__all__ = ["HtmlReport"]

_COLUMNS = ("rule", "level", "scenario", "target", "outcome")
_TITLES = {"outcome": "Conformance"}


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
        outcome = str(item.exo_outcome) if item.verdict is not None else "error"
        content = rule_extra_html(
            item.rule, item.verdict, _transcript(item), outcome=outcome, redact=self._redact
        )
        extras = [html_extra(content)]
        transcript = _transcript(item)
        if (
            outcome in ("failed", "warned", "error", "known")
            and transcript is not None
            and is_stream(transcript)
        ):
            extras.append(html_extra(f'<div class="exo-tl">{self._timeline(transcript)}</div>'))
        return extras

    def _carry_stream(self, item: RuleItem, report: pytest.TestReport) -> None:
        """The first report of each stream carries its timeline to the summary
        (as a plain attribute, so it crosses from xdist workers too)."""
        transcript = _transcript(item)
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
        html_summary = summary_html(self.run.results, self.run.info(), list(self.streams.values()))
        prefix.append(self._redact(html_summary))

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = self._redact(title_of(self.run.info()))

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


def _transcript(item: RuleItem) -> Transcript | None:
    return item.view.transcript if item.view is not None else None
