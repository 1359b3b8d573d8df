"""What openai-python makes of a recorded Responses stream.

After a Responses stream scenario records its exchange, the recording is
replayed from a loopback socket (same bytes, same reads) to
``openai.AsyncOpenAI(...).responses.stream(...)``, the SDK's accumulating
reader.  What it produced (the text of its delta events, the final
response's ``output_text``, or the exceptions it raised) is kept as a small
JSON body of a related transcript named ``openai-responses``, so the rule that
judges it (``client.openai-responses``) stays a pure function and the
endpoint gets no second request.  The SDK is an optional extra.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..capture.redact import redact
from ..capture.replay import replay_server
from ..capture.transcript import Ending, Request, Transcript
from .base import RecordContext
from .client import MAX_ERROR_CHARS, _load_sdk, _over_caps, _qualname

__all__ = ["SDK_RESPONSES", "ResponsesSdkRun", "run_responses_sdk", "with_sdk_run"]

#: Where a Responses stream keeps what the SDK made of it.
SDK_RESPONSES = "openai-responses"


@dataclass(frozen=True, slots=True)
class ResponsesSdkRun:
    """What ``responses.stream()`` made of one recorded stream."""

    installed: bool
    version: str = ""
    #: the joined ``delta`` of the SDK's ``response.output_text.delta`` events
    text: str = ""
    events: int = 0
    #: what iterating the stream raised (empty when it did not)
    error_type: str = ""
    error: str = ""
    #: ``get_final_response().output_text``, and what that call raised
    final_text: str | None = None
    final_error_type: str = ""
    final_error: str = ""
    timed_out: bool = False
    deadline_s: float = 0.0
    #: why the SDK was not run on this stream (empty when it was)
    not_run: str = ""
    #: whether the SDK has ``responses.stream`` (openai >= 1.66)
    supported: bool = True

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, value: Any) -> ResponsesSdkRun | None:
        if not isinstance(value, dict):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in value.items() if k in names})
        except TypeError:
            return None


def _cut(exc: BaseException, secrets: tuple[str, ...]) -> str:
    return redact(str(exc), secrets)[:MAX_ERROR_CHARS]


async def run_responses_sdk(
    base_url: str, body: dict[str, Any], *, deadline: float, secrets: tuple[str, ...] = ()
) -> ResponsesSdkRun:
    """Stream ``body`` with ``responses.stream()`` from ``base_url``; never raises."""
    if not await asyncio.to_thread(_load_sdk):
        return ResponsesSdkRun(installed=False)
    import openai

    client = openai.AsyncOpenAI(
        # The SDK sends its key to the replay on loopback only, never the real one.
        base_url=base_url.rstrip("/") + "/v1",
        api_key="replay",
        max_retries=0,
        timeout=deadline,
    )
    version = openai.__version__
    if not hasattr(client, "responses") or not hasattr(client.responses, "stream"):
        await client.close()
        return ResponsesSdkRun(True, version, supported=False)
    pieces: list[str] = []
    events = 0
    request = {k: v for k, v in body.items() if k != "stream"}
    try:
        async with asyncio.timeout(deadline), client.responses.stream(**request) as stream:
            try:
                async for event in stream:
                    events += 1
                    if getattr(event, "type", None) == "response.output_text.delta":
                        delta = getattr(event, "delta", "")
                        pieces.append(delta if isinstance(delta, str) else "")
            except Exception as exc:
                return ResponsesSdkRun(
                    True, version, "".join(pieces), events, _qualname(exc), _cut(exc, secrets),
                    timed_out=isinstance(exc, TimeoutError | openai.APITimeoutError),
                    deadline_s=deadline,
                )  # fmt: skip
            try:
                final = await stream.get_final_response()
                text = getattr(final, "output_text", None)
                final_text = text if isinstance(text, str) else None
                final_error_type = final_error = ""
            except Exception as exc:
                final_text, final_error_type, final_error = None, _qualname(exc), _cut(exc, secrets)
    except Exception as exc:
        timed_out = isinstance(exc, TimeoutError | openai.APITimeoutError)
        return ResponsesSdkRun(
            True, version, "".join(pieces), events, _qualname(exc), _cut(exc, secrets),
            timed_out=timed_out, deadline_s=deadline,
        )  # fmt: skip
    finally:
        await client.close()
    return ResponsesSdkRun(
        True, version, "".join(pieces), events, final_text=final_text,
        final_error_type=final_error_type, final_error=final_error, deadline_s=deadline,
    )  # fmt: skip


def _sdk_transcript(ours: Transcript, run: ResponsesSdkRun) -> Transcript:
    return Transcript(
        scenario=ours.scenario,
        target=ours.target,
        request=Request("POST", ours.request.url, (), ours.request.body),
        headers=(("content-type", "application/json"),),
        body=run.to_json(),
        ending=Ending.COMPLETE,
        ending_detail="what openai-python's responses.stream() produced (a summary)",
    )


async def with_sdk_run(ctx: RecordContext, ours: Transcript, body: dict[str, Any]) -> Transcript:
    """The recorded stream, with what the SDK made of its replay kept beside it."""
    if ours.ending is Ending.NOT_SENT:
        return ours
    over = _over_caps(ours)
    if over:
        run = ResponsesSdkRun(True, not_run=over)
    else:
        async with replay_server(ours) as url:
            run = await run_responses_sdk(
                url, body, deadline=ctx.limits.deadline_s, secrets=ctx.secrets
            )
    sdk = _sdk_transcript(ours, run)
    return dataclasses.replace(ours, related=(*ours.related, (SDK_RESPONSES, sdk)))
