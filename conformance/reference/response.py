"""Sends a reply as built: its head, then each write as its own ASGI message.

Starlette's responses decide status and headers before the body exists; a
reply here is a generator that yields its head first, so the proxy can open
the upstream stream inside the generator and still answer an upstream 4xx
with that status.  The head goes out with the first write, so a body that is
held back (a buffering fault) holds its headers back too, as nginx does.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anyio
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from .wire import Head

__all__ = ["Reply", "ReplyResponse"]

Reply = AsyncGenerator[Head | bytes, None]


class ReplyResponse(Response):
    """An ASGI response that drives a :data:`Reply` and stops it if the client leaves."""

    def __init__(self, reply: Reply) -> None:
        # Response.__init__ would render a body; this response has none up front.
        self.reply = reply
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def drive() -> None:
                try:
                    await _send_reply(self.reply, send)
                finally:
                    group.cancel_scope.cancel()

            group.start_soon(drive)
            await _until_disconnect(receive)
            # The client left: cancelling reaches the generator's pending await,
            # which is how generation learns to stop.
            group.cancel_scope.cancel()
        if self.background is not None:  # FastAPI hands every response its tasks
            await self.background()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_reply(reply: Reply, send: Send) -> None:
    head: Head | None = None
    started = False
    try:
        async for piece in reply:
            if isinstance(piece, Head):
                head = piece
            elif piece:
                if not started:
                    await send(_start(head))
                    started = True
                await send({"type": "http.response.body", "body": piece, "more_body": True})
    finally:
        await reply.aclose()
    if not started:
        await send(_start(head))
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _start(head: Head | None) -> Message:
    if head is None:
        raise RuntimeError("a reply must yield its Head before its body")
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in head.headers]
    return {"type": "http.response.start", "status": head.status, "headers": headers}
