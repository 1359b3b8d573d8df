"""The HTML report (pytest-html plus the conformance extras), through pytester
against real loopback servers, and its pure parts (timeline, links) directly."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from conftest import ServerFactory
from wire import Conn, ThreadedServer

from conformance.capture import Event, from_bytes
from conformance.report.html import safe_href, spec_link
from conformance.report.summary import VERDICT_PHRASE, defang
from conformance.report.timeline import event_kind, nice_step, thin, timeline_svg

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
LIVE = ("<script>alert", "<img src=x", "onerror=alert(1)>")


def _run_report(pytester: pytest.Pytester, url: str, *args: str) -> tuple[str, dict[str, Any]]:
    """Run the suite with --html; the report's text and its decoded data blob."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest(
        "--exo-url", url, "--html", "r.html", "--self-contained-html", "-p", "no:randomly", *args
    )
    assert result.ret in (0, 1), result.stdout.str()
    text = (pytester.path / "r.html").read_text(encoding="utf-8")
    return text, _blob(text)


def _blob(text: str) -> dict[str, Any]:
    found = re.search(r'data-jsonblob="([^"]*)"', text)
    assert found is not None
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def _rows(blob: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The call row of every test, by test ID."""
    return {test_id: runs[-1] for test_id, runs in blob["tests"].items()}


def _extras(row: dict[str, Any]) -> str:
    return "".join(e["content"] for e in row["extras"] if e["format_type"] == "html")


def _summary(text: str) -> str:
    start = text.index('<div class="exo-summary">')
    return text[start : text.index('id="results-table"')]


# -- against the reference server --------------------------------------------


@pytest.mark.slow
def test_passing_run_says_it_conforms_and_hides_the_key(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    secret = "SECRET123-report-html-7f3a"
    url = reference_server("--api-key", secret, "--token-delay", "0.001")
    text, blob = _run_report(pytester, url, "--exo-api-key", secret)
    assert text.count(VERDICT_PHRASE) == 1
    assert "MUST failure" not in text
    summary = _summary(text)
    assert 'class="exo-matrix"' in summary and "No failing or warned rules." in summary
    assert summary.count('class="exo-timeline"') >= 3  # one per stream scenario
    assert secret not in text
    row = _rows(blob)["stream.done[stream-basic]"]
    extras = _extras(row)
    assert "Bearer $EXO_API_KEY" in html.unescape(extras)
    assert secret not in json.dumps(blob)
    cells = "".join(row["resultsTableRow"])
    for cell in (
        'class="col-rule">stream.done<',
        'class="col-level">MUST<',
        'class="col-scenario">stream-basic<',
        'class="col-outcome">passed<',
    ):
        assert cell in cells
    header = text[text.index('id="results-table-head"') :]
    for column in ("rule", "level", "scenario", "target"):
        assert f'data-column-type="{column}"' in header


@pytest.mark.slow
def test_failing_rule_shows_its_bytes_timeline_and_anchor(
    pytester: pytest.Pytester, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    text, blob = _run_report(pytester, url, "--exo-rules", "stream.*")
    assert VERDICT_PHRASE not in text
    summary = _summary(text)
    assert re.search(r'<p class="exo-verdict bad"[^>]*>verdict: \d+ MUST failures?</p>', summary)
    assert 'href="#stream.done%5Bstream-basic%5D"' in summary  # failures list -> row
    assert 'class="cell exo-o-failed"' in summary
    row = _rows(blob)["stream.done[stream-basic]"]
    assert row["result"] == "Failed"
    extras = _extras(row)
    for part in (
        "<dt>expected</dt>",
        "<dt>actual</dt>",
        "<dt>hint</dt>",
        "exo-wire",
        'class="exo-timeline"',
        "exo-mark exo-content",
        "<dt>reproduce</dt>",
    ):
        assert part in extras, part
    assert "exo-mark exo-done" not in extras  # the fault: no [DONE] mark on the timeline
    wire = re.search(r'<pre class="exo-wire">(.*?)</pre>', extras, re.S)
    assert wire is not None and "\\n\n" in wire.group(1)  # line ends made visible
    spec = re.search(r'<dd><a href="([^"]+)" rel="noopener noreferrer">', extras)
    assert spec is not None and spec.group(1).startswith("https://")
    # Self-contained: nothing is fetched (spec links are plain anchors in the data).
    assert not re.search(r'src="(https?:)?//|url\((https?:)?//', text)
    assert not re.search(r'href="(https?:)?//', _summary(text))


# -- against a hostile server --------------------------------------------------


def _hostile_body(auth: str) -> list[bytes]:
    texts = [SCRIPT, IMG, f" {VERDICT_PHRASE} ", f" key {auth} "]
    chunks = [{"role": "assistant", "content": ""}, *({"content": t} for t in texts)]
    events = [
        json.dumps(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": d, "finish_reason": None}],
            }
        )
        for d in chunks
    ]
    return [f"data: {e}\n\n".encode() for e in events]  # no finish, no [DONE]


async def _hostile(conn: Conn) -> None:
    request = conn.request
    auth = request.header("authorization") or ""
    heads = [("Content-Type", "text/event-stream"), ("X-Echo", f"{IMG} {auth}")]
    if request.target.endswith("/v1/models"):
        body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]})
        heads = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        await conn.send_head(200, heads)
        await conn.send(body.encode())
        return
    asked: Any = json.loads(request.body or b"{}")
    if not (isinstance(asked, dict) and asked.get("stream")):
        body = json.dumps(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": f"{SCRIPT}{IMG} {auth}"},
                    }
                ],
            }
        )
        heads = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        await conn.send_head(200, heads)
        await conn.send(body.encode())
        return
    await conn.send_head(200, heads, chunked=True)
    for event in _hostile_body(auth):
        await conn.send_chunk(event)
    await conn.end_chunks()


@pytest.mark.slow
def test_server_text_is_escaped_and_the_key_redacted(pytester: pytest.Pytester) -> None:
    secret = "SECRET123-hostile-91bd"
    with ThreadedServer(_hostile) as server:
        text, blob = _run_report(
            pytester,
            server.url,
            "--exo-api-key",
            secret,
            "--exo-rules",
            "stream.*",
            "--exo-rules",
            "headers.*",
            "--exo-timeout",
            "10",
        )
    everything = text + json.dumps(blob)
    assert secret not in everything
    assert VERDICT_PHRASE not in text  # the server cannot fake the passing verdict
    for live in LIVE:
        assert live not in text
    # Each piece of markup pytest-html inserts as HTML is escaped server text.
    for row in _rows(blob).values():
        pieces = [*row["resultsTableRow"], row.get("log", ""), _extras(row)]
        for piece in pieces:
            for live in LIVE:
                assert live not in piece, (live, piece[:300])
    extras = _extras(_rows(blob)["stream.done[stream-basic]"])
    assert html.escape(SCRIPT) in extras  # shown, as text, in a timeline tooltip
    assert "&lt;img src=x onerror=alert(1)&gt;" in extras


# -- pure parts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://platform.openai.com/docs/x", True),
        ("http://example.org/a?b#c", True),
        ("docs/rules.md#stream-done", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<b>", False),
        ("//evil.example/x", False),
        ("java\tscript:alert(1)", False),
        ("", False),
    ],
)
def test_spec_links_only_http_or_relative(url: str, safe: bool) -> None:
    assert (safe_href(url) is not None) is safe
    link = spec_link(url)
    assert link.startswith("<a ") is safe
    assert "<b>" not in link


def test_defang_keeps_the_verdict_phrase_out_of_server_text() -> None:
    assert VERDICT_PHRASE not in defang(f"x {VERDICT_PHRASE} y")


def test_timeline_marks_each_kind_and_escapes_tooltips() -> None:
    body = (
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n: ping\n\n'
        b'data: {"choices":[{"delta":{"content":"<script>alert(1)</script>"}}]}\n\n'
        b'data: {"choices":[],"usage":{"total_tokens":1}}\n\n'
        b'data: {"error":{"message":"\\"><img src=x onerror=alert(1)>"}}\n\ndata: [DONE]\n\n'
    )
    svg = timeline_svg(from_bytes(body), secrets=["alert"])
    for kind in ("role", "content", "usage", "comment", "error", "done", "headers", "read"):
        assert f"exo-mark exo-{kind}" in svg, kind
    assert "<title>" in svg and "<script" not in svg and "<img" not in svg
    assert "alert(1)" not in svg  # redacted inside tooltips too
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "http" not in svg


def test_timeline_thins_long_streams_and_keeps_rare_marks() -> None:
    body = b"".join(b'data: {"choices":[{"delta":{"content":"w"}}]}\n\n' for _ in range(6000))
    svg = timeline_svg(from_bytes(body + b"data: [DONE]\n\n"), max_marks=2000)
    assert svg.count("exo-mark") <= 2100
    assert svg.count("exo-mark exo-done") == 1
    assert "showing" in svg


def test_timeline_shows_buffering_in_its_caption() -> None:
    events = b"".join(b'data: {"choices":[{"delta":{"content":"w"}}]}\n\n' for _ in range(20))
    spread = timeline_svg(from_bytes(events))
    bunched = from_bytes(events)
    late = tuple(
        Event(e.type, e.data, e.id, e.retry, e.offset, e.end, bunched.t_end_ns - 10)
        for e in bunched.events
    )
    buffered = timeline_svg(bunched.__class__(**{**_fields(bunched), "events": late}))
    assert "100% of events in the last tenth" in buffered
    assert "100% of events" not in spread


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def test_event_kinds_and_axis_steps() -> None:
    assert event_kind(Event(data="[DONE]")) == "done"
    assert event_kind(Event(data="not json")) == "chunk"
    assert event_kind(Event(data='{"choices":[{"delta":{}, "finish_reason":"stop"}]}')) == "chunk"
    assert [nice_step(s) for s in (8.0, 100.0, 1234.0, 0.3)] == [1.0, 20.0, 200.0, 0.05]
    assert thin([], 10) == []


def test_the_summary_has_one_matrix_per_api() -> None:
    from conformance.report.summary import summary_html
    from conformance.results import Result, RunInfo

    results = [
        Result("stream.done", "MUST", "stream-basic", "t", "passed", api="chat"),
        Result("messages.blocks", "MUST", "messages-tools", "t", "failed", api="messages"),
        Result("ollama.lines", "MUST", "ollama-stream", "t", "passed", api="ollama"),
    ]
    summary = summary_html(results, RunInfo("0"))
    for api, rule, other in [
        ("chat", "stream.done", "messages-tools"),
        ("messages", "messages.blocks", "ollama-stream"),
        ("ollama", "ollama.lines", "stream-basic"),
    ]:
        start = summary.index(f"Rules \u00d7 scenarios: {api}")
        table = summary[start : summary.index("</table>", start)]
        assert rule in table and other not in table
