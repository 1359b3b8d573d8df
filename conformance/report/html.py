"""The HTML of one rule's result: the failure layout, the wire bytes, the reproducer.

Pure functions to escaped HTML; the pytest-html hooks that place it in the
report live in :mod:`conformance.html_plugin`.  Everything a server
controlled is escaped here.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from ..capture.transcript import Transcript
from ..rules.registry import Rule, Verdict
from .curl import curl_command
from .failure import evidence
from .summary import VERDICT_PHRASE, defang
from .wire import show_bytes

__all__ = ["VERDICT_PHRASE", "defang", "html_extra", "rule_extra_html", "safe_href", "spec_link"]


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
    if rule.breaks:
        parts.append(_field("breaks", "; ".join(rule.breaks)))
    if transcript is not None:
        parts.append(_curl(transcript))
    parts.append("</dl>")
    return defang(str(redact("".join(parts))))


def html_extra(content: str) -> dict[str, Any]:
    # The shape pytest_html.extras.html() returns, built here so the module
    # imports without pytest-html.
    return {
        "name": "HTML",
        "format_type": "html",
        "content": content,
        "mime_type": None,
        "extension": None,
    }
