"""Shared fixtures: real reference servers and hostile servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from conformance.embedded import EmbeddedServer

ServerFactory = Callable[..., str]


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
