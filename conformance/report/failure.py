"""The one failure layout used everywhere: terminal, HTML, JSON messages.

rule ID and level, requirement, expected, actual, the bytes that show it, fix
hint, spec link, the clients known to break and a curl command that
reproduces the request.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ..capture.redact import redact
from ..capture.transcript import Transcript
from ..rules.registry import Rule, Verdict
from ..scenarios.proxy import UPSTREAM
from .curl import curl_command
from .wire import show_bytes

__all__ = ["evidence", "format_failure"]


def evidence(verdict: Verdict, transcript: Transcript) -> tuple[int, bytes] | None:
    """(start offset, bytes) of the body around the verdict's offset, if it has one."""
    if verdict.offset is None:
        return None
    source = transcript.other(verdict.source) if verdict.source else transcript
    if source is None:
        return None
    start = max(0, verdict.offset - 120)
    return start, source.bytes_around(verdict.offset)


def _upstream_evidence(rule: Rule, verdict: Verdict, transcript: Transcript) -> list[str]:
    """For a proxy rule: the upstream's bytes at the same offset (the same request,
    sent directly), beside the proxy's."""
    upstream = transcript.other(UPSTREAM) if rule.group == "proxy" else None
    if upstream is None or verdict.offset is None or verdict.source:
        return []
    start = max(0, min(verdict.offset, len(upstream.body)) - 120)
    data = upstream.bytes_around(min(verdict.offset, len(upstream.body)))
    head = f"upstream bytes {start}-{start + len(data)} (the same request, sent directly):"
    return [head, textwrap.indent(show_bytes(data), "    | ")]


def _field(name: str, value: str) -> str:
    lines = value.splitlines() or [""]
    head = f"{name + ':':<13}{lines[0]}"
    rest = [" " * 13 + line for line in lines[1:]]
    return "\n".join([head, *rest])


def format_failure(
    rule: Rule,
    verdict: Verdict,
    transcript: Transcript,
    *,
    secrets: Sequence[str] = (),
) -> str:
    out = [
        f"{rule.id}  {rule.level}  [{transcript.scenario}]  {transcript.target}",
        _field("requirement", rule.requirement),
        _field("expected", verdict.expected or "-"),
        _field("actual", verdict.actual or verdict.message or "-"),
    ]
    found = evidence(verdict, transcript)
    if found is not None:
        start, data = found
        out.append(f"bytes {start}-{start + len(data)}:")
        out.append(textwrap.indent(show_bytes(data), "    | "))
    out += _upstream_evidence(rule, verdict, transcript)
    out.append(_field("hint", rule.hint))
    out.append(_field("spec", rule.spec))
    if rule.breaks:
        out.append(_field("breaks", "\n".join(rule.breaks)))
    request = transcript.request
    if request.url:
        with_key = any(k.lower() == "authorization" for k, _ in request.headers)
        out.append(_field("reproduce", curl_command(request, with_key=with_key)))
    return redact("\n".join(out), secrets)
