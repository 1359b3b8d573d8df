"""Capture: the SSE decoder, the recorder and the transcript it produces.

The lowest layer of the tool.  Nothing here knows about rules, reports or
pytest; everything above reads the :class:`Transcript` this layer makes.
"""

from .build import from_bytes
from .recorder import MIB, USER_AGENT, BodyBudget, Limits, make_client, record
from .sse import DIAGNOSTIC_CODES, SSEDecoder
from .transcript import Comment, Diagnostic, Ending, Event, Read, Request, Transcript

__all__ = [
    "DIAGNOSTIC_CODES",
    "MIB",
    "USER_AGENT",
    "BodyBudget",
    "Comment",
    "Diagnostic",
    "Ending",
    "Event",
    "Limits",
    "Read",
    "Request",
    "SSEDecoder",
    "Transcript",
    "from_bytes",
    "make_client",
    "record",
]
