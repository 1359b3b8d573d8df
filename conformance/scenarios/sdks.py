"""What real clients see: anthropic-python and ollama-python read the recorded stream.

A Messages or Ollama stream scenario records its exchange, then replays that
recording from a loopback socket (same bytes, same reads, same pauses) to the
official SDK: ``AsyncAnthropic().messages.stream(...)`` to its final message,
``ollama.AsyncClient().chat(stream=True)`` to its last part.  What the SDK
made of it (its final message, or the exception it raised) is kept as a
small JSON body of a synthetic related transcript, so the rule that judges it
stays a pure function.  The SDKs are optional extras, imported only here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.metadata
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..capture.redact import redact
from ..capture.replay import replay_server
from ..capture.transcript import Ending, Request, Transcript
from .base import RecordContext
from .client import INSTALL_HINT, MAX_ERROR_CHARS, _over_caps

__all__ = [
    "ANTHROPIC_RELATED",
    "INSTALL_HINT",
    "OLLAMA_RELATED",
    "SdkResult",
    "run_anthropic_sdk",
    "run_ollama_sdk",
    "with_sdk",
]

ANTHROPIC_RELATED = "anthropic-sdk"
OLLAMA_RELATED = "ollama-sdk"


@dataclass(frozen=True, slots=True)
class SdkResult:
    """What an SDK made of one streamed request: its final answer, or its exception."""

    installed: bool
    sdk: str = ""
    version: str = ""
    #: the final message (anthropic: Message as JSON; ollama: content, tool calls, done_reason)
    final: Any = None
    parts: int = 0
    error_type: str = ""
    error: str = ""
    timed_out: bool = False
    deadline_s: float = 0.0
    not_run: str = ""

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, default=str).encode()

    @classmethod
    def from_json(cls, value: Any) -> SdkResult | None:
        if not isinstance(value, dict):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in value.items() if k in names})
        except TypeError:
            return None


def _load(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _qualname(exc: BaseException, package: str) -> str:
    kind = type(exc)
    module = kind.__module__
    if module.startswith(package):
        module = package
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


async def run_anthropic_sdk(base_url: str, body: dict[str, Any], *, deadline: float) -> SdkResult:
    """Stream ``body`` with anthropic-python from ``base_url`` to its final message."""
    if not await asyncio.to_thread(_load, "anthropic"):
        return SdkResult(installed=False, sdk="anthropic")
    import anthropic

    client = anthropic.AsyncAnthropic(
        base_url=base_url, api_key="replay", max_retries=0, timeout=deadline
    )
    parts = 0
    version = anthropic.__version__
    try:
        async with asyncio.timeout(deadline):
            async with client.messages.stream(**_anthropic_kwargs(client, body)) as stream:
                async for _ in stream:
                    parts += 1
                message = await stream.get_final_message()
        final = message.model_dump(mode="json")
    except Exception as exc:
        timed_out = isinstance(exc, TimeoutError | anthropic.APITimeoutError)
        return SdkResult(
            True, "anthropic", version, None, parts, _qualname(exc, "anthropic"),
            str(exc)[:MAX_ERROR_CHARS], timed_out, deadline,
        )  # fmt: skip
    finally:
        await client.close()
    return SdkResult(True, "anthropic", version, final, parts, deadline_s=deadline)


def _anthropic_kwargs(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The body as ``messages.stream`` arguments; fields this SDK version does not
    name (``temperature`` in 2.x) go as ``extra_body``, so the request is the same."""
    named = set(inspect.signature(client.messages.stream).parameters)
    kwargs = {k: v for k, v in body.items() if k in named}
    extra = {k: v for k, v in body.items() if k not in named and k != "stream"}
    return {**kwargs, "extra_body": extra} if extra else kwargs


async def run_ollama_sdk(
    base_url: str, body: dict[str, Any], *, deadline: float, mount: str = ""
) -> SdkResult:
    """Stream ``body`` with ollama-python from ``base_url`` to its last part."""
    if not await asyncio.to_thread(_load, "ollama"):
        return SdkResult(installed=False, sdk="ollama")
    import ollama

    version = importlib.metadata.version("ollama")
    client = ollama.AsyncClient(host=base_url + mount, timeout=deadline)
    parts = 0
    content: list[str] = []
    calls: list[Any] = []
    reason: Any = None
    try:
        async with asyncio.timeout(deadline):
            kwargs = {
                k: v for k, v in body.items() if k in ("model", "messages", "options", "tools")
            }
            async for part in await client.chat(**kwargs, stream=True):
                parts += 1
                content.append(part.message.content or "")
                for call in part.message.tool_calls or []:
                    calls.append(
                        {"name": call.function.name, "arguments": dict(call.function.arguments)}
                    )
                if part.done:
                    reason = part.done_reason
    except Exception as exc:
        return SdkResult(
            True, "ollama", version, None, parts, _qualname(exc, "ollama"),
            str(exc)[:MAX_ERROR_CHARS], isinstance(exc, TimeoutError), deadline,
        )  # fmt: skip
    final = {"content": "".join(content), "tool_calls": calls, "done_reason": reason}
    return SdkResult(True, "ollama", version, final, parts, deadline_s=deadline)


Runner = Callable[[str, dict[str, Any]], Awaitable[SdkResult]]


async def with_sdk(ctx: RecordContext, ours: Transcript, name: str, run: Runner) -> Transcript:
    """``ours`` with what the SDK made of its replayed recording, related as ``name``."""
    start = time.perf_counter_ns()
    body = ours.request.json()
    over = _over_caps(ours)
    if over or not isinstance(body, dict) or ours.status is None:
        result = SdkResult(True, not_run=over or "the exchange has no answer to replay")
    else:
        async with replay_server(ours) as url:
            result = await run(url, body)
    result = dataclasses.replace(result, error=redact(result.error, ctx.secrets))
    sdk = Transcript(
        scenario=ours.scenario,
        target=ours.target,
        request=Request("POST", ours.request.url, (), ours.request.body),
        headers=(("content-type", "application/json"),),
        body=result.to_json(),
        ending=Ending.COMPLETE,
        ending_detail=f"what {name} produced (a summary, not an HTTP exchange)",
        t_end_ns=time.perf_counter_ns() - start,
    )
    return dataclasses.replace(ours, related=(*ours.related, (name, sdk)))
