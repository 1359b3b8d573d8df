"""A stream captured with ``curl -N`` (or ``curl -N -i``), as a transcript file.

``curl -N -i`` writes the status line and headers, a blank line, then the body
as it arrived (curl undoes chunked encoding).  Without ``-i`` the file is the
body alone.  A capture holds no timing: the whole body is one read at time 0,
so timing rules see an instant stream and skip, saying so.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from .archive import FORMAT, VERSION

__all__ = ["Capture", "capture_file", "parse_capture"]

_STATUS = re.compile(rb"^HTTP/(\d(?:\.\d)?) (\d{3})(?: [^\r\n]*)?\r?\n")


@dataclass(frozen=True, slots=True)
class Capture:
    status: int
    http_version: str
    #: None when the capture holds the body alone (no ``-i``)
    headers: tuple[tuple[str, str], ...] | None
    body: bytes


def parse_capture(raw: bytes) -> Capture:
    """The status, headers and body of a ``curl -N [-i]`` capture."""
    head: tuple[tuple[str, str], ...] | None = None
    status, version = 200, "HTTP/1.1"
    while (m := _STATUS.match(raw)) is not None:
        end = _head_end(raw)
        if end is None:
            break
        version, status = f"HTTP/{m.group(1).decode()}", int(m.group(2))
        lines = raw[m.end() : end].decode("latin-1").splitlines()
        head = tuple(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines) if k
        )
        raw = _after_blank(raw, end)
        if status >= 200:  # 1xx heads (100 Continue) come before the real one
            break
    return Capture(status, version, head, raw)


def _head_end(raw: bytes) -> int | None:
    """Where the blank line that ends a head starts, or None."""
    found = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(found) if found else None


def _after_blank(raw: bytes, end: int) -> bytes:
    return raw[end + 4 :] if raw[end : end + 4] == b"\r\n\r\n" else raw[end + 2 :]


def capture_file(capture: Capture, *, scenario: str, request: Any, url: str) -> dict[str, Any]:
    """The transcript file (``schemas/transcript.schema.json``) of a capture."""
    body = json.dumps(request).encode() if request is not None else b""
    model = request.get("model", "") if isinstance(request, dict) else ""
    headers = [list(h) for h in capture.headers] if capture.headers is not None else []
    return {
        "format": FORMAT,
        "version": VERSION,
        "target": {"url": url, "label": url, "model": str(model)},
        "transcript": {
            "scenario": scenario,
            "target": url,
            "request": {
                "method": "POST",
                "url": f"{url}/v1/chat/completions",
                "headers": [],
                "body": base64.b64encode(body).decode("ascii"),
            },
            "status": capture.status,
            "http_version": capture.http_version,
            "headers": headers,
            "body": base64.b64encode(capture.body).decode("ascii"),
        },
    }
