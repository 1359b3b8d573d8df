"""exo-conformance: streaming conformance checks for OpenAI-compatible endpoints."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exo-conformance")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
