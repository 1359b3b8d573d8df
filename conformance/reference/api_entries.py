"""Faults and valid variants of the Anthropic Messages and Ollama endpoints.

They are catalog entries like the chat ones (``faults.py``, ``variants.py``),
listed and chosen the same way (``--fault NAME``, ``--variant NAME``), but
they carry no chat hooks: the chat endpoints ignore them, and the Messages
and Ollama endpoints (``messages.py``, ``ollama.py``) read the active names
(:func:`active_names`) and change their own replies.  Each one imitates what
a real server was seen doing.
"""

from __future__ import annotations

from .entries import Fault

__all__ = [
    "API_FAULTS",
    "API_VARIANTS",
    "FAILING_PROMPTS",
    "ONE_BYTE_WRITES",
    "active_names",
]

#: The chat variant whose byte-per-write delivery the other endpoints honour too.
ONE_BYTE_WRITES = "one-byte-writes"

#: What the failure faults fail on: a prompt that asks for a long answer fails
#: after a few tokens (as ``typed-error-event`` does for chat).
FAILING_PROMPTS = "a prompt that says 'long'"


def _fault(name: str, description: str, imitates: str, *apis: str) -> Fault:
    return Fault(name, "fault", description, imitates, scope="server", apis=apis)


def _variant(name: str, description: str, imitates: str) -> Fault:
    return Fault(name, "valid-variant", description, imitates, scope="server", apis=("messages",))


API_FAULTS: tuple[Fault, ...] = (
    _fault(
        "messages-index-reused",
        "Messages: an answer's second content block (the tool_use after the text) is "
        "numbered `index: 0` again.",
        "API translators that number every content block 0",
        "messages",
    ),
    _fault(
        "messages-interleaved",
        "Messages: the tool_use block starts before the text block stops, and the text "
        "block's last delta comes after it: two blocks open at once.",
        "translators that open a block per upstream delta kind without closing the last",
        "messages",
    ),
    _fault(
        "messages-error-null-stop",
        f"Messages: for {FAILING_PROMPTS}, generation fails after a few tokens and the "
        "stream ends like an answer: blocks closed, `stop_reason: null`, `message_stop`, "
        "and no `event: error`.",
        "EXO's /v1/messages, which breaks out of its loop on an error chunk",
        "messages",
    ),
    _fault(
        "messages-error-untyped",
        f"Messages: for {FAILING_PROMPTS}, generation fails after a few tokens and the "
        'error goes out as `data: {"type": "error", ...}` with no `event: error` line.',
        "SSE writers that drop the event name of error events",
        "messages",
    ),
    _fault(
        "ollama-no-done",
        "Ollama: the stream ends after the last content line, with no `done: true` line.",
        "servers that treat the last token as the end",
        "ollama",
    ),
    _fault(
        "ollama-error-as-content",
        f"Ollama: for {FAILING_PROMPTS}, generation fails after a few tokens and the error "
        'text goes out as assistant content, `"done": true, "done_reason": "error"`.',
        "EXO's /ollama/api/chat, which sends an error chunk's message as content",
        "ollama",
    ),
    _fault(
        "ollama-string-arguments",
        "Ollama: tool-call `arguments` are a JSON string, as in OpenAI's API, not an object.",
        "OpenAI-to-Ollama translators that copy the arguments string through",
        "ollama",
    ),
    _fault(
        "cancel-ignored",
        "`POST /v1/cancel/{id}` answers 200 for a running stream, but the stream goes on "
        "to its natural end.",
        "servers whose cancel marks a command cancelled without stopping its generation",
        "chat",
        "messages",
    ),
    _fault(
        "fastapi-422",
        "Messages and Ollama: an invalid request gets FastAPI's `422` with "
        '`{"detail": [...]}` instead of the API\'s error body.',
        "FastAPI servers that leave request validation to pydantic's default handler",
        "messages",
        "ollama",
    ),
    _fault(
        "plain-500",
        "Messages and Ollama: an invalid request gets `500 Internal Server Error` as text/plain.",
        "handlers that let a parsing exception escape to the server's default handler",
        "messages",
        "ollama",
    ),
)

API_VARIANTS: tuple[Fault, ...] = (
    _variant(
        "messages-ping",
        "Messages: a `ping` event after `message_start` and between every two events.",
        "api.anthropic.com, which sends ping events",
    ),
    _variant(
        "messages-keepalive",
        "Messages: a `: keep-alive` comment before every event after the first.",
        "EXO's SSE keep-alive and proxies that send heartbeats",
    ),
    _variant(
        "messages-thinking",
        "Messages: every answer opens with a `thinking` block (thinking deltas and a "
        "signature) before its text, at index 0.",
        "Claude models with extended thinking, and EXO serving reasoning models",
    ),
)


def active_names(fault: str | None, variant: str | None) -> frozenset[str]:
    """The entry names a server was started with (a fault, a variant, or both)."""
    return frozenset(name for name in (fault, variant) if name is not None)
