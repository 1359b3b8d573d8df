"""Non-stream answers: status, content type, shape, usage and length."""

from __future__ import annotations

from typing import Any, Final

from ..scenarios.chat import SHORT_MAX_TOKENS
from ..schemas import validate
from ..view import ChatView
from . import specs
from .common import content_type_is, describe_end, preview
from .registry import Level, Verdict, failed, passed, rule, skipped
from .values import is_int, key_offset, parse_body, show, usage_problem

__all__ = ["NONSTREAMS", "key_offset", "parse_body"]

#: Scenarios whose main transcript is a non-stream chat completion.
NONSTREAMS: Final = ("nonstream-basic", "nonstream-max-tokens")


def _no_answer(t: ChatView) -> Verdict | None:
    """A skip when there is no 200 answer to judge (``completion.status`` fails that)."""
    if t.status is None:
        return skipped(
            f"no response to judge ({t.ending_detail or t.ending}); see completion.status"
        )
    if t.status != 200:
        return skipped(f"no answer to judge: HTTP {t.status}; see completion.status")
    return None


def _completion(t: ChatView) -> dict[str, Any] | Verdict:
    """The answer as a JSON object, or the skip that says why it cannot be judged."""
    if (skip := _no_answer(t)) is not None:
        return skip
    value, _, _ = parse_body(t)
    if not isinstance(value, dict):
        return skipped("the body is not a JSON object; see completion.schema")
    return value


@rule(
    "completion.status",
    level=Level.MUST,
    requirement="A valid non-stream request gets HTTP 200.",
    spec=specs.RFC9110_200,
    quote="RFC 9110 15.3.1: the 200 (OK) status code indicates that the request has succeeded.",
    breaks=(
        "openai-python (APIStatusError)",
        "openai-node (APIError)",
    ),
    hint="Answer a valid `stream: false` request with 200 and the chat.completion object; "
    "a proxy must pass the upstream answer through rather than fail on a non-stream body.",
    scenarios=NONSTREAMS,
)
def status(t: ChatView) -> Verdict:
    if t.status is None:
        return failed("HTTP 200", f"no response: {describe_end(t)}")
    if t.status != 200:
        body = preview(t.body.decode("utf-8", "replace")) or "an empty body"
        return failed("HTTP 200", f"HTTP {t.status} with {body}", at=0)
    return passed()


@rule(
    "completion.content-type",
    level=Level.MUST,
    requirement="A non-stream answer is sent as `Content-Type: application/json` "
    "(parameters allowed).",
    spec=specs.RFC9110_CONTENT_TYPE,
    quote="openai-node `src/internal/parse.ts` `defaultParseResponse` parses the body as JSON "
    "only when the media type is application/json (or +json); otherwise it returns the text.",
    breaks=("openai-node (returns a string instead of a ChatCompletion)",),
    hint='Return the completion with `media_type="application/json"` (a JSONResponse), '
    "not text/plain or text/event-stream; clients pick their parser from this header.",
    scenarios=NONSTREAMS,
)
def content_type(t: ChatView) -> Verdict:
    if (skip := _no_answer(t)) is not None:
        return skip
    return content_type_is(t, "application/json")


@rule(
    "completion.schema",
    level=Level.MUST,
    requirement="A non-stream answer validates as a `chat.completion` object.",
    spec=specs.OPENAI_CHAT_OBJECT,
    quote="OpenAI API reference, the chat completion object: id, choices, created, model and "
    "object are required, each with its type.",
    breaks=(
        "async-openai (Rust) `types/chat.rs` (`CreateChatCompletionResponse` fails to "
        "deserialize: OpenAIError::JSONDeserialize)",
    ),
    hint='Return one JSON object with `id`, `"object": "chat.completion"`, integer '
    '`created`, `model` and `choices` of `{index, message: {"role": "assistant", '
    "content}, finish_reason}`; Actual names the JSON path to fix. A body cut short "
    "means the server failed after sending 200: hold the status until the answer is "
    "complete, and send an error status with a JSON error instead.",
    scenarios=NONSTREAMS,
)
def schema(t: ChatView) -> Verdict:
    if (skip := _no_answer(t)) is not None:
        return skip
    value, not_json, at = parse_body(t)
    if not_json is not None:
        return failed("a chat.completion JSON object", not_json, at=at)
    problems = validate("chat-completion", value)
    if not problems:
        return passed()
    first = problems[0]
    also = f"; also {', '.join(p.path for p in problems[1:])}" if len(problems) > 1 else ""
    return failed(
        f"a valid chat.completion: {first.path} {first.expected}",
        f"{first.path} is {first.actual}{also}",
        at=key_offset(t, first.path),
    )


