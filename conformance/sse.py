"""``conformance.sse``: the strict SSE decoder (it lives in ``conformance.capture.sse``).

Kept as a module of its own because it is a documented import::

    from conformance.sse import SSEDecoder
"""

from .capture.sse import DIAGNOSTIC_CODES, Comment, Diagnostic, Event, SSEDecoder

__all__ = ["DIAGNOSTIC_CODES", "Comment", "Diagnostic", "Event", "SSEDecoder"]
