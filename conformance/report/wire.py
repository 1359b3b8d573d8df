"""Show raw bytes to a person: line ends and control characters made visible."""

from __future__ import annotations

__all__ = ["show_bytes"]

_NAMED = {0x0D: "\\r", 0x09: "\\t", 0x00: "\\0"}


def _visible(ch: str) -> str:
    code = ord(ch)
    if code == 0x0A:
        return "\\n\n"  # show the LF and still break the line, so the log reads as lines
    if code in _NAMED:
        return _NAMED[code]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code in (0xFEFF, 0xFFFD, 0x2028, 0x2029):
        return f"\\u{code:04x}"
    return ch


def show_bytes(data: bytes, *, limit: int = 2000) -> str:
    """Bytes as text a person can read: CR, LF, NUL and other controls spelled out.

    Invalid UTF-8 is shown as ``\\xNN``; the output is cut after ``limit`` bytes.
    """
    cut = data[:limit]
    text = cut.decode("utf-8", errors="backslashreplace")
    shown = "".join(_visible(ch) for ch in text)
    if len(data) > limit:
        shown += f"... ({len(data) - limit} more bytes)"
    return shown
