"""The rule catalog.  Importing this package registers every rule group."""

from . import (  # noqa: F401 - registration side effects
    auth,
    chunk,
    client,
    completion,
    concurrency,
    consistency,
    disconnect,
    error,
    headers,
    load,
    models,
    sse,
    stream,
    tool_calls,
)
from .registry import REGISTRY, Level, Rule, Verdict, failed, passed, rule, skipped

__all__ = ["REGISTRY", "Level", "Rule", "Verdict", "failed", "passed", "rule", "skipped"]
