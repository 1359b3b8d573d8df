"""Plan hooks: a variant (or fault) that changes what the server generates, not how it sends it.

A plan hook sees the validated request and the completion planned for it and
returns the completion to generate instead.  Plans exist only in the server
(a proxy relays what its upstream generated), so entries with one have scope
``server``.  Both paths, stream and non-stream, generate the same plan.
"""

from __future__ import annotations

from dataclasses import replace

from .text import Call, Completion, plan_completion
from .tools import chosen_tool, tool_completion
from .validation import ChatRequest

__all__ = ["REASONING_TOKENS", "parallel_calls", "reason_first"]

#: Reasoning tokens generated before the answer by ``reason_first``.
REASONING_TOKENS = 12

_REASONING_CUE = {"role": "system", "content": "Think step by step first."}


def reason_first(chat: ChatRequest, completion: Completion) -> Completion:
    """Reasoning tokens before the answer, within one ``max_tokens`` budget.

    The reasoning is deterministic (planned from the messages with a cue
    added), so the stream and the non-stream answer agree.  ``max_tokens``
    counts reasoning and answer together, as vLLM and DeepSeek count them: a
    small limit cuts the answer short first, then the reasoning.
    """
    cued = (*chat.messages, _REASONING_CUE)
    thought = plan_completion(chat.model, cued, seed=chat.seed).tokens[:REASONING_TOKENS]
    limit = chat.max_tokens
    if limit is None:
        return replace(completion, reasoning=thought)
    reasoning = thought[:limit]
    budget = limit - len(reasoning)
    tokens = completion.tokens[:budget]
    cut = len(tokens) < len(completion.tokens) or len(reasoning) < len(thought)
    finish = "length" if cut else completion.finish_reason
    return replace(completion, tokens=tokens, reasoning=reasoning, finish_reason=finish)


def parallel_calls(chat: ChatRequest, completion: Completion) -> Completion:
    """A second tool call after the first, when the answer is one that finished.

    The second call is to the tool after the chosen one in ``tools`` (the same
    tool when there is only one), with arguments built the same way; a
    ``max_tokens`` limit counts both calls' argument pieces.
    """
    if completion.tool_name is None or completion.finish_reason != "tool_calls":
        return completion
    first = chosen_tool(chat.tools, chat.tool_choice, chat.messages)
    if first is None or not chat.tools:
        return completion
    position = next(i for i, tool in enumerate(chat.tools) if tool.name == first.name)
    second = chat.tools[(position + 1) % len(chat.tools)]
    limit = None if chat.max_tokens is None else chat.max_tokens - len(completion.tokens)
    if limit is not None and limit <= 0:
        return replace(completion, finish_reason="length")
    call = tool_completion(second, chat.messages, max_tokens=limit)
    more = (Call(second.name, call.tokens),)
    return replace(completion, more_calls=more, finish_reason=call.finish_reason)
