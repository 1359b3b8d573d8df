"""The models the reference server knows, and its ``GET /v1/models`` answer."""

from __future__ import annotations

from .wire import JsonObject

__all__ = ["MODELS", "OWNER", "models_payload"]

MODELS: tuple[str, ...] = ("exo-reference/echo-1", "exo-reference/echo-2")
OWNER = "exo-conformance"
# A fixed creation time keeps the listing byte-identical across runs.
_CREATED = 1_735_689_600


def models_payload(models: tuple[str, ...] = MODELS) -> JsonObject:
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": _CREATED, "owned_by": OWNER}
            for model in models
        ],
    }
