"""The reading of an OpenAI Responses exchange (``/v1/responses``)."""

from __future__ import annotations

from .view import View

__all__ = ["ResponsesView"]


class ResponsesView(View):
    """A Responses exchange as openai-python reads it."""
