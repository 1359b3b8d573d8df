"""Transcripts on disk: what ``--exo-record`` writes and ``--exo-replay`` reads.

One JSON file per recorded scenario (its related exchanges inside it),
described by ``schemas/transcript.schema.json``::

    {"format": "exo-conformance-transcript", "version": 1,
     "target": {"url": "...", "label": "...", "model": "..."},
     "transcript": {<Transcript.to_json()>}}

Bodies are base64 (``body``), or UTF-8 text (``body_text``) in files written
by hand.  ``events``, ``comments`` and ``diagnostics`` may be left out: they
are then decoded from the body with the recorder's SSE decoder, each event
stamped with the time of the read that completed it.  A file is untrusted
input: its size is capped, and any problem is one :class:`ArchiveError` line
naming the file.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..schemas import validate
from .redact import redact
from .sse import SSEDecoder
from .transcript import Event, Read, Transcript

__all__ = [
    "FORMAT",
    "MAX_FILE_BYTES",
    "VERSION",
    "ArchiveError",
    "Recorded",
    "decode_events",
    "file_name",
    "load_dir",
    "load_file",
    "write_file",
]

FORMAT = "exo-conformance-transcript"
VERSION = 1
#: A replayed file larger than this is refused: 64 MiB of base64 is 48 MiB of body.
MAX_FILE_BYTES = 64 * 2**20


class ArchiveError(Exception):
    """A transcript file that cannot be read, in one line."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One file's content: the target it was recorded from and its transcript."""

    url: str
    label: str
    model: str
    transcript: Transcript


def file_name(scenario: str, label: str, several: bool, repetition: int | None = None) -> str:
    """``stream-basic.json``, or ``<target>--stream-basic.json`` with several targets;
    with ``--exo-repeat``, ``stream-basic.3.json`` for the fourth recording."""
    stem = scenario if repetition is None else f"{scenario}.{repetition}"
    if not several:
        return f"{stem}.json"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", label.split("://", 1)[-1]).strip("_")
    return f"{slug}--{stem}.json"


def write_file(
    directory: Path,
    recorded: Recorded,
    *,
    several: bool,
    secrets: tuple[str, ...] = (),
    repetition: int | None = None,
) -> Path:
    """Write one transcript; request headers are already masked by the recorder,
    and any secret left in the text is masked once more."""
    directory.mkdir(parents=True, exist_ok=True)
    t = recorded.transcript
    data = {
        "format": FORMAT,
        "version": VERSION,
        "target": {"url": recorded.url, "label": recorded.label, "model": recorded.model},
        "transcript": t.to_json(),
    }
    path = directory / file_name(t.scenario, recorded.label, several, repetition)
    text = json.dumps(data, indent=1, ensure_ascii=False)
    path.write_text(redact(text, secrets), encoding="utf-8")
    return path


def load_dir(directory: Path) -> list[Recorded]:
    """Every ``*.json`` transcript file in ``directory``, sorted by name."""
    files = sorted(p for p in directory.glob("*.json") if p.is_file())
    if not files:
        raise ArchiveError(f"{directory}: no transcript files (*.json) to replay")
    return [load_file(p) for p in files]


def load_file(path: Path) -> Recorded:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ArchiveError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} cap")
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(f"{path}: not JSON: {exc}") from None
    try:
        return _recorded(data)
    except ArchiveError as exc:
        raise ArchiveError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ArchiveError(f"{path}: not a transcript file ({what})") from None


def _recorded(data: Any) -> Recorded:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArchiveError(f'not a transcript file: "format" must be "{FORMAT}"')
    if data.get("version") != VERSION:
        raise ArchiveError(f"transcript format version {data.get('version')!r}, expected {VERSION}")
    problems = validate("transcript", data, limit=1)
    if problems:
        raise ArchiveError(f"not a valid transcript file: {problems[0].message}")
    target = data.get("target") or {}
    t = _transcript(data["transcript"])
    url = str(target.get("url") or t.target)
    return Recorded(url, str(target.get("label") or url), str(target.get("model") or ""), t)


_DEFAULTS: Mapping[str, Any] = {
    "target": "",
    "http_version": "HTTP/1.1",
    "headers": [],
    "body": "",
    "reads": [],
    "ending": "complete",
    "ending_detail": "",
    "t_headers_ns": None,
    "t_end_ns": 0,
    "truncated": False,
    "related": [],
}


def _transcript(raw: dict[str, Any]) -> Transcript:
    """A transcript from its JSON form, filling what a hand-written file may leave out."""
    if not isinstance(raw, dict):
        raise TypeError("transcript must be an object")
    data = {**_DEFAULTS, **raw}
    if "body_text" in raw:
        data["body"] = base64.b64encode(str(raw["body_text"]).encode("utf-8")).decode("ascii")
    request = {"method": "POST", "url": "", "headers": [], "body": "", **data["request"]}
    if "body_json" in request:
        encoded = json.dumps(request.pop("body_json")).encode()
        request["body"] = base64.b64encode(encoded).decode("ascii")
    data["request"] = request
    related = tuple((str(name), _transcript(t)) for name, t in data["related"])
    data["related"] = []
    derived = all(k in raw for k in ("events", "comments", "diagnostics"))
    body = base64.b64decode(data["body"], validate=True)
    if not raw.get("reads"):
        data["reads"] = [{"t_ns": 0, "offset": 0, "size": len(body), "wire": len(body)}]
    for key in ("events", "comments", "diagnostics"):
        data.setdefault(key, [])
    transcript = dataclasses.replace(Transcript.from_json(data), related=related)
    return transcript if derived else decode_events(transcript)


def decode_events(t: Transcript) -> Transcript:
    """The transcript with its events, comments and diagnostics decoded from its
    body, read by read, as the recorder decodes them."""
    content_type = (t.header("content-type") or "").lower()
    if not content_type.startswith("text/event-stream") and not _looks_like_sse(t.body):
        return dataclasses.replace(t, events=(), comments=(), diagnostics=())
    decoder = SSEDecoder()
    events: list[Event] = []
    comments_seen = 0
    comments = []
    reads = t.reads or (Read(0, 0, len(t.body), len(t.body)),)
    for read in reads:
        piece = t.body[read.offset : read.offset + read.size]
        events += [dataclasses.replace(e, t_ns=read.t_ns) for e in decoder.feed(piece)]
        fresh = decoder.comments[comments_seen:]
        comments += [dataclasses.replace(c, t_ns=read.t_ns) for c in fresh]
        comments_seen = len(decoder.comments)
    last = reads[-1].t_ns
    events += [dataclasses.replace(e, t_ns=last) for e in decoder.close()]
    return dataclasses.replace(
        t,
        events=tuple(events),
        comments=tuple(comments),
        diagnostics=tuple(decoder.diagnostics),
    )


def _looks_like_sse(body: bytes) -> bool:
    return body.lstrip().startswith((b"data:", b"event:", b":", b"id:"))
