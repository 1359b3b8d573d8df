"""``python -m conformance.reference``: run the reference server or proxy.

The first line on stdout is ``listening on http://HOST:PORT`` with the port
really bound, flushed before anything is served, so a parent process can read
it and connect.  SIGTERM and SIGINT stop it cleanly with status 0.

``--fault NAME`` breaks it on purpose and ``--variant NAME`` makes it behave
in an unusual but legitimate way; one of each may run at once.
``--list-faults`` and ``--list-variants`` print the catalogs, one entry a
line: name, kind, what it does, what it imitates.
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

from .entries import describe
from .faults import FAULTS
from .serving import bind, make_server, url_of
from .settings import (
    DEFAULT_FIRST_TOKEN_DELAY,
    DEFAULT_HOLD_OPEN,
    DEFAULT_STALL_CAP,
    DEFAULT_TOKEN_DELAY,
    Settings,
)
from .variants import VARIANTS

__all__ = ["main", "parser"]

PROG = "python -m conformance.reference"
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


#: Environment variable read for --api-key when the option is not given.
API_KEY_ENV = "EXO_REFERENCE_API_KEY"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument(
        "--fault",
        metavar="NAME",
        help="break on purpose (see --list-faults; a variant's name works as --variant NAME)",
    )
    p.add_argument(
        "--variant",
        metavar="NAME",
        help="behave in an unusual but legitimate way (see --list-variants)",
    )
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
    p.add_argument(
        "--first-token-delay",
        type=float,
        default=DEFAULT_FIRST_TOKEN_DELAY,
        metavar="SECONDS",
        help="the pause before the first chunk of slow-first-token and prefill-keepalive "
        f"({DEFAULT_FIRST_TOKEN_DELAY:g})",
    )
    p.add_argument(
        "--stall-cap",
        type=float,
        default=DEFAULT_STALL_CAP,
        metavar="SECONDS",
        help=f"how long dead-runner-keepalive keeps a stalled body open ({DEFAULT_STALL_CAP:g})",
    )
    p.add_argument("--list-faults", action="store_true", help="print the fault catalog")
    p.add_argument("--list-variants", action="store_true", help="print the valid variants")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list_faults or args.list_variants:
        entries = [*FAULTS.values()] if args.list_faults else []
        entries += VARIANTS.values() if args.list_variants else []
        print("\n".join(describe(entry) for entry in entries))
        return 0
    try:
        settings = Settings(
            host=args.host,
            port=args.port,
            fault=args.fault,
            variant=args.variant,
            proxy_to=args.proxy_to,
            token_delay=args.token_delay,
            api_key=args.api_key,
            nondeterministic=args.nondeterministic,
            hold_open=args.hold_open,
            first_token_delay=args.first_token_delay,
            stall_cap=args.stall_cap,
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
