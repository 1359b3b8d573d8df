"""Function tools: which requests get a tool call, and its arguments, deterministically.

A request with function ``tools`` is answered with one call to one of them,
instead of text, when its ``tool_choice`` asks for a call:

- a named function (``{"type": "function", "function": {"name": ...}}``):
  that function;
- ``"required"``: the first tool the last user message mentions (see below),
  else the first tool;
- ``"auto"`` (the default when tools are sent): the first tool the last user
  message mentions; when it mentions none, the answer is text as usual;
- ``"none"``: text.

A message *mentions* a tool when it contains, as a whole word and ignoring
case, the tool's name or a word of five or more letters from its name or its
description: "What is the weather in Paris?" mentions ``get_weather``
described as "The current weather in a city.".

The arguments are a JSON object built from the tool's ``parameters`` schema,
every property in order: ``const`` or the first ``enum`` value when there is
one, otherwise numbers and integers 1, booleans true, null null, arrays one
item, objects their properties, and strings a word of the last user message
(its capitalised words that do not open a sentence, in turn; else its longest
word; else "text").  They are streamed in pieces, a run of word characters or
a run of the others each (``{"``, ``city``, ``":"``, ``Paris``, ``"}``); each
piece counts as one completion token, and ``max_tokens`` cuts them short
(finish_reason ``length``).  ``stop`` does not apply to arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

from .errors import ApiError
from .text import Completion, message_text, prompt_tokens
from .wire import JsonObject

__all__ = [
    "NO_TOOLS",
    "Tool",
    "ToolChoice",
    "chosen_tool",
    "parse_tools",
    "tool_arguments",
    "tool_completion",
]

#: Words this long or longer, from a tool's name or description, make a mention.
MENTION_LETTERS = 5
#: Schemas nested deeper than this give null instead of a value.
_MAX_DEPTH = 8

_LETTERS = re.compile(r"[^\W\d_]+")
_PIECE = re.compile(r"\w+|\W+")
_SENTENCE_END = (".", "!", "?")


@dataclass(frozen=True, slots=True)
class Tool:
    """A function tool as the request declared it."""

    name: str
    description: str = ""
    parameters: JsonObject = field(default_factory=dict)

    def words(self) -> frozenset[str]:
        """What a message may contain to mention this tool (lower case)."""
        text = f"{self.name} {self.description}".lower()
        long = {w for w in _LETTERS.findall(text) if len(w) >= MENTION_LETTERS}
        return frozenset({self.name.lower(), *long})


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``tool_choice``: ``none``, ``auto``, ``required``, or ``function`` with a name."""

    mode: str
    name: str | None = None


NO_TOOLS = ToolChoice("none")


def parse_tools(body: JsonObject) -> tuple[tuple[Tool, ...], ToolChoice] | ApiError:
    """The request's tools and tool choice, or what is wrong with them."""
    raw = body.get("tools")
    tools: list[Tool] = []
    if raw is not None:
        if not isinstance(raw, list):
            return ApiError.invalid("tools", "'tools' must be an array.", "invalid_type")
        if not raw:
            return ApiError.invalid("tools", "[] is too short - 'tools'", "empty_array")
        for i, item in enumerate(raw):
            tool = _tool(item, f"tools[{i}]")
            if isinstance(tool, ApiError):
                return tool
            tools.append(tool)
    choice = _choice(body.get("tool_choice"), tools)
    if isinstance(choice, ApiError):
        return choice
    return tuple(tools), choice


def _tool(item: Any, param: str) -> Tool | ApiError:
    if not isinstance(item, dict) or item.get("type") != "function":
        message = f"'{param}' must be an object with type 'function'."
        return ApiError.invalid(f"{param}.type", message)
    function = item.get("function")
    if not isinstance(function, dict):
        return ApiError.missing(f"{param}.function")
    name = function.get("name")
    if name is None:
        return ApiError.missing(f"{param}.function.name")
    if not isinstance(name, str) or not name:
        message = f"'{param}.function.name' must be a non-empty string."
        return ApiError.invalid(f"{param}.function.name", message, "invalid_type")
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        message = f"'{param}.function.description' must be a string."
        return ApiError.invalid(f"{param}.function.description", message, "invalid_type")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        message = f"'{param}.function.parameters' must be an object."
        return ApiError.invalid(f"{param}.function.parameters", message, "invalid_type")
    return Tool(name, description or "", parameters or {})


