"""exo-conformance: streaming conformance checks for OpenAI-compatible endpoints.

The public API for users' own rules (in a ``conftest.py`` or any plugin)::

    from conformance import Level, failed, passed, rule, skipped

    @rule("mine.fast-first-token", level=Level.SHOULD,
          requirement="The first content arrives within 2 s.",
          scenarios=["stream-basic"])
    def fast_first_token(view):
        ...

The names load on first use, so importing one part of the package (the
decoder, the reference server) does not load the whole rule catalog.

PYTEST_DONT_REWRITE: the plugin holds no test asserts, and ``exo-conformance``
imports it before pytest starts, which pytest would otherwise warn about.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("exo-conformance")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from .capture.transcript import Transcript
    from .rules.registry import Level, Verdict, failed, passed, rule, skipped
    from .view import ChatView, View

__all__ = [
    "ChatView",
    "Level",
    "Transcript",
    "Verdict",
    "View",
    "__version__",
    "failed",
    "passed",
    "rule",
    "skipped",
]

#: Where each public name lives.
_PUBLIC = {
    "Level": "conformance.rules",
    "Verdict": "conformance.rules",
    "failed": "conformance.rules",
    "passed": "conformance.rules",
    "rule": "conformance.rules",
    "skipped": "conformance.rules",
    "ChatView": "conformance.view",
    "View": "conformance.view",
    "Transcript": "conformance.capture.transcript",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    return getattr(import_module(module), name)
