"""models.* rules: each passes a valid model list and fails the list that breaks it."""

from __future__ import annotations

import json
from typing import Any

from conformance.capture import Ending, Transcript, from_bytes
from conformance.rules import REGISTRY, Verdict

JSON = {"content-type": "application/json"}


def model(model_id: str = "llama-3.2-1b", **extra: Any) -> dict[str, Any]:
    body = {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "exo"}
    return {**body, **extra}


def listing(body: Any = None, **kw: Any) -> Transcript:
    kw.setdefault("headers", JSON)
    data = {"object": "list", "data": [model()]} if body is None else body
    return from_bytes(json.dumps(data).encode(), scenario="models", **kw)


def judge(rule_id: str, t: Transcript) -> Verdict:
    return REGISTRY.get(rule_id).judge(t)


def failure(rule_id: str, t: Transcript, *facts: str) -> Verdict:
    verdict = judge(rule_id, t)
    assert verdict.outcome == "failed", verdict
    text = f"{verdict.expected} | {verdict.actual}"
    for fact in facts:
        assert fact in text, (fact, text)
    return verdict


def test_a_valid_list_passes() -> None:
    for rule_id in ("models.schema", "models.nonempty"):
        verdict = judge(rule_id, listing())
        assert verdict.outcome == "passed" and "1 models" in verdict.message


def test_exo_list_passes() -> None:
    """docs/exo.md: many extra fields per entry, cards listed whether loaded or not."""
    extras = {"hugging_face_id": "mlx-community/x", "name": "X", "context_length": 131072,
              "tags": [], "supports_tensor": True, "capabilities": ["text"]}  # fmt: skip
    body = {"object": "list", "data": [model(f"mlx-community/m{i}", **extras) for i in range(3)]}
    for rule_id in ("models.schema", "models.nonempty"):
        assert judge(rule_id, listing(body)).outcome == "passed"


def test_schema_names_path_expected_and_value() -> None:
    t = listing({"object": "list", "data": [model(), model(created="yesterday")]})
    verdict = failure("models.schema", t, "$.data[1].created", "type integer", '"yesterday"')
    assert verdict.offset == t.body.index(b'"created"')


def test_schema_fails_a_missing_field() -> None:
    entry = model()
    del entry["owned_by"]
    t = listing({"object": "list", "data": [entry]})
    failure("models.schema", t, "$.data[0].owned_by", "required", "missing")


def test_schema_fails_a_bare_array() -> None:
    failure("models.schema", listing([model()]), "$", "type object")


def test_schema_fails_an_error_status_and_no_response() -> None:
    t = listing({"detail": "Not Found"}, status=404)
    assert failure("models.schema", t, "HTTP 200", "HTTP 404", "Not Found").offset == 0
    gone = from_bytes(b"", scenario="models", status=None, ending=Ending.REFUSED)  # type: ignore[arg-type]
    failure("models.schema", gone, "no response", "refused")


def test_schema_fails_a_body_that_is_not_json() -> None:
    t = from_bytes(b"<html>models</html>", scenario="models", headers={"content-type": "text/html"})
    assert failure("models.schema", t, "not JSON", "<html>").offset == 0


def test_nonempty() -> None:
    t = listing({"object": "list", "data": []})
    verdict = failure("models.nonempty", t, "at least one model", "data is []")
    assert verdict.offset == t.body.index(b'"data"')


def test_nonempty_leaves_a_broken_list_to_models_schema() -> None:
    for t in (listing(status=500), listing({"object": "list"}), listing([model()])):
        verdict = judge("models.nonempty", t)
        assert verdict.outcome == "skipped" and "models.schema" in verdict.message
