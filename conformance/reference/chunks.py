"""The JSON objects of an answer: stream chunks and the non-stream completion."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .text import Completion
from .wire import JsonObject

__all__ = ["FINGERPRINT", "Answer", "new_call_id", "new_completion_id"]

FINGERPRINT = "exo-reference"


def new_completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer's identity: every chunk of a stream shares id, created and model.

    ``call_id`` is the id of the tool call, when the answer is one (further
    calls of the same answer get ``call_id`` with their index appended).
    """

    model: str
    id: str = field(default_factory=new_completion_id)
    created: int = field(default_factory=lambda: int(time.time()))
    call_id: str = field(default_factory=new_call_id)

    def opening(self, completion: Completion) -> JsonObject:
        """The first delta: the role, and a tool call's id, type and name (no arguments yet).

        When reasoning comes first, the call opens after it (``call_opening``).
        """
        if completion.tool_name is None:
            return {"role": "assistant", "content": ""}
        if completion.reasoning:
            return {"role": "assistant", "content": None}
        return {"role": "assistant", "content": None, "tool_calls": [self.call_opening(completion)]}

    def call_opening(self, completion: Completion, index: int = 0) -> JsonObject:
        """The first fragment of tool call ``index``: its id, type and name."""
        name = completion.tool_name if index == 0 else completion.more_calls[index - 1].name
        assert name is not None
        return {"index": index, **self._call(name, "", index)}

    def piece(self, completion: Completion, token: str, index: int = 0) -> JsonObject:
        """The delta of one token: text, or a piece of tool call ``index``'s arguments."""
        if completion.tool_name is None:
            return {"content": token}
        return {"tool_calls": [{"index": index, "function": {"arguments": token}}]}

    def chunk(
        self,
        delta: JsonObject,
        finish_reason: str | None = None,
        *,
        include_usage: bool = False,
    ) -> JsonObject:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._base("chat.completion.chunk", [choice], include_usage)

    def usage_chunk(self, completion: Completion) -> JsonObject:
        chunk = self._base("chat.completion.chunk", [], include_usage=False)
        chunk["usage"] = usage(completion)
        return chunk

    def completion(self, completion: Completion) -> JsonObject:
        message: JsonObject = {"role": "assistant", "content": completion.text}
        if completion.tool_name is not None:
            calls = [self._call(completion.tool_name, completion.text)]
            calls += [
                self._call(call.name, call.arguments, i)
                for i, call in enumerate(completion.more_calls, 1)
            ]
            message = {"role": "assistant", "content": None, "tool_calls": calls}
        if completion.reasoning:
            message["reasoning_content"] = "".join(completion.reasoning)
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": completion.finish_reason,
        }
        body = self._base("chat.completion", [choice], include_usage=False)
        body["usage"] = usage(completion)
        return body

    def _call(self, name: str, arguments: str, index: int = 0) -> JsonObject:
        return {
            "id": self.call_id if index == 0 else f"{self.call_id}{index}",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }

    def _base(self, obj: str, choices: list[Any], include_usage: bool) -> JsonObject:
        body: JsonObject = {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        }
        if include_usage:
            # OpenAI marks every chunk before the usage chunk with usage: null.
            body["usage"] = None
        return body


def usage(completion: Completion) -> JsonObject:
    prompt, generated = completion.prompt_tokens, completion.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": generated,
        "total_tokens": prompt + generated,
    }
