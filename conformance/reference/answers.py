"""What the Messages and Ollama endpoints generate, planned as the chat endpoint plans it.

Both APIs carry chat-style messages (a role and a content that is a string or
a list of text parts), so the deterministic planner of ``text.py`` and the
tool planner of ``tools.py`` answer them as they answer chat: the same
prompt, seed and limit give the same words on every API.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .text import Completion, plan_completion, wants_long
from .tools import Tool, ToolChoice, chosen_tool, tool_completion
from .wire import JsonObject

__all__ = ["FAIL_AFTER", "Planned", "paced", "plan"]

#: Tokens a failing generation produces before it fails.
FAIL_AFTER = 3


@dataclass(frozen=True, slots=True)
class Planned:
    """An answer and whether this request's generation is to fail part way."""

    completion: Completion
    fails: bool = False


def plan(
    model: str,
    messages: Sequence[JsonObject],
    *,
    max_tokens: int | None,
    seed: int | None,
    tools: Sequence[Tool] = (),
    fail_long: bool = False,
    nondeterministic: bool = False,
) -> Planned:
    """A tool call when a tool is mentioned, text otherwise; failing when asked to."""
    tool = chosen_tool(tuple(tools), ToolChoice("auto"), messages) if tools else None
    if tool is not None:
        completion = tool_completion(tool, messages, max_tokens=max_tokens)
    else:
        completion = plan_completion(
            model,
            messages,
            seed=seed,
            max_tokens=max_tokens,
            salt=os.urandom(8) if nondeterministic else b"",
        )
    return Planned(completion, fail_long and wants_long(messages))


async def paced(
    tokens: Sequence[str], delay: float, flag: asyncio.Event | None = None
) -> AsyncIterator[str]:
    """The tokens one at a time, ``delay`` apart, until ``flag`` (a cancel) is set."""
    for token in tokens:
        await asyncio.sleep(delay)
        if flag is not None and flag.is_set():
            return
        yield token