def _choice(value: Any, tools: Sequence[Tool]) -> ToolChoice | ApiError:
    if value is None:
        return ToolChoice("auto") if tools else NO_TOOLS
    if not tools:
        message = "'tool_choice' is only allowed when 'tools' are specified."
        return ApiError.invalid("tool_choice", message)
    if value in ("none", "auto", "required"):
        return ToolChoice(value)
    function = value.get("function") if isinstance(value, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(value, dict) or value.get("type") != "function" or not isinstance(name, str):
        message = (
            "'tool_choice' must be 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}.'
        )
        return ApiError.invalid("tool_choice", message)
    if name not in {t.name for t in tools}:
        message = f"'tool_choice' names the function '{name}', which is not in 'tools'."
        return ApiError.invalid("tool_choice", message)
    return ToolChoice("function", name)


def _last_user_text(messages: Sequence[JsonObject]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def _mentions(text: str, tool: Tool) -> bool:
    lowered = text.lower()
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", lowered) for w in tool.words())


def chosen_tool(
    tools: Sequence[Tool], choice: ToolChoice, messages: Sequence[JsonObject]
) -> Tool | None:
    """The tool this request calls, or None when it gets a text answer."""
    if choice.mode == "function":
        return next((t for t in tools if t.name == choice.name), None)
    if choice.mode not in ("auto", "required") or not tools:
        return None
    text = _last_user_text(messages)
    mentioned = next((t for t in tools if _mentions(text, t)), None)
    if mentioned is None and choice.mode == "required":
        return tools[0]
    return mentioned


def tool_arguments(tool: Tool, messages: Sequence[JsonObject]) -> str:
    """The call's ``arguments``: a JSON object built from the parameters schema."""
    words = cycle(_string_words(_last_user_text(messages)))
    properties = tool.parameters.get("properties")
    value = _object(properties, words, 1)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def tool_completion(
    tool: Tool, messages: Sequence[JsonObject], *, max_tokens: int | None = None
) -> Completion:
    """The call as a completion: its tokens are the pieces of the arguments."""
    pieces = _PIECE.findall(tool_arguments(tool, messages))
    finish = "tool_calls"
    if max_tokens is not None and max_tokens < len(pieces):
        pieces, finish = pieces[:max_tokens], "length"
    return Completion(tuple(pieces), finish, prompt_tokens(messages), tool_name=tool.name)


def _string_words(text: str) -> list[str]:
    """Capitalised words that do not open a sentence; else the longest word; else "text"."""
    found = list(_LETTERS.finditer(text))
    names = [m.group() for m in found if m.group()[0].isupper() and not _opens(text, m.start())]
    if names:
        return names
    if found:
        return [max((m.group() for m in found), key=len)]
    return ["text"]


def _opens(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens a sentence."""
    before = text[:start].rstrip()
    return not before or before.endswith(_SENTENCE_END)


def _object(properties: Any, words: Iterator[str], depth: int) -> JsonObject:
    if not isinstance(properties, dict):
        return {}
    return {str(k): _value(v, words, depth + 1) for k, v in properties.items()}


def _value(schema: Any, words: Iterator[str], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if not isinstance(schema, dict):
        return next(words)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = _kind(schema)
    if kind == "object":
        return _object(schema.get("properties"), words, depth)
    if kind == "array":
        items = schema.get("items")
        return [_value(items, words, depth + 1)] if isinstance(items, dict) else []
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return next(words)


def _kind(schema: JsonObject) -> str:
    """The schema's type (the first non-null one of a list); guessed when absent."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list):
        kinds = [k for k in declared if isinstance(k, str)]
        return next((k for k in kinds if k != "null"), kinds[0] if kinds else "string")
    return "object" if "properties" in schema else "string"
