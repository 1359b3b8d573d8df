"""Checks a chat-completions body before anything is generated or streamed."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .tools import NO_TOOLS, Tool, ToolChoice, parse_tools
from .wire import JsonObject

__all__ = ["ChatRequest", "parse_body", "validate"]

_MAX_STOPS = 4


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A valid request, reduced to what the reference server acts on."""

    model: str
    messages: tuple[JsonObject, ...]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    temperature: float = 1.0
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = NO_TOOLS


def parse_body(raw: bytes) -> JsonObject | ApiError:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return ApiError.invalid_json(str(exc))
    if not isinstance(body, dict):
        return ApiError.invalid_json("the body must be a JSON object")
    return body


def validate(body: JsonObject, models: Sequence[str]) -> ChatRequest | ApiError:
    """The request, or the first thing wrong with it (OpenAI's order: shape, then model)."""
    messages = body.get("messages")
    if messages is None:
        return ApiError.missing("messages")
    if not isinstance(messages, list):
        return ApiError.invalid("messages", "'messages' must be an array.", "invalid_type")
    if not messages:
        return ApiError.invalid("messages", "[] is too short - 'messages'", "empty_array")
    if not all(_is_message(m) for m in messages):
        message = "Each message must be an object with a string 'role'."
        return ApiError.invalid("messages", message, "invalid_type")
    model = body.get("model")
    if model is None:
        return ApiError.missing("model")
    if not isinstance(model, str):
        return ApiError.invalid("model", "'model' must be a string.", "invalid_type")
    options = _options(body)
    if isinstance(options, ApiError):
        return options
    if model not in models:
        return ApiError.unknown_model(model)
    return ChatRequest(model=model, messages=tuple(messages), **options)


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("role"), str)


def _options(body: JsonObject) -> dict[str, Any] | ApiError:
    # OpenAI reads an explicit null as "not sent" for every optional field.
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        return ApiError.invalid("stream", "'stream' must be a boolean.", "invalid_type")
    usage = _include_usage(body, stream)
    if isinstance(usage, ApiError):
        return usage
    limit = _max_tokens(body)
    if isinstance(limit, ApiError):
        return limit
    stop = _stop(body.get("stop"))
    if isinstance(stop, ApiError):
        return stop
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        return ApiError.invalid("seed", "'seed' must be an integer.", "invalid_type")
    temperature = _temperature(body.get("temperature"))
    if isinstance(temperature, ApiError):
        return temperature
    tools = parse_tools(body)
    if isinstance(tools, ApiError):
        return tools
    return {
        "stream": stream,
        "include_usage": usage,
        "max_tokens": limit,
        "stop": stop,
        "seed": seed,
        "temperature": temperature,
        "tools": tools[0],
        "tool_choice": tools[1],
    }


def _include_usage(body: JsonObject, stream: bool) -> bool | ApiError:
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        return ApiError.invalid("stream_options", message)
    if not isinstance(options, dict):
        message = "'stream_options' must be an object."
        return ApiError.invalid("stream_options", message, "invalid_type")
    usage = options.get("include_usage", False)
    if not isinstance(usage, bool):
        message = "'stream_options.include_usage' must be a boolean."
        return ApiError.invalid("stream_options.include_usage", message, "invalid_type")
    return usage


def _max_tokens(body: JsonObject) -> int | ApiError | None:
    # max_completion_tokens is the newer name; it wins when both are sent.
    for param in ("max_completion_tokens", "max_tokens"):
        value = body.get(param)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return ApiError.invalid(param, f"'{param}' must be a positive integer.")
        return value
    return None


def _stop(value: Any) -> tuple[str, ...] | ApiError:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if (
        isinstance(value, list)
        and len(value) <= _MAX_STOPS
        and all(isinstance(s, str) for s in value)
    ):
        return tuple(value)
    message = f"'stop' must be a string or a list of at most {_MAX_STOPS} strings."
    return ApiError.invalid("stop", message, "invalid_type")


def _temperature(value: Any) -> float | ApiError:
    if value is None:
        return 1.0
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 <= value <= 2:
        return ApiError.invalid("temperature", "'temperature' must be a number from 0 to 2.")
    return float(value)
