"""Nonce tokens: the proof that concurrent streams stay apart.

Each concurrent request asks the model to repeat a code of its own (a nonce,
fresh for every run).  A correct endpoint's stream carries only its own
code; a stream that carries another request's code was mixed with that
request, whatever the wording around it.  The codes are random, eight
characters from an alphabet without look-alike letters, so one turning up by
chance in another answer is out of the question (1 in 23**8).

The module is shared by whatever sends requests at once (the concurrency
scenario, the load mode) and by the reference server, which echoes the code
it finds in the prompt.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALPHABET",
    "REPEATS",
    "Sighting",
    "content_text",
    "find_nonce",
    "make_nonce",
    "new_nonces",
    "nonce_asked",
    "nonce_prompt",
    "nonces_in",
    "sightings",
]

#: Letters and digits a model copies without confusing them (no 0/O, 1/I/L, 2/Z, 5/S, 8/B).
ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
#: Characters per half of a code: written ``ABCD-EFGH``.
HALF = 4
#: How many times a request asks for its code: a long enough answer to overlap
#: the others, short enough for any model to follow.
REPEATS = 8

_NONCE = re.compile(rf"\b[{ALPHABET}]{{{HALF}}}-[{ALPHABET}]{{{HALF}}}\b")


def new_nonces(count: int) -> list[str]:
    """``count`` distinct fresh codes."""
    found: dict[str, None] = {}
    while len(found) < count:
        code = "".join(secrets.choice(ALPHABET) for _ in range(2 * HALF))
        found[f"{code[:HALF]}-{code[HALF:]}"] = None
    return list(found)


def nonce_prompt(nonce: str) -> str:
    """The prompt that asks for ``nonce`` back, :data:`REPEATS` times."""
    return (
        f"Repeat the code {nonce} exactly {REPEATS} times, separated by spaces, "
        "and write nothing else."
    )


def find_nonce(prompt: str) -> str | None:
    """The first code written in ``prompt``, or None."""
    match = _NONCE.search(prompt)
    return match.group(0) if match else None


def content_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict))
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def nonce_asked(body: Any) -> str | None:
    """The code the last user message of a chat request body asks for, or None."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return find_nonce(content_text(users[-1].get("content"))) if users else None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A code found in an answer, and the index of its first character in the text."""

    nonce: str
    at: int


def _squeezed(text: str) -> tuple[str, list[int]]:
    """The text upper-cased with everything but letters and digits left out, and for
    each character kept its index in ``text``: a model that writes ``abcd efgh`` or
    ``ABCDEFGH`` still wrote the code."""
    kept = [(i, c.upper()) for i, c in enumerate(text) if c.isascii() and c.isalnum()]
    return "".join(c for _, c in kept), [i for i, _ in kept]


def sightings(text: str, nonces: Iterable[str]) -> list[Sighting]:
    """Where each of ``nonces`` first occurs in ``text`` (the ones that occur), in order."""
    squeezed, where = _squeezed(text)
    found = []
    for nonce in dict.fromkeys(nonces):
        index = squeezed.find(nonce.replace("-", "").upper())
        if index >= 0:
            found.append(Sighting(nonce, where[index]))
    return sorted(found, key=lambda s: s.at)


def make_nonce() -> str:
    """One fresh code."""
    return new_nonces(1)[0]


def nonces_in(text: str) -> list[str]:
    """Every code written in ``text``, in order of appearance (repeats kept once)."""
    return list(dict.fromkeys(_NONCE.findall(text)))
