"""Nonce tokens: a distinct code per request, asked to be repeated, so a stream
that carries another request's code proves the two were mixed.

A code is ``exo-`` and eight lowercase hex digits: short enough for any model
to repeat, unlikely to come out of a model by chance, and easy to find in
text (whatever the tokenizer splits it into, the joined answer holds it).
"""

from __future__ import annotations

import re
import secrets

__all__ = ["NONCE_PATTERN", "make_nonce", "nonce_prompt", "nonces_in"]

#: What a nonce looks like, wherever it appears in a prompt or an answer.
NONCE_PATTERN = re.compile(r"\bexo-[0-9a-f]{8}\b")


def make_nonce() -> str:
    """A fresh nonce (32 random bits: collisions within one run are negligible)."""
    return f"exo-{secrets.token_hex(4)}"


def nonce_prompt(nonce: str) -> str:
    """A prompt that asks for the nonce back, then a short answer."""
    return f"Repeat the code {nonce} exactly, then write one short sentence about the sea."


def nonces_in(text: str) -> list[str]:
    """Every nonce in ``text``, in order of appearance (repeats kept once)."""
    return list(dict.fromkeys(NONCE_PATTERN.findall(text)))
