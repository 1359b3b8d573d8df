"""EXO's cancel endpoint, ``POST /v1/cancel/{command_id}``, on a running stream.

EXO names every generation by a command id and shows it in the stream: a chat
chunk's ``id`` is the id itself, a Messages stream's ``message.id`` is
``msg_<id>``.  Each scenario starts a long stream, and once the first content
arrives it cancels the stream with that id, then reads the stream to its end;
last it asks to cancel an id no server knows.  The stream is the main
transcript; the two cancel exchanges are related (``cancel``,
``cancel-unknown``).  A target that does not serve the endpoint answers the
first cancel with an error status, and the rules skip, saying so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from ..capture.transcript import Event, Transcript
from . import messages
from .base import RecordContext, Scenario, chat_body
from .chat import LONG_PROMPT

__all__ = [
    "CANCEL_MAX_TOKENS",
    "CANCEL_PATH",
    "CANCEL_RELATED",
    "SCENARIOS",
    "UNKNOWN_COMMAND",
    "UNKNOWN_RELATED",
    "chat_command",
    "messages_command",
]

CANCEL_PATH = "/v1/cancel/"
CANCEL_RELATED = "cancel"
UNKNOWN_RELATED = "cancel-unknown"
#: A command id no server has issued (EXO's ids are UUIDs).
UNKNOWN_COMMAND = "00000000-0000-4000-8000-00000000c0de"
#: Long enough that a stream nobody cancels is still running when the cancel lands.
CANCEL_MAX_TOKENS = 400

#: From an event: the command id it shows (None if it shows none) and whether it carries content.
Reading = Callable[[Event], tuple[str | None, bool]]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # a hostile body may nest past the stack
        return None


def chat_command(event: Event) -> tuple[str | None, bool]:
    """A chat chunk's ``id`` (EXO's command id), and whether it carries content."""
    value = _json(event.data)
    if not isinstance(value, dict):
        return None, False
    found = value.get("id")
    choices = value.get("choices")
    content = any(
        isinstance(c, dict) and isinstance(c.get("delta"), dict) and c["delta"].get("content")
        for c in (choices if isinstance(choices, list) else [])
    )
    return (found if isinstance(found, str) and found else None), content


def messages_command(event: Event) -> tuple[str | None, bool]:
    """``message_start``'s ``message.id`` without EXO's ``msg_`` prefix, and whether
    the event is a content delta."""
    value = _json(event.data)
    if not isinstance(value, dict):
        return None, False
    if value.get("type") == "content_block_delta":
        return None, True
    message = value.get("message") if value.get("type") == "message_start" else None
    found = message.get("id") if isinstance(message, dict) else None
    if not isinstance(found, str) or not found:
        return None, False
    return found.removeprefix("msg_"), False


async def _with_cancel(
    ctx: RecordContext,
    read: Reading,
    stream: Callable[[Callable[[Event], None]], Any],
    scenario: str,
) -> Transcript:
    """Record the stream, cancelling it by its id at its first content."""
    found: dict[str, str] = {}
    ready = asyncio.Event()

    def on_event(event: Event) -> None:
        if ready.is_set():
            return
        command, content = read(event)
        if command is not None and "id" not in found:
            found["id"] = command
        if content and "id" in found:
            ready.set()

    task = asyncio.ensure_future(stream(on_event))
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    related: list[tuple[str, Transcript]] = []
    if ready.is_set():
        related.append((CANCEL_RELATED, await _cancel(ctx, scenario, found["id"])))
    main: Transcript = await task
    related.append((UNKNOWN_RELATED, await _cancel(ctx, scenario, UNKNOWN_COMMAND)))
    return dataclasses.replace(main, related=tuple(related))


async def _cancel(ctx: RecordContext, scenario: str, command: str) -> Transcript:
    return await ctx.exchange("POST", CANCEL_PATH + command, scenario, content=b"")


async def _chat(ctx: RecordContext) -> Transcript:
    body = chat_body(ctx.target.model, LONG_PROMPT, max_tokens=CANCEL_MAX_TOKENS)

    def stream(on_event: Callable[[Event], None]) -> Any:
        return ctx.exchange(
            "POST", "/v1/chat/completions", "cancel-chat", json=body, on_event=on_event
        )

    return await _with_cancel(ctx, chat_command, stream, "cancel-chat")


async def _messages(ctx: RecordContext) -> Transcript:
    body = messages.request_for("messages-max-tokens", ctx.target.model)
    body["max_tokens"] = CANCEL_MAX_TOKENS

    def stream(on_event: Callable[[Event], None]) -> Any:
        return messages.post(ctx, "messages-cancel", body, on_event=on_event)

    return await _with_cancel(ctx, messages_command, stream, "messages-cancel")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "cancel-chat",
        f"a long chat stream (max_tokens={CANCEL_MAX_TOKENS}) cancelled through "
        "POST /v1/cancel/{id} at its first content, then a cancel of an unknown id",
        _chat,
    ),
    Scenario(
        "messages-cancel",
        f"a long Messages stream (max_tokens={CANCEL_MAX_TOKENS}) cancelled through "
        "POST /v1/cancel/{id} at its first content, then a cancel of an unknown id",
        _messages,
        api="messages",
    ),
)
