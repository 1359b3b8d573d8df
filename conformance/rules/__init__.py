"""The rule catalog.  Importing this package registers every rule group."""

from . import chunk, completion, headers, models, sse, stream  # noqa: F401 - registration side effects
from .registry import REGISTRY, Level, Rule, Verdict, failed, passed, rule, skipped

__all__ = ["REGISTRY", "Level", "Rule", "Verdict", "failed", "passed", "rule", "skipped"]
