"""Reading values a server sent: JSON types, short renderings, usage, request fields.

Shared by the chunk, completion and model-list rules; what was asked is read
from the view (``view.asked(...)``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, TypeGuard

from ..view import ChatView
from .common import describe_end, preview

__all__ = [
    "MISSING",
    "is_int",
    "key_offset",
    "parse_body",
    "show",
    "usage_problem",
]

_COUNTS: Final = ("prompt_tokens", "completion_tokens", "total_tokens")
_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Missing:
    def __repr__(self) -> str:
        return "missing"


MISSING: Final = _Missing()


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (``true`` is not one, though Python says it is)."""
    return isinstance(value, int) and not isinstance(value, bool)


def show(value: object) -> str:
    """A server value as short JSON, for Expected/Actual lines."""
    if value is MISSING:
        return "(missing)"
    return preview(json.dumps(value, ensure_ascii=False, default=repr))


def usage_problem(usage: object) -> str | None:
    """What is wrong with a usage object, or None when its counts are consistent."""
    if usage is None or usage is MISSING:
        return "no usage"
    if not isinstance(usage, dict):
        return f"usage {show(usage)}, not an object"
    for name in _COUNTS:
        value = usage.get(name, MISSING)
        if not is_int(value) or value < 0:
            return f"usage.{name} {show(value)}, not an integer >= 0"
    prompt, completion, total = (usage[name] for name in _COUNTS)
    if total != prompt + completion:
        return (
            f"usage.total_tokens {total}, but prompt_tokens {prompt} + completion_tokens "
            f"{completion} = {prompt + completion}"
        )
    return None


def parse_body(t: ChatView) -> tuple[Any, str | None, int]:
    """The body as JSON, or why it is not JSON and the byte offset where that shows."""
    text = t.body.decode("utf-8", "replace")
    try:
        return json.loads(text), None, 0
    except json.JSONDecodeError as error:
        at = min(len(text[: error.pos].encode("utf-8")), max(0, len(t.body) - 1))
        shown = preview(text) if text else "an empty body"
        why = f"{error.msg.removesuffix(' at')} at byte {at}"
        return None, f"{shown} is not JSON ({why}); {describe_end(t)}", at


def key_offset(t: ChatView, path: str) -> int:
    """Where the deepest key of a JSON path (``$.usage.total_tokens``) first shows in
    the body, trying its parents when it is missing; 0 when none shows."""
    for key in reversed(_KEY.findall(path)):
        found = t.body.find(json.dumps(key).encode())
        if found >= 0:
            return found
    return 0