def _first_choice(value: dict[str, Any]) -> dict[str, Any] | None:
    choices = value.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _completion_tokens(value: dict[str, Any]) -> int | None:
    usage = value.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if is_int(tokens) else None


def _judge_length(t: ChatView, finish: object, tokens: int | None, limit: int) -> Verdict:
    expected = f'finish_reason "length" and at most {limit} completion tokens'
    counted = "no usage" if tokens is None else f"usage.completion_tokens {tokens}"
    if finish != "length":
        if finish == "stop" and tokens is not None and tokens < limit:
            return skipped(
                f"the model stopped by itself after {tokens} tokens, under "
                f"max_tokens={limit}; nothing was cut"
            )
        return failed(
            expected,
            f"finish_reason {show(finish)}; {counted}",
            at=key_offset(t, "$.choices[0].finish_reason"),
        )
    if tokens is not None and tokens > limit:
        return failed(
            expected,
            f"finish_reason length, but {counted}",
            at=key_offset(t, "$.usage.completion_tokens"),
        )
    if tokens is None:
        return passed("finish_reason length; no usage to count tokens (see completion.usage)")
    return passed(f"finish_reason length; {counted}")


@rule(
    "completion.max-tokens",
    level=Level.MUST,
    requirement=f"A non-stream answer limited by `max_tokens` ({SHORT_MAX_TOKENS}) has "
    "`finish_reason: length` and `usage.completion_tokens` no higher than asked.",
    spec=specs.OPENAI_MAX_TOKENS,
    quote="OpenAI API reference (finish_reason): `length` if the maximum number of tokens "
    "specified in the request was reached.",
    breaks=(
        "openai-python client.chat.completions.parse() (`lib/_parsing/_completions.py` raises "
        "LengthFinishReasonError on `length` only: a cut answer called `stop` is parsed as if "
        "whole)",
    ),
    hint="Pass `max_tokens` through to the generator, stop after that many tokens and "
    'report `"length"`; a proxy must forward the field unchanged.',
    scenarios=("nonstream-max-tokens",),
)
def max_tokens(t: ChatView) -> Verdict:
    value = _completion(t)
    if isinstance(value, Verdict):
        return value
    choice = _first_choice(value)
    if choice is None:
        return failed(
            'a choice with finish_reason "length"',
            f"choices {show(value.get('choices'))}",
            at=key_offset(t, "$.choices"),
        )
    limit = t.asked_int("max_tokens", 0)
    if limit <= 0:
        return skipped("the request set no max_tokens")
    return _judge_length(t, choice.get("finish_reason"), _completion_tokens(value), limit)


def _usage_path(problem: str) -> str:
    """The JSON path a :func:`usage_problem` text is about."""
    return "$." + problem.split(" ", 1)[0] if problem.startswith("usage.") else "$.usage"


@rule(
    "completion.usage",
    level=Level.SHOULD,
    requirement="A non-stream answer carries `usage` with integer prompt, completion and "
    "total token counts, total = prompt + completion.",
    spec=specs.OPENAI_CHAT_USAGE,
    hint='Add `"usage": {"prompt_tokens": P, "completion_tokens": C, "total_tokens": P + C}` '
    "counted by the tokenizer that ran the request; clients bill and trim context by it.",
    scenarios=NONSTREAMS,
)
def usage(t: ChatView) -> Verdict:
    value = _completion(t)
    if isinstance(value, Verdict):
        return value
    problem = usage_problem(value.get("usage"))
    if problem is None:
        return passed(f"usage {show(value['usage'])}")
    return failed(
        "usage {prompt_tokens, completion_tokens, total_tokens}, total = prompt + completion",
        problem,
        at=key_offset(t, _usage_path(problem)),
    )
