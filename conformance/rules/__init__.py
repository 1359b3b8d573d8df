"""The rule catalog.  Importing this package registers every rule group."""

from . import (  # noqa: F401 - registration side effects
    auth,
    cancel,
    chunk,
    client,
    client_sdks,
    completion,
    concurrency,
    consistency,
    disconnect,
    error,
    headers,
    messages,
    models,
    ollama,
    responses_client,
    responses_consistency,
    responses_events,
    responses_http,
    responses_items,
    responses_lifecycle,
    sse,
    stream,
    tool_calls,
)
from .registry import REGISTRY, Level, Rule, Verdict, failed, passed, rule, skipped

__all__ = ["REGISTRY", "Level", "Rule", "Verdict", "failed", "passed", "rule", "skipped"]
