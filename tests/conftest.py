"""Shared fixtures: real reference servers and hostile servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from conformance.embedded import EmbeddedServer

ServerFactory = Callable[..., str]


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, its runs configured as this project configures pytest-asyncio.

    pytest-asyncio is a dependency of these tests, not of the plugin; inner
    runs without the setting would each print its loop-scope warning.
    """
    monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function")
    return pytester


@pytest.fixture
def reference_server() -> Iterator[ServerFactory]:
    """Start ``python -m conformance.reference`` with the given arguments; yields its URL."""
    servers: list[EmbeddedServer] = []

    def start(*args: str) -> str:
        server = EmbeddedServer(args)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
