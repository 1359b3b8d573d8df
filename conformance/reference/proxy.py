"""The reference proxy: the seed's fixed FastAPI design, in front of any upstream.

The stream path opens the upstream stream inside the reply generator, so the
connection lives exactly as long as the client reads.  Before the head goes
out the generator can still see an upstream 4xx and answer with its status
and JSON body; once streaming, an upstream failure becomes a
``data: {"error": ...}`` event and ``[DONE]``.  The fault ``seed-bug`` swaps in
the pre-fix code path, unchanged in spirit: the stream is opened in an
``async with`` that the handler returns out of.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.responses import Response

from .app import GENERATIONS_PATH
from .auth import authorized
from .errors import ApiError, error_event
from .faults import SEED_BUG, UPSTREAM_KEPT, FaultOptions, JsonReply
from .pipeline import (
    close,
    completion_reply,
    error_reply,
    models_reply,
    prepare_request,
    stream_head,
    stream_reply,
    stream_writes,
    transform_writes,
)
from .response import Reply, ReplyResponse
from .settings import Settings
from .sse_reader import SSEReader
from .text import wants_long
from .validation import parse_body
from .wire import DONE, Head, Item, JsonObject, dump_json, encode_item, sse_head

__all__ = ["REQUEST_TIMEOUT", "STREAM_TIMEOUT", "ReferenceProxy", "create_proxy_app"]

# The seed's fix raised the streaming timeout from 60 s to 120 s: long answers
# stream for minutes, and a read timeout counts the gap between chunks anyway.
STREAM_TIMEOUT = httpx.Timeout(120.0)
REQUEST_TIMEOUT = httpx.Timeout(60.0)
_FORWARDED = ("authorization", "content-type", "accept")

log = logging.getLogger(__name__)


class ReferenceProxy:
    """The proxy's endpoints over one shared upstream client."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        assert settings.proxy_to is not None
        self.settings = settings
        self.upstream = settings.proxy_to.rstrip("/")
        self.fault = settings.fault_entry
        self.client = client

    async def get(self, request: Request) -> Response:
        if not authorized(request, self.settings.api_key, self.fault):
            return ReplyResponse(error_reply(self.fault, ApiError.bad_api_key()))
        return ReplyResponse(self._get(request.url.path, _forwarded(request.headers)))

    async def chat(self, request: Request) -> Response:
        if not authorized(request, self.settings.api_key, self.fault):
            return ReplyResponse(error_reply(self.fault, ApiError.bad_api_key()))
        raw = await request.body()
        headers = _forwarded(request.headers)
        body = parse_body(raw)
        # A body the proxy cannot read goes upstream as it is: the upstream's
        # own error is the answer.
        stream = isinstance(body, dict) and body.get("stream") is True
        if isinstance(body, dict) and self.fault.request is not None:
            models = await self._upstream_models(headers)
            raw = dump_json(prepare_request(self.fault, body, models)).encode()
        if stream and self.settings.fault == SEED_BUG:
            return await self._seed_bug_stream(raw, headers)
        if stream and self.settings.fault == UPSTREAM_KEPT:
            return ReplyResponse(self._kept_stream(raw, headers))
        if stream:
            return ReplyResponse(self._stream(raw, headers, self._options(body)))
        return ReplyResponse(self._complete(raw, headers))

    async def cancel(self, request: Request) -> Response:
        """EXO's ``POST /v1/cancel/{id}``, relayed: a proxy that drops it leaves the
        upstream generating for a client that asked it to stop."""
        if not authorized(request, self.settings.api_key, self.fault):
            return ReplyResponse(error_reply(self.fault, ApiError.bad_api_key()))
        return ReplyResponse(self._post(request.url.path, _forwarded(request.headers)))

    async def _post(self, path: str, headers: dict[str, str]) -> Reply:
        try:
            upstream = await self.client.post(
                f"{self.upstream}{path}", headers=headers, content=b"", timeout=REQUEST_TIMEOUT
            )
        except httpx.HTTPError as exc:
            reply = error_reply(self.fault, _upstream_failure(exc))
        else:
            reply = self._passthrough(upstream, upstream.content)
        async for piece in reply:
            yield piece

    def _options(self, body: JsonObject | ApiError) -> FaultOptions:
        """The fault options, with what this request says about itself."""
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            return self.settings.fault_options
        long = wants_long([m for m in messages if isinstance(m, dict)])
        return dataclasses.replace(self.settings.fault_options, long_prompt=long)

    async def _stream(self, raw: bytes, headers: dict[str, str], options: FaultOptions) -> Reply:
        url = f"{self.upstream}/v1/chat/completions"
        streaming = False
        try:
            async with self.client.stream(
                "POST", url, content=raw, headers=headers, timeout=STREAM_TIMEOUT
            ) as upstream:
                reply: AsyncIterator[Head | bytes]
                if not _is_stream(upstream):
                    # An error, or an upstream that answered without streaming:
                    # its status and body, not a stream that wraps them.
                    reply = self._passthrough(upstream, await upstream.aread())
                else:
                    streaming = True
                    reply = stream_reply(self.fault, self._relay(upstream, options))
                try:
                    async for piece in reply:
                        yield piece
                finally:
                    await close(reply)
        except httpx.HTTPError as exc:
            if streaming:
                # _relay turns read failures into events; one here (closing the
                # upstream, say) comes after the last event and can only be logged.
                log.warning("upstream stream failed after it ended: %r", exc)
                return
            async for piece in error_reply(self.fault, _upstream_failure(exc)):
                yield piece

    async def _kept_stream(self, raw: bytes, headers: dict[str, str]) -> Reply:
        """The fault ``upstream-kept``: a background task reads the upstream into a
        queue and this reply relays the queue, so a client that leaves stops only
        the reply; the task reads the upstream to its end for nobody."""
        queue: asyncio.Queue[_Fed] = asyncio.Queue()
        task = asyncio.create_task(self._feed(raw, headers, queue))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
        first = await queue.get()
        if isinstance(first, ApiError):
            async for piece in error_reply(self.fault, first):
                yield piece
            return
        if isinstance(first, tuple):
            head, data = first
            async for piece in _raw_reply(head, data):
                yield piece
            return
        yield stream_head(self.fault)
        while isinstance(fed := await queue.get(), bytes):
            yield fed

    async def _feed(self, raw: bytes, headers: dict[str, str], queue: asyncio.Queue[_Fed]) -> None:
        url = f"{self.upstream}/v1/chat/completions"
        streaming = False
        try:
            async with self.client.stream(
                "POST", url, content=raw, headers=headers, timeout=STREAM_TIMEOUT
            ) as upstream:
                streaming = _is_stream(upstream)
                if not streaming:
                    content_type = upstream.headers.get("content-type", "application/json")
                    head = Head(upstream.status_code, (("Content-Type", content_type),))
                    await queue.put((head, await upstream.aread()))
                    return
                await queue.put(b"")  # streaming: the reply sends its head
                async for piece in _upstream_events(upstream):
                    await queue.put(piece)
        except httpx.HTTPError as exc:
            if not streaming:
                await queue.put(_upstream_failure(exc))
                return
            log.warning("upstream stream failed after it ended: %r", exc)
        if streaming:
            await queue.put(None)

    def _relay(self, upstream: httpx.Response, options: FaultOptions) -> AsyncIterator[bytes]:
        if self.fault.needs_items:
            return stream_writes(self.fault, _upstream_items(upstream), options)
        return transform_writes(self.fault, _upstream_events(upstream), options)

    async def _complete(self, raw: bytes, headers: dict[str, str]) -> Reply:
        url = f"{self.upstream}/v1/chat/completions"
        try:
            # Safe at the top level here: the whole body is read before returning.
            async with self.client.stream(
                "POST", url, content=raw, headers=headers, timeout=REQUEST_TIMEOUT
            ) as upstream:
                data = await upstream.aread()
        except httpx.HTTPError as exc:
            reply = error_reply(self.fault, _upstream_failure(exc))
        else:
            reply = self._passthrough(upstream, data)
        async for piece in reply:
            yield piece

    async def _get(self, path: str, headers: dict[str, str]) -> Reply:
        try:
            upstream = await self.client.get(
                f"{self.upstream}{path}", headers=headers, timeout=REQUEST_TIMEOUT
            )
        except httpx.HTTPError as exc:
            reply = error_reply(self.fault, _upstream_failure(exc))
        else:
            listing = _json_object(upstream.content) if path == "/v1/models" else None
            if self.fault.models is not None and listing is not None and upstream.is_success:
                reply = models_reply(self.fault, listing, upstream.status_code)
            else:
                reply = self._passthrough(upstream, upstream.content)
        async for piece in reply:
            yield piece

    def _passthrough(self, upstream: httpx.Response, data: bytes) -> Reply:
        """The upstream's status and body; the fault's hooks see it only if it is JSON."""
        status = upstream.status_code
        fault = self.fault
        changes = fault.completion is not None or fault.completion_head is not None
        hook = fault.error is not None if status >= 400 else changes
        body = _json_object(data)
        if hook and body is not None:
            if status >= 400:
                return error_reply(self.fault, JsonReply(status, body))
            return completion_reply(self.fault, body, status)
        content_type = upstream.headers.get("content-type", "application/json")
        return _raw_reply(Head(status, (("Content-Type", content_type),)), data)

    async def _upstream_models(self, headers: dict[str, str]) -> list[str]:
        try:
            listing = await self.client.get(
                f"{self.upstream}/v1/models", headers=headers, timeout=REQUEST_TIMEOUT
            )
            data = listing.json()["data"]
            return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return []

    async def _seed_bug_stream(self, raw: bytes, headers: dict[str, str]) -> Response:
        # The pre-fix code path, bug included: returning from inside the
        # `async with` closes the upstream response before the generator
        # below reads it.  Nothing catches what follows, as nothing did.
        url = f"{self.upstream}/v1/chat/completions"
        async with self.client.stream(
            "POST", url, content=raw, headers=headers, timeout=REQUEST_TIMEOUT
        ) as response:
            if response.status_code >= 400:
                body = await response.aread()
                return JSONResponse(status_code=response.status_code, content=json.loads(body))

            async def stream_generator() -> AsyncIterator[bytes]:
                async for chunk in response.aiter_bytes():
                    yield chunk

            return StreamingResponse(
                stream_generator(),
                media_type="text/event-stream",
                headers=dict(sse_head().without("Content-Type").headers),
            )


