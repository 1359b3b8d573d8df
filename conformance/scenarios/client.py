"""What real clients see: the official openai Python SDK reads the recorded stream.

The ``client-openai`` scenario records the stream-basic request once, then
replays that recording from a loopback socket (same bytes, same reads, same
pauses) to ``openai.AsyncOpenAI(...).chat.completions.create(stream=True)``.  What the
SDK produced (its text, or the exception it raised) is kept as a small JSON
body of a synthetic related transcript named ``openai-sdk``, so the rule that
judges it stays a pure function.  The SDK is an optional extra, imported only
when the scenario runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import time
from dataclasses import dataclass
from typing import Any

from ..capture.redact import redact
from ..capture.replay import replay_server
from ..capture.transcript import Ending, Request, Transcript
from .base import RecordContext, Scenario, chat_body
from .chat import request_for

__all__ = ["INSTALL_HINT", "SCENARIO", "SCENARIOS", "SDK_RELATED", "SdkRun", "run_openai_sdk"]

SCENARIO = "client-openai"
SDK_RELATED = "openai-sdk"
INSTALL_HINT = "pip install 'exo-conformance[clients]'"
#: Longest exception text kept from the SDK.
MAX_ERROR_CHARS = 400


@dataclass(frozen=True, slots=True)
class SdkRun:
    """What the openai SDK made of one streamed request."""

    installed: bool
    version: str = ""
    text: str = ""
    chunks: int = 0
    error_type: str = ""
    error: str = ""
    timed_out: bool = False
    deadline_s: float = 0.0
    #: Why the SDK was not run on this stream (empty when it was).
    not_run: str = ""

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, value: Any) -> SdkRun | None:
        if not isinstance(value, dict):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in value.items() if k in names})
        except TypeError:
            return None


# -- running the SDK ------------------------------------------------------------


async def run_openai_sdk(
    base_url: str, body: dict[str, Any], *, deadline: float, secrets: tuple[str, ...] = ()
) -> SdkRun:
    """Stream ``body`` with the openai SDK from ``base_url`` under the deadline; never raises."""
    if not await asyncio.to_thread(_load_sdk):
        return SdkRun(installed=False)
    import openai  # already loaded by _load_sdk: no wait here

    client = openai.AsyncOpenAI(
        base_url=base_url.rstrip("/") + "/v1",
        # The SDK sends its key to the replay on loopback only, never the real one.
        api_key="replay",
        max_retries=0,
        timeout=deadline,
    )
    pieces: list[str] = []
    chunks = 0
    try:
        async with asyncio.timeout(deadline):
            stream = await client.chat.completions.create(
                **{k: v for k, v in body.items() if k != "stream"}, stream=True
            )
            async with stream:
                async for chunk in stream:
                    chunks += 1
                    pieces.append(_first_content(chunk))
    except Exception as exc:
        timed_out = isinstance(exc, TimeoutError | openai.APITimeoutError)
        return SdkRun(
            True,
            openai.__version__,
            "".join(pieces),
            chunks,
            _qualname(exc),
            redact(str(exc), secrets)[:MAX_ERROR_CHARS],
            timed_out,
            deadline,
        )
    finally:
        await client.close()
    return SdkRun(True, openai.__version__, "".join(pieces), chunks, deadline_s=deadline)


def _load_sdk() -> bool:
    """Import the SDK (about a second of work) off the event loop, where other
    scenarios are being recorded and timed; False when it is not installed."""
    try:
        importlib.import_module("openai")
    except ImportError:
        return False
    return True


def _first_content(chunk: Any) -> str:
    """The first choice's delta content, read as defensively as a careful client does.

    The SDK builds chunks without validating them, so a malformed chunk (no
    ``choices``, a null delta) reaches this loop as-is; it is chunk.schema's
    business, not an SDK failure, and must not be reported as one.
    """
    for choice in getattr(chunk, "choices", None) or []:
        if getattr(choice, "index", 0) == 0:
            content = getattr(getattr(choice, "delta", None), "content", None)
            return content if isinstance(content, str) else ""
    return ""


def _qualname(exc: BaseException) -> str:
    kind = type(exc)
    module = kind.__module__
    if module.startswith("openai"):
        module = "openai"  # openai._exceptions.APIError is openai.APIError to its users
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def _sdk_transcript(ours: Transcript, run: SdkRun, elapsed_ns: int) -> Transcript:
    return Transcript(
        scenario=SCENARIO,
        target=ours.target,
        request=Request("POST", ours.request.url, (), ours.request.body),
        headers=(("content-type", "application/json"),),
        body=run.to_json(),
        ending=Ending.COMPLETE,
        ending_detail="what the openai SDK produced (a summary, not an HTTP exchange)",
        t_end_ns=elapsed_ns,
    )


async def _record_client(ctx: RecordContext) -> Transcript:
    # The stream-basic request: the two scenarios share one exchange.
    body = request_for("stream-basic", ctx.target.model) or chat_body(ctx.target.model)
    ours = await ctx.chat(SCENARIO, body, share=True)
    start = time.perf_counter_ns()
    over = _over_caps(ours)
    if over:
        run = SdkRun(True, not_run=over)
    else:
        # The SDK reads the recorded exchange itself, replayed on loopback read by
        # read, so it judges what every other rule judged (and costs no request).
        async with replay_server(ours) as url:
            run = await run_openai_sdk(
                url, body, deadline=ctx.limits.deadline_s, secrets=ctx.secrets
            )
    sdk = _sdk_transcript(ours, run, time.perf_counter_ns() - start)
    return dataclasses.replace(ours, related=((SDK_RELATED, sdk),))


#: Diagnostics that mean a line or event outgrew the harness's caps.
_OVERSIZE = frozenset({"line-too-long", "event-too-large"})


def _over_caps(t: Transcript) -> str:
    """Why the SDK must not be pointed at this stream, or "".

    The SDK buffers lines and bodies without bound; a stream that outgrew the
    harness's own caps would make the run's memory the SDK's to decide.
    """
    if t.truncated or t.ending in (Ending.SIZE_CAP, Ending.EVENT_CAP):
        return f"the stream outgrew the harness's caps ({t.ending_detail or t.ending})"
    if t.ending is Ending.DEADLINE:
        # The SDK would wait out the same deadline and learn nothing more.
        return f"the recorded stream ran out its deadline ({t.ending_detail})"
    big = next((d for d in t.diagnostics if d.code in _OVERSIZE), None)
    if big is not None:
        return f"the stream outgrew the harness's caps ({big.message} at byte {big.offset})"
    return ""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        SCENARIO,
        "the stream-basic request, recorded, then streamed by the official openai Python SDK",
        _record_client,
    ),
)
