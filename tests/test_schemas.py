"""The JSON Schemas in schemas/ and the validate() API over them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conformance import schemas
from conformance.schemas import KINDS, MAX_PROBLEMS, SchemaProblem, validate

Doc = dict[str, Any]


def chunk(**fields: Any) -> Doc:
    """A minimal valid chat.completion.chunk, with fields replaced."""
    doc: Doc = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_732_540_000,
        "model": "llama-3.2-1b",
        "choices": [
            {"index": 0, "delta": {"content": "Hi"}, "logprobs": None, "finish_reason": None}
        ],
    }
    doc.update(fields)
    return doc


def completion(**fields: Any) -> Doc:
    """A minimal valid chat.completion, with fields replaced."""
    doc: Doc = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 1_732_540_000,
        "model": "llama-3.2-1b",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    doc.update(fields)
    return doc


def report() -> Doc:
    return {
        "tool": {"name": "exo-conformance", "version": "0.1.0"},
        "targets": [{"url": "http://127.0.0.1:52415", "model": "llama-3.2-1b"}],
        "started_at": "2025-11-25T14:46:00.123456+00:00",
        "duration_s": 4.217,
        "strict": False,
        "error": None,
        "summary": {"passed": 1, "failed": 1, "warned": 0, "skipped": 0, "known": 0, "error": 0},
        "results": [
            {
                "rule": "stream.done",
                "level": "MUST",
                "scenario": "stream-basic",
                "target": "http://127.0.0.1:52415",
                "outcome": "passed",
                "message": "",
                "expected": "",
                "actual": "",
                "hint": "",
                "offset": None,
                "spec": "https://platform.openai.com/docs/api-reference/chat-streaming",
                "breaks": [],
                "repetitions": {"failed": 0, "of": 1},
            },
            {
                "rule": "headers.x-accel-buffering",
                "level": "SHOULD",
                "scenario": "stream-basic",
                "target": "http://127.0.0.1:52415",
                "outcome": "failed",
                "message": "X-Accel-Buffering is absent",
                "expected": "X-Accel-Buffering: no",
                "actual": "no X-Accel-Buffering header",
                "offset": 0,
                "spec": "https://nginx.org/en/docs/http/ngx_http_proxy_module.html",
                "hint": "Send X-Accel-Buffering: no",
                "breaks": ["nginx in front of the endpoint"],
                "repetitions": {"failed": 1, "of": 1},
            },
        ],
        "scenarios": [
            {
                "id": "stream-basic",
                "target": "http://127.0.0.1:52415",
                "status": 200,
                "ttfb_ms": 12.5,
                "duration_ms": 830.25,
                "events": 14,
                "bytes": 3120,
                "ending": "closed",
            },
            {
                "id": "disconnect",
                "target": "http://127.0.0.1:52415",
                "status": None,
                "ttfb_ms": None,
                "duration_ms": 5000.0,
                "events": 0,
                "bytes": 0,
            },
        ],
    }


def changed(doc: Doc, change: Callable[[Doc], object]) -> Doc:
    """A deep copy of ``doc`` with ``change`` applied to it."""
    copied = copy.deepcopy(doc)
    change(copied)
    return copied


# ---------------------------------------------------------------- the files


def test_every_kind_has_exactly_one_schema_file() -> None:
    files = {
        entry.name.removesuffix(".schema.json")
        for entry in schemas._schema_dir().iterdir()
        if entry.name.endswith(".schema.json")
    }
    assert files == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_file_is_valid_draft_2020_12(kind: str) -> None:
    doc = schemas.schema(kind)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == f"https://exo-conformance.dev/schemas/{kind}.schema.json"
    assert doc["title"]
    assert doc["description"]


@pytest.mark.parametrize("kind", KINDS)
def test_no_openapi_nullable_keyword(kind: str) -> None:
    # `nullable` means nothing in JSON Schema; null must be spelled as a type.
    assert '"nullable"' not in json.dumps(schemas.schema(kind))


def test_schema_returns_a_copy() -> None:
    schemas.schema("error")["required"].append("tampered")
    assert schemas.schema("error")["required"] == ["error"]


def test_the_source_tree_and_the_package_agree() -> None:
    # In a checkout the files are read from schemas/; a wheel carries them as
    # conformance/schemas/. Whichever is used, it holds readable JSON.
    root = schemas._schema_dir()
    for kind in KINDS:
        assert json.loads(root.joinpath(f"{kind}.schema.json").read_text("utf-8"))
    assert resources.files("conformance").is_dir()


# ------------------------------------------------------ compiled once, reused


def test_validator_is_compiled_once_per_kind() -> None:
    for kind in KINDS:
        assert schemas.validator(kind) is schemas.validator(kind)
    assert schemas.validator("error") is not schemas.validator("models")


def test_validate_reuses_the_compiled_validator() -> None:
    validate("chat-completion-chunk", chunk())
    before = schemas.validator.cache_info()
    for _ in range(3):
        validate("chat-completion-chunk", chunk(created="x"))
    after = schemas.validator.cache_info()
    assert after.misses == before.misses
    assert after.hits == before.hits + 3


def test_validators_check_formats() -> None:
    assert schemas.validator("report").format_checker is not None


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown schema kind 'chunk'"):
        validate("chunk", {})


# ------------------------------------------------------------- valid examples

VALID: list[tuple[str, str, object]] = [
    (
        "chat-completion-chunk",
        "role chunk",
        chunk(
            system_fingerprint="fp_44709d6fcb",
            choices=[
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        ),
    ),
    ("chat-completion-chunk", "content chunk", chunk()),
    (
        "chat-completion-chunk",
        "finish chunk",
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}], obfuscation=""),
    ),
    ("chat-completion-chunk", "usage null before the usage chunk", chunk(usage=None)),
    (
        "chat-completion-chunk",
        "usage chunk",
        chunk(
            choices=[],
            usage={
                "prompt_tokens": 9,
                "completion_tokens": 12,
                "total_tokens": 21,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        ),
    ),
    (
        "chat-completion-chunk",
        "EXO-like chunk with extra fields",
        chunk(
            service_tier=None,
            system_fingerprint=None,
            choices=[
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "Hi", "reasoning_content": None},
                    "logprobs": None,
                    "finish_reason": None,
                    "usage": None,
                }
            ],
            generation_stats={"prompt_tps": 120.5, "generation_tps": 42.0},
        ),
    ),
    (
        "chat-completion-chunk",
        "first tool call piece",
        chunk(
            choices=[
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_abc",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ],
                    },
                    "finish_reason": None,
                }
            ]
        ),
    ),
    (
        "chat-completion-chunk",
        "later tool call piece",
        chunk(
            choices=[
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
                    "finish_reason": None,
                }
            ]
        ),
    ),
    (
        "chat-completion-chunk",
        "tool calls finish",
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    ),
    (
        "chat-completion-chunk",
        "logprobs",
        chunk(
            choices=[
                {
                    "index": 0,
                    "delta": {"content": "Hi"},
                    "logprobs": {
                        "content": [
                            {
                                "token": "Hi",
                                "logprob": -0.01,
                                "bytes": [72, 105],
                                "top_logprobs": [
                                    {"token": "Hi", "logprob": -0.01, "bytes": [72, 105]}
                                ],
                            }
                        ],
                        "refusal": None,
                    },
                    "finish_reason": None,
                }
            ]
        ),
    ),
    ("chat-completion", "plain completion", completion()),
    (
        "chat-completion",
        "full completion",
        completion(
            system_fingerprint="fp_fc9f1d7035",
            service_tier="default",
            choices=[
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello there.",
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "length",
                },
                {
                    "index": 1,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "refusal": None,
                        "tool_calls": [
                            {
                                "id": "call_abc",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": "{}"},
                            },
                            {
                                "id": "call_def",
                                "type": "custom",
                                "custom": {"name": "sql", "input": "select 1"},
                            },
                        ],
                    },
                    "logprobs": None,
                    "finish_reason": "tool_calls",
                },
            ],
            usage={
                "prompt_tokens": 1117,
                "completion_tokens": 46,
                "total_tokens": 1163,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        ),
    ),
    ("chat-completion", "without usage", changed(completion(), lambda d: d.pop("usage"))),
    (
        "error",
        "OpenAI error",
        {
            "error": {
                "message": "The model `nope` does not exist",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        },
    ),
    (
        "error",
        "nothing to say in param and code",
        {
            "error": {
                "message": "Bad request",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        "error",
        "EXO error with an integer code",
        {"error": {"message": "boom", "type": "InternalServerError", "param": None, "code": 500}},
    ),
    (
        "models",
        "OpenAI model list",
        {
            "object": "list",
            "data": [
                {"id": "gpt-4o", "object": "model", "created": 1_715_367_049, "owned_by": "system"}
            ],
        },
    ),
    (
        "models",
        "EXO model list with extra fields",
        {
            "object": "list",
            "data": [
                {
                    "id": "llama-3.2-1b",
                    "object": "model",
                    "created": 1_732_540_000,
                    "owned_by": "exo",
                    "hugging_face_id": "mlx-community/Llama-3.2-1B-Instruct-4bit",
                    "context_length": 131072,
                    "tags": [],
                    "shutdown_date": None,
                }
            ],
        },
    ),
    ("models", "no models", {"object": "list", "data": []}),
    ("report", "complete report", report()),
]


RELAXED: list[tuple[str, Doc]] = [
    # Judged by SHOULD rules, not by the schemas (see each schema's description).
    ("chat-completion-chunk", chunk(choices=[{"index": 0, "delta": {"content": "x"}}])),
    (
        "chat-completion-chunk",
        chunk(choices=[{"index": 0, "delta": {"tool_calls": None, "function_call": None}}]),
    ),
    ("chat-completion", changed(completion(), lambda d: d["choices"][0]["message"].pop("refusal"))),
    ("chat-completion", changed(completion(), lambda d: d["choices"][0].pop("logprobs"))),
    (
        "chat-completion",
        changed(
            completion(),
            lambda d: d["usage"].update(prompt_tokens_details=None, completion_tokens_details=None),
        ),
    ),
]


@pytest.mark.parametrize(("kind", "instance"), RELAXED)
def test_relaxed_examples_pass(kind: str, instance: Doc) -> None:
    assert validate(kind, instance) == []


@pytest.mark.parametrize(
    ("kind", "instance"), [(kind, doc) for kind, _, doc in VALID], ids=[i for _, i, _ in VALID]
)
def test_valid_examples_pass(kind: str, instance: object) -> None:
    assert validate(kind, instance) == []


# ----------------------------------------------------------- invalid examples

INVALID: list[tuple[str, str, object, str, str, str]] = [
    # kind, id, instance, path, expected, actual
    (
        "chat-completion-chunk",
        "wrong object type",
        chunk(object="chat.completion"),
        "$.object",
        "'chat.completion.chunk'",
        '"chat.completion"',
    ),
    (
        "chat-completion-chunk",
        "created as a string",
        chunk(created="123"),
        "$.created",
        "type integer",
        '"123"',
    ),
    (
        "chat-completion-chunk",
        "missing id",
        changed(chunk(), lambda d: d.pop("id")),
        "$.id",
        "required property 'id'",
        "missing",
    ),
    (
        "chat-completion-chunk",
        "finish_reason done",
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "done"}]),
        "$.choices[0].finish_reason",
        "one of 'stop','length','tool_calls','content_filter','function_call',null",
        '"done"',
    ),
    (
        "chat-completion-chunk",
        "finish_reason null",
        chunk(
            choices=[{"index": 0, "delta": {"content": "x"}, "finish_reason": None, "logprobs": 5}]
        ),
        "$.choices[0].logprobs",
        "type object or null",
        "5",
    ),
    (
        "chat-completion-chunk",
        "role bot",
        chunk(choices=[{"index": 0, "delta": {"role": "bot"}, "finish_reason": None}]),
        "$.choices[0].delta.role",
        "one of 'developer','system','user','assistant','tool',null",
        '"bot"',
    ),
    (
        "chat-completion-chunk",
        "negative usage tokens",
        chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": -1, "total_tokens": 4}),
        "$.usage.completion_tokens",
        "a number >= 0",
        "-1",
    ),
    (
        "chat-completion-chunk",
        "usage neither object nor null",
        chunk(usage="12 tokens"),
        "$.usage",
        "type object or null",
        '"12 tokens"',
    ),
    (
        "chat-completion-chunk",
        "choices not an array",
        chunk(choices={"index": 0}),
        "$.choices",
        "type array",
        '{"index": 0}',
    ),
    (
        "chat-completion-chunk",
        "tool call piece without index",
        chunk(
            choices=[
                {"index": 0, "delta": {"tool_calls": [{"id": "call_1"}]}, "finish_reason": None}
            ]
        ),
        "$.choices[0].delta.tool_calls[0].index",
        "required property 'index'",
        "missing",
    ),
    (
        "chat-completion-chunk",
        "tool_calls a string",
        chunk(choices=[{"index": 0, "delta": {"tool_calls": "x"}, "finish_reason": None}]),
        "$.choices[0].delta.tool_calls",
        "type array or null",
        '"x"',
    ),
    (
        "chat-completion-chunk",
        "not an object",
        ["data"],
        "$",
        "type object",
        '["data"]',
    ),
    (
        "chat-completion",
        "chunk object type in a completion",
        completion(object="chat.completion.chunk"),
        "$.object",
        "'chat.completion'",
        '"chat.completion.chunk"',
    ),
    (
        "chat-completion",
        "finish_reason null in a completion",
        changed(completion(), lambda d: d["choices"][0].update(finish_reason=None)),
        "$.choices[0].finish_reason",
        "one of 'stop','length','tool_calls','content_filter','function_call'",
        "null",
    ),
    (
        "chat-completion",
        "message without content",
        changed(completion(), lambda d: d["choices"][0]["message"].pop("content")),
        "$.choices[0].message.content",
        "required property 'content'",
        "missing",
    ),
    (
        "chat-completion",
        "message role user",
        changed(completion(), lambda d: d["choices"][0]["message"].update(role="user")),
        "$.choices[0].message.role",
        "'assistant'",
        '"user"',
    ),
    (
        "chat-completion",
        "function tool call without arguments",
        changed(
            completion(),
            lambda d: d["choices"][0]["message"].update(
                tool_calls=[{"id": "c", "type": "function", "function": {"name": "f"}}]
            ),
        ),
        "$.choices[0].message.tool_calls[0].function.arguments",
        "required property 'arguments'",
        "missing",
    ),
    (
        "chat-completion",
        "unknown tool call type",
        changed(
            completion(),
            lambda d: d["choices"][0]["message"].update(tool_calls=[{"id": "c", "type": "shell"}]),
        ),
        "$.choices[0].message.tool_calls[0].type",
        "one of 'function','custom'",
        '"shell"',
    ),
    (
        "chat-completion",
        "usage missing total",
        changed(completion(), lambda d: d["usage"].pop("total_tokens")),
        "$.usage.total_tokens",
        "required property 'total_tokens'",
        "missing",
    ),
    (
        "error",
        "error without message",
        {"error": {"type": "invalid_request_error", "param": None, "code": None}},
        "$.error.message",
        "required property 'message'",
        "missing",
    ),
    (
        "error",
        "FastAPI validation body",
        {"detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required"}]},
        "$.error",
        "required property 'error'",
        "missing",
    ),
    (
        "error",
        "error as a bare string",
        {"error": "model not found"},
        "$.error",
        "type object",
        '"model not found"',
    ),
    (
        "error",
        "code neither string, integer nor null",
        {"error": {"message": "m", "type": "t", "param": None, "code": 4.5}},
        "$.error.code",
        "type string or integer or null",
        "4.5",
    ),
    (
        "models",
        "models without data",
        {"object": "list"},
        "$.data",
        "required property 'data'",
        "missing",
    ),
    (
        "models",
        "model without owner",
        {"object": "list", "data": [{"id": "m", "object": "model", "created": 1}]},
        "$.data[0].owned_by",
        "required property 'owned_by'",
        "missing",
    ),
    (
        "report",
        "unknown outcome",
        changed(report(), lambda d: d["results"][0].update(outcome="ok")),
        "$.results[0].outcome",
        "one of 'passed','failed','warned','skipped','known','error'",
        '"ok"',
    ),
    (
        "report",
        "summary count missing",
        changed(report(), lambda d: d["summary"].pop("known")),
        "$.summary.known",
        "required property 'known'",
        "missing",
    ),
    (
        "report",
        "started_at not a timestamp",
        changed(report(), lambda d: d.update(started_at="yesterday")),
        "$.started_at",
        "format date-time",
        '"yesterday"',
    ),
    (
        "report",
        "started_at without an offset",
        changed(report(), lambda d: d.update(started_at="2025-11-25T14:46:00")),
        "$.started_at",
        "format date-time",
        '"2025-11-25T14:46:00"',
    ),
    (
        "report",
        "spec not a string",
        changed(report(), lambda d: d["results"][0].update(spec=42)),
        "$.results[0].spec",
        "type string",
        "42",
    ),
    (
        "report",
        "ttfb_ms as a string",
        changed(report(), lambda d: d["scenarios"][0].update(ttfb_ms="12")),
        "$.scenarios[0].ttfb_ms",
        "type number or null",
        '"12"',
    ),
]


@pytest.mark.parametrize(
    ("kind", "instance", "path", "expected", "actual"),
    [row[:1] + row[2:] for row in INVALID],
    ids=[row[1] for row in INVALID],
)
def test_invalid_examples_fail_with_a_clear_first_problem(
    kind: str, instance: object, path: str, expected: str, actual: str
) -> None:
    problems = validate(kind, instance)
    assert problems, "expected the instance to be rejected"
    first = problems[0]
    assert (first.path, first.expected, first.actual) == (path, expected, actual)
    assert first.message == f"{path}: expected {expected}, got {actual}"


# ------------------------------------------------------------ problem details


def test_problem_is_frozen() -> None:
    problem = validate("chat-completion-chunk", chunk(created="123"))[0]
    assert problem == SchemaProblem(
        "$.created", "type integer", '"123"', '$.created: expected type integer, got "123"'
    )
    with pytest.raises(AttributeError):
        problem.path = "$"  # type: ignore[misc]


def test_higher_problems_come_first_and_each_place_once() -> None:
    doc = chunk(created="x", choices=[{"index": -1, "delta": {"role": "bot"}, "finish_reason": 1}])
    doc.pop("model")
    paths = [p.path for p in validate("chat-completion-chunk", doc)]
    assert paths[:2] == ["$.model", "$.created"]
    assert set(paths[2:]) == {
        "$.choices[0].index",
        "$.choices[0].delta.role",
        "$.choices[0].finish_reason",
    }
    assert len(paths) == len(set(paths))


def test_every_missing_property_is_named() -> None:
    paths = [p.path for p in validate("error", {"error": {}})]
    assert paths == ["$.error.message", "$.error.type", "$.error.param", "$.error.code"]


def test_nullable_object_reports_the_branch_it_was_meant_to_be() -> None:
    problems = validate("chat-completion-chunk", chunk(choices=[], usage={"prompt_tokens": 1}))
    assert [p.path for p in problems] == ["$.usage.completion_tokens", "$.usage.total_tokens"]


def test_problems_are_capped() -> None:
    doc = {"choices": [{"delta": 1}] * 10, "usage": {"prompt_tokens": -1}}
    assert len(validate("chat-completion-chunk", doc)) == MAX_PROBLEMS
    assert len(validate("chat-completion-chunk", doc, limit=2)) == 2
    assert len(validate("chat-completion-chunk", doc, limit=100)) > MAX_PROBLEMS
    with pytest.raises(ValueError, match="limit"):
        validate("chat-completion-chunk", doc, limit=0)


def test_long_actual_values_are_cut() -> None:
    problem = validate("chat-completion-chunk", chunk(created="7" * 500))[0]
    assert len(problem.actual) <= 120
    assert problem.actual.startswith('"777')
    assert problem.actual.endswith("…")
    assert problem.message == f"$.created: expected type integer, got {problem.actual}"


def test_odd_property_names_are_quoted_in_the_path() -> None:
    assert schemas._json_path([]) == "$"
    assert schemas._json_path(["choices", 0, "delta"]) == "$.choices[0].delta"
    assert schemas._json_path(["a b", 0, "x.y", "é"]) == '$["a b"][0]["x.y"]["é"]'


def test_values_that_are_not_json_are_rendered_anyway() -> None:
    problem = validate("chat-completion-chunk", chunk(created=b"123"))[0]
    assert problem.path == "$.created"
    assert "123" in problem.actual


def test_report_baseline_section_is_checked() -> None:
    entry = {"rule": "headers.*", "target": "*", "scenario": "*", "reason": "r", "expires": ""}
    doc = report()
    doc["baseline"] = {"file": "b.toml", "entries": 1, "stale": [entry], "expired": []}
    assert validate("report", doc) == []
    doc["baseline"]["stale"] = [{"rule": "headers.*"}]
    problems = validate("report", doc)
    assert problems and problems[0].path.startswith("$.baseline.stale[0]")