async def _upstream_events(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """Upstream bytes as they were, one write per whole event."""
    reader = SSEReader()
    try:
        async for chunk in upstream.aiter_bytes():
            for piece in reader.feed(chunk):
                yield piece.raw
    except httpx.HTTPError as exc:
        yield encode_item(_stream_failure(exc)) + encode_item(DONE)
        return
    if tail := reader.close():
        yield tail  # an unterminated last event: relayed, for the client to judge


async def _upstream_items(upstream: httpx.Response) -> AsyncIterator[Item]:
    reader = SSEReader()
    try:
        async for chunk in upstream.aiter_bytes():
            for piece in reader.feed(chunk):
                if piece.item is not None:
                    yield piece.item
    except httpx.HTTPError as exc:
        yield _stream_failure(exc)
        yield DONE


#: What the upstream-kept feeder queues: b"" (streaming starts), event bytes, None (the
#: end), an upstream that answered without streaming (head, body), or a failure.
_Fed = bytes | None | tuple[Head, bytes] | ApiError
#: The feeders still reading an upstream, kept from garbage collection.
_BACKGROUND: set[asyncio.Task[None]] = set()


def _is_stream(upstream: httpx.Response) -> bool:
    content_type = upstream.headers.get("content-type", "")
    return upstream.status_code < 400 and content_type.startswith("text/event-stream")


def _stream_failure(exc: httpx.HTTPError) -> Item:
    log.warning("upstream stream failed: %r", exc)
    return error_event(f"The upstream stream failed: {exc!r}", "upstream_error")


def _upstream_failure(exc: httpx.HTTPError) -> ApiError:
    status = 504 if isinstance(exc, httpx.TimeoutException) else 502
    return ApiError.upstream(f"The upstream did not answer: {exc!r}", status)


async def _raw_reply(head: Head, data: bytes) -> Reply:
    yield head.with_header("Content-Length", str(len(data)))
    yield data


def _json_object(data: bytes) -> JsonObject | None:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in _FORWARDED if name in headers}


def create_proxy_app(settings: Settings) -> FastAPI:
    # One pooled client for the app's life; it binds to no loop until used.
    proxy = ReferenceProxy(settings, httpx.AsyncClient())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with proxy.client:
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.add_api_route("/v1/models", proxy.get, methods=["GET"])
    app.add_api_route(GENERATIONS_PATH, proxy.get, methods=["GET"])
    app.add_api_route("/v1/chat/completions", proxy.chat, methods=["POST"])
    app.add_api_route("/v1/cancel/{command_id}", proxy.cancel, methods=["POST"])
    app.state.proxy = proxy
    return app
