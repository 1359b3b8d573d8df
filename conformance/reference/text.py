"""Deterministic completions: the same (model, messages, seed) gives the same text.

Each token is one word with its leading space, picked from a vocabulary by a
hash of the prompt, the seed and the position, so the stream and the
non-stream answer agree without any shared state.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..scenarios.nonce import REPEATS, content_text, nonce_asked
from .wire import JsonObject

__all__ = [
    "LONG_LENGTH",
    "MULTIBYTE_WORDS",
    "NATURAL_LENGTH",
    "PLAIN_WORDS",
    "Call",
    "Completion",
    "message_text",
    "plan_completion",
    "prompt_tokens",
    "wants_long",
]

PLAIN_WORDS: tuple[str, ...] = (
    "the", "river", "stone", "light", "over", "quiet", "north", "field", "and",
    "small", "engine", "runs", "under", "a", "clear", "sky", "while", "seven",
    "birds", "count", "slowly", "toward", "morning", "with", "careful", "hands",
    "every", "signal", "arrives", "in", "order", "bright", "paper", "lamps",
    "drift", "past", "open", "windows", "of", "warm", "stations", "near",
)  # fmt: skip

# Two-, three- and four-byte UTF-8, combining marks and a ZWJ sequence: each
# one a chance for a reader to split a character across reads.
MULTIBYTE_WORDS: tuple[str, ...] = (
    "naïve", "日本語", "🦀", "👩‍💻", "café", "Straße", "наука", "Ωμέγα",
    "€", "façade", "😀", "𝄞", "ñandú", "中文", "e\u0301", "한국어", "🇯🇵", "Zürich",
)  # fmt: skip

NATURAL_LENGTH = 24
LONG_LENGTH = 400
_SPREAD = 8  # lengths vary by up to this much around their centre

# A draw position no token reaches, so the length is independent of the words.
_LENGTH_SLOT = 0xFFFFFFFF

_LONG = re.compile(r"\blong\b", re.IGNORECASE)
_MULTIBYTE = re.compile(r"\b(unicode|emoji)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Call:
    """A further tool call of an answer: its function and the pieces of its arguments."""

    name: str
    tokens: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.tokens)


@dataclass(frozen=True, slots=True)
class Completion:
    """What one request generates: its tokens, why it ended, its prompt size.

    With ``tool_name`` set the answer is a call to that function, and the
    tokens are the pieces of its arguments instead of text; ``more_calls`` are
    calls that follow it in the same answer (parallel tool calls).
    ``reasoning`` are tokens of reasoning generated before the answer (sent
    as ``reasoning_content``); every token of each kind counts as a
    completion token.
    """

    tokens: tuple[str, ...]
    finish_reason: str
    prompt_tokens: int
    tool_name: str | None = None
    reasoning: tuple[str, ...] = ()
    more_calls: tuple[Call, ...] = ()

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        calls = sum(len(call.tokens) for call in self.more_calls)
        return len(self.reasoning) + len(self.tokens) + calls


def message_text(message: JsonObject) -> str:
    """The text of a message whose content is a string or a list of parts."""
    return content_text(message.get("content"))


def plan_completion(
    model: str,
    messages: Sequence[JsonObject],
    *,
    seed: int | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    salt: bytes = b"",
) -> Completion:
    """The whole completion, decided up front; ``salt`` adds randomness."""
    key = hashlib.blake2b(
        json.dumps([model, list(messages), seed], sort_keys=True).encode() + salt,
        digest_size=16,
    ).digest()
    words = MULTIBYTE_WORDS if _wants_multibyte(messages) else PLAIN_WORDS
    length = _length(key, wants_long(messages))
    tokens = [" " + words[_draw(key, i) % len(words)] for i in range(length)]
    code = nonce_asked({"messages": list(messages)})
    if code is not None:
        # A request that asks for a code back gets it, as often as asked: the
        # proof that concurrent streams stay apart rests on it.
        tokens = [" " + code] * REPEATS
    finish = "stop"
    if max_tokens is not None and max_tokens < len(tokens):
        tokens, finish = tokens[:max_tokens], "length"
    cut = _first_stop(tokens, stop)
    if cut is not None:
        tokens, finish = cut, "stop"
    return Completion(tuple(tokens), finish, prompt_tokens(messages))


def prompt_tokens(messages: Sequence[JsonObject]) -> int:
    """The prompt's size: its words, at least one."""
    return max(sum(len(message_text(m).split()) for m in messages), 1)


def _draw(key: bytes, position: int) -> int:
    digest = hashlib.blake2b(key + position.to_bytes(4, "big"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _length(key: bytes, long: bool) -> int:
    centre = LONG_LENGTH if long else NATURAL_LENGTH
    return centre - _SPREAD // 2 + _draw(key, _LENGTH_SLOT) % (_SPREAD + 1)


def wants_long(messages: Sequence[JsonObject]) -> bool:
    """Whether the last user message asks for a long answer (says "long")."""
    users = [m for m in messages if m.get("role") == "user"]
    return bool(users) and bool(_LONG.search(message_text(users[-1])))


def _wants_multibyte(messages: Sequence[JsonObject]) -> bool:
    return any(_MULTIBYTE.search(message_text(m)) for m in messages)


def _first_stop(tokens: list[str], stop: Sequence[str]) -> list[str] | None:
    """The tokens cut just before the earliest stop string, or None if none occurs."""
    text = "".join(tokens)
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if not hits:
        return None
    end, kept, used = min(hits), [], 0
    for token in tokens:
        if used >= end:
            break
        kept.append(token[: end - used])
        used += len(token)
    return kept
