"""Runs an app on uvicorn over a socket bound here, so the real port is known first."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from .settings import Settings

__all__ = ["ServerHandle", "bind", "build_app", "make_server", "serve_in_thread", "url_of"]

# How long a stop waits for open streams (open-after-done holds one for 5 s).
_GRACE_SECONDS = 1
_START_TIMEOUT = 10.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_app(settings: Settings) -> ASGIApp:
    """The reference server, or the reference proxy when ``proxy_to`` is set."""
    if settings.proxy_to is not None:
        from .proxy import create_proxy_app

        return create_proxy_app(settings)
    from .app import create_app

    return create_app(settings)


def make_server(settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(settings),
        lifespan="on",
        access_log=False,
        # Logging is the host process's business (the CLI sets it up; tests do not).
        log_config=None,
        timeout_graceful_shutdown=_GRACE_SECONDS,
        # The contract is HTTP/1.1 with chunked bodies; h11 is always present.
        http="h11",
        ws="none",
    )
    return uvicorn.Server(config)


class ServerHandle:
    """A server running on a loopback socket in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._socket = bind(settings.host, settings.port)
        self.url = url_of(self._socket)
        self._server = make_server(settings)
        self._thread = threading.Thread(
            target=self._run, name=f"reference-server {self.url}", daemon=True
        )
        self._error: BaseException | None = None

    def start(self) -> ServerHandle:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the reference server did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def stop(self, *, wait: bool = True) -> None:
        """Stops serving; ``wait=False`` only asks, so several servers can stop at once."""
        self._server.should_exit = True
        if not wait:
            return
        if self._thread.is_alive():
            self._thread.join(timeout=_GRACE_SECONDS + 5)
        self._socket.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start(); a thread has nowhere to raise
            self._error = exc

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(settings: Settings | None = None) -> ServerHandle:
    """Starts a server (or proxy) for ``settings`` and returns once it accepts requests.

    Use it as a context manager: ``with serve_in_thread(Settings()) as srv: srv.url``.
    """
    return ServerHandle(settings or Settings()).start()
