"""EXO's ``POST /v1/cancel/{command_id}``: running streams that can be told to stop.

EXO keeps a channel per running command and closes it on cancel, so the
stream's generator ends at its next token; the stream then ends in its API's
terms (a chat stream without a finish_reason, a Messages stream with
``stop_reason: null``).  An unknown or finished id gets 404 with EXO's error
body.  The reference does the same: every stream registers its command id
while it runs and looks at its flag between tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from starlette.requests import Request
from starlette.responses import Response

from .pipeline import json_reply
from .response import ReplyResponse
from .wire import DONE, Data, Item

__all__ = ["CANCEL_PATH", "Cancels", "cancellable_chat"]

CANCEL_PATH = "/v1/cancel/{command_id}"


class Cancels:
    """The command ids of running streams, each with the flag a cancel sets."""

    def __init__(self, *, ignore: bool = False) -> None:
        self._running: dict[str, asyncio.Event] = {}
        #: the ``cancel-ignored`` fault: say yes, change nothing
        self.ignore = ignore

    @contextmanager
    def running(self, command_id: str) -> Iterator[asyncio.Event]:
        flag = asyncio.Event()
        self._running[command_id] = flag
        try:
            yield flag
        finally:
            self.finished(command_id)

    def finished(self, command_id: str) -> None:
        """The command's answer is complete: a cancel now gets 404, as in EXO."""
        self._running.pop(command_id, None)

    def cancel(self, command_id: str) -> bool:
        flag = self._running.get(command_id)
        if flag is None:
            return False
        if not self.ignore:
            flag.set()
        return True

    async def endpoint(self, request: Request) -> Response:
        command_id = str(request.path_params["command_id"])
        if not self.cancel(command_id):
            body = {
                "error": {
                    "message": "Command not found or already completed",
                    "type": "Not Found",
                    "code": 404,
                }
            }
            return ReplyResponse(json_reply(404, body))
        answer = {"message": "Command cancelled.", "command_id": command_id}
        return ReplyResponse(json_reply(200, answer))


async def cancellable_chat(
    cancels: Cancels, command_id: str, items: AsyncIterator[Item]
) -> AsyncIterator[Item]:
    """A chat stream that ends with a bare ``[DONE]`` (no finish_reason) once cancelled.

    Once the finish chunk has gone out the answer is complete, so the command is
    forgotten before it is sent: a cancel that arrives later gets 404, never a
    200 for a stream that then ends as a finished answer.
    """
    with cancels.running(command_id) as flag:
        try:
            async for item in items:
                if flag.is_set():
                    yield DONE
                    return
                if _finishes(item):
                    cancels.finished(command_id)
                yield item
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()


def _finishes(item: Item) -> bool:
    """Whether a chat item is the chunk that carries a finish_reason."""
    value = item.json() if isinstance(item, Data) else None
    choices = value.get("choices") if value is not None else None
    return isinstance(choices, list) and any(
        isinstance(c, dict) and c.get("finish_reason") is not None for c in choices
    )
