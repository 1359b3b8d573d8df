"""Errors in OpenAI's envelope: before a stream (a JSON reply) and inside one."""

from __future__ import annotations

from dataclasses import dataclass

from .wire import Data, JsonObject

__all__ = ["ApiError", "error_event", "typed_error_event"]


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error reply: a status and the ``{"error": {...}}`` envelope's fields."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None

    def envelope(self) -> JsonObject:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    @classmethod
    def invalid_json(cls, detail: str) -> ApiError:
        message = f"We could not parse the JSON body of your request. ({detail})"
        return cls(400, message, code="invalid_json")

    @classmethod
    def missing(cls, param: str) -> ApiError:
        message = f"Missing required parameter: '{param}'."
        return cls(400, message, param=param, code="missing_required_parameter")

    @classmethod
    def invalid(cls, param: str, message: str, code: str = "invalid_value") -> ApiError:
        return cls(400, message, param=param, code=code)

    @classmethod
    def unknown_model(cls, model: str) -> ApiError:
        message = f"The model `{model}` does not exist or you do not have access to it."
        return cls(404, message, code="model_not_found")

    @classmethod
    def bad_api_key(cls) -> ApiError:
        message = "Incorrect API key provided. Send it as 'Authorization: Bearer <key>'."
        return cls(401, message, code="invalid_api_key")

    @classmethod
    def upstream(cls, message: str, status: int = 502) -> ApiError:
        return cls(status, message, type="server_error", code="upstream_error")


def error_event(message: str, code: str = "generation_failed") -> Data:
    """The mid-stream error event EXO and vLLM send before ``[DONE]``."""
    return Data.of(ApiError(500, message, type="server_error", code=code).envelope())


def typed_error_event(message: str, code: str = "generation_failed") -> Data:
    """The same envelope as an ``event: error`` event, which openai-python raises on."""
    envelope = ApiError(500, message, type="server_error", code=code).envelope()
    return Data.of(envelope, event="error")
