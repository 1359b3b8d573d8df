"""Streamed and non-streamed Responses answers to the same request agree."""

from __future__ import annotations

from typing import Any

from ..scenarios.responses import STREAM_TWIN
from ..view_responses import ResponsesView
from . import specs
from .common import preview
from .registry import Level, Verdict, failed, passed, rule, skipped
from .responses_common import API, no_answer

__all__ = ["output_text"]


def output_text(response: dict[str, Any]) -> str:
    """The text of every output_text part of every message, in order (the SDK's
    ``response.output_text``)."""
    pieces: list[str] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict) or item.get("type") != "message":
            continue
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "output_text":
                text = part.get("text")
                pieces.append(text if isinstance(text, str) else "")
    return "".join(pieces)


@rule(
    "responses.consistency",
    level=Level.SHOULD,
    requirement="At temperature 0, the streamed output text (its deltas joined) equals the "
    "non-stream answer's output text.",
    spec=specs.OPENAI_RESPONSES_STREAMING_GUIDE,
    quote="stream: If set to true, the model response data will be streamed to the client "
    "as it is generated",
    breaks=("applications that switch between streaming and not, and tests that compare them",),
    hint="Run the same generation path for `stream: true` and `stream: false`; a different "
    "answer means the two paths build the request differently (sampling, prompt template).",
    scenarios=("responses-nonstream",),
    api=API,
)
def consistency(t: ResponsesView) -> Verdict:
    if (skip := no_answer(t)) is not None:
        return skip
    twin = t.twin(STREAM_TWIN)
    if t.answer is None:
        return skipped("the non-stream answer is not a response object; see responses.schema")
    if twin is None or twin.status != 200 or twin.terminal is None:
        return skipped("the streamed twin did not finish; see the responses-stream rules")
    if twin.orphans or twin.duplicate_items:
        return skipped("the twin's items were not streamed in order; see responses.item-lifecycle")
    said, streamed = output_text(t.answer), twin.streamed_text
    if said == streamed:
        return passed()
    return failed(
        f"the streamed text {preview(streamed)!r}",
        f"the non-stream output text {preview(said)!r}",
        at=0,
    )
