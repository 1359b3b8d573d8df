"""The Messages and Ollama schemas accept what the APIs send and reject what clients trip on."""

from __future__ import annotations

from typing import Any

import pytest
from messages_builders import TOOL, block_start, delta, good_lines, json_piece, start, text

from conformance.schemas import validate

ERROR = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


@pytest.mark.parametrize(
    "event",
    [start(), block_start(0), block_start(1, TOOL), text(0, "Hi"), json_piece(1, "{"),
     {"type": "content_block_stop", "index": 0}, delta(), {"type": "message_stop"},
     {"type": "ping"}, ERROR],
)  # fmt: skip
def test_every_event_of_the_docs_validates(event: dict[str, Any]) -> None:
    assert validate("messages-events", event) == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "content_block_delta", "index": -1, "delta": {"type": "text_delta", "text": "x"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}},
        {"type": "message_delta", "delta": {"stop_reason": None}},  # no usage
        {"type": "message_start", "message": {"id": "m"}},
        {"type": "error", "error": "boom"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use"}},
    ],
)
def test_broken_events_do_not(event: dict[str, Any]) -> None:
    assert validate("messages-events", event)


def test_the_error_body_and_the_message() -> None:
    assert validate("messages-error", ERROR) == []
    assert validate("messages-error", {"detail": [{"msg": "x"}]})
    message = start()["message"] | {"content": [{"type": "text", "text": "Hi"}]}
    assert validate("messages-message", message) == []
    assert validate("messages-message", message | {"role": "user"})


def test_ollama_lines_validate_and_broken_ones_do_not() -> None:
    for value in good_lines():
        assert validate("ollama-chat", value) == []
    broken = good_lines()[0] | {"done": "false"}
    assert validate("ollama-chat", broken)
    assert validate("ollama-chat", {k: v for k, v in good_lines()[0].items() if k != "message"})
