"""``python -m conformance.reference``: run the reference server or proxy.

The first line on stdout is ``listening on http://HOST:PORT`` with the port
really bound, flushed before anything is served, so a parent process can read
it and connect.  SIGTERM and SIGINT stop it cleanly with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn

from .faults import FAULTS, describe
from .serving import bind, make_server, url_of
from .settings import DEFAULT_HOLD_OPEN, DEFAULT_TOKEN_DELAY, Settings

__all__ = ["main", "parser"]

PROG = "python -m conformance.reference"
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


#: Environment variable read for --api-key when the option is not given.
API_KEY_ENV = "EXO_REFERENCE_API_KEY"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--fault", metavar="NAME", help="break on purpose (see --list-faults)")
    p.add_argument("--proxy-to", metavar="URL", help="run the proxy in front of URL")
    p.add_argument(
        "--token-delay",
        type=float,
        default=DEFAULT_TOKEN_DELAY,
        metavar="SECONDS",
        help=f"pause before each token (default {DEFAULT_TOKEN_DELAY})",
    )
    p.add_argument(
        "--api-key",
        metavar="KEY",
        # The environment keeps the key off the process list (the plugin's
        # embedded server is started that way).
        default=os.environ.get(API_KEY_ENV) or None,
        help=f"require Authorization: Bearer KEY (default: ${API_KEY_ENV})",
    )
    p.add_argument(
        "--nondeterministic",
        action="store_true",
        help="mix randomness into every answer, so identical requests differ",
    )
    p.add_argument(
        "--hold-open",
        type=float,
        default=DEFAULT_HOLD_OPEN,
        metavar="SECONDS",
        help=f"how long open-after-done holds the body after [DONE] ({DEFAULT_HOLD_OPEN:g})",
    )
    p.add_argument("--list-faults", action="store_true", help="print the fault catalog")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list_faults:
        print("\n".join(describe(fault) for fault in FAULTS.values()))
        return 0
    try:
        settings = Settings(
            host=args.host,
            port=args.port,
            fault=args.fault,
            proxy_to=args.proxy_to,
            token_delay=args.token_delay,
            api_key=args.api_key,
            nondeterministic=args.nondeterministic,
            hold_open=args.hold_open,
        )
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        print(f"{PROG}: error: cannot listen on {where}: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format=_LOG_FORMAT)
    server = make_server(settings)
    print(f"listening on {url_of(sock)}", flush=True)
    _run(server, sock)
    return 0


def _run(server: uvicorn.Server, sock: socket.socket) -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn installs its own handlers while serving, then restores these and
    # re-raises the signal it caught; these make that re-raise a clean exit.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    asyncio.run(server.serve(sockets=[sock]))
