"""`GET /v1/models`: the list clients pick a model from."""

from __future__ import annotations

from typing import Any

from ..schemas import validate
from ..view import ChatView
from . import specs
from .common import describe_end, preview
from .registry import Level, Verdict, failed, passed, rule, skipped
from .values import key_offset, parse_body

__all__: list[str] = []

_EXPECTED = 'HTTP 200 with a model list {"object": "list", "data": [...]}'


def _http_failure(t: ChatView) -> Verdict | None:
    if t.status is None:
        return failed(_EXPECTED, f"no response: {describe_end(t)}")
    if t.status != 200:
        body = preview(t.body.decode("utf-8", "replace")) or "an empty body"
        return failed(_EXPECTED, f"HTTP {t.status} with {body}", at=0)
    return None


@rule(
    "models.schema",
    level=Level.MUST,
    requirement="`GET /v1/models` answers 200 with a valid model list: "
    '`{"object": "list", "data": [{id, object: "model", created, owned_by}, ...]}`.',
    spec=specs.OPENAI_MODELS,
    quote='OpenAI API reference, the model object: id, created, object ("model") and owned_by.',
    breaks=(
        "async-openai (Rust) `types/model.rs` (`Model` fails to deserialize without `owned_by` "
        "or with a string `created`)",
    ),
    hint='Serve `GET /v1/models` with `{"object": "list", "data": [...]}`, each entry '
    '`{"id", "object": "model", "created": <int>, "owned_by"}`; extra fields are allowed. '
    "Actual names the JSON path to fix.",
    scenarios=("models",),
)
def schema(t: ChatView) -> Verdict:
    if (verdict := _http_failure(t)) is not None:
        return verdict
    value, not_json, at = parse_body(t)
    if not_json is not None:
        return failed(_EXPECTED, not_json, at=at)
    problems = validate("models", value)
    if not problems:
        return passed(f"{len(value['data'])} models")
    first = problems[0]
    also = f"; also {', '.join(p.path for p in problems[1:])}" if len(problems) > 1 else ""
    return failed(
        f"a valid model list: {first.path} {first.expected}",
        f"{first.path} is {first.actual}{also}",
        at=key_offset(t, first.path),
    )


def _data(t: ChatView) -> list[Any] | None:
    if t.status != 200:
        return None
    value, _, _ = parse_body(t)
    data = value.get("data") if isinstance(value, dict) else None
    return data if isinstance(data, list) else None


@rule(
    "models.nonempty",
    level=Level.SHOULD,
    requirement="`GET /v1/models` names at least one model.",
    spec=specs.OPENAI_MODELS,
    hint="List every model the endpoint can serve under `data`; clients (and this suite, "
    "without `--exo-model`) pick the model to use from this list.",
    scenarios=("models",),
)
def nonempty(t: ChatView) -> Verdict:
    data = _data(t)
    if data is None:
        return skipped("no model list to judge; see models.schema")
    if not data:
        return failed("at least one model in data", "data is []", at=key_offset(t, "$.data"))
    return passed(f"{len(data)} models")
