"""The reference server as a child process, for ``--exo-url embedded``.

A separate process keeps the server's timing honest: it does not share the
harness's interpreter lock or event loop, so delivery gaps measured by the
recorder are the server's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

__all__ = ["EmbeddedServer", "EmbeddedServerError"]

_BANNER = "listening on "


class EmbeddedServerError(RuntimeError):
    pass


class EmbeddedServer:
    """``python -m conformance.reference`` on a free loopback port."""

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.args = list(args)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        cmd = [sys.executable, "-m", "conformance.reference", "--port", "0", *self.args]
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self._first_line()
        if not line.startswith(_BANNER):
            err = self._stop_and_collect_stderr()
            raise EmbeddedServerError(
                f"the embedded reference server did not start: {line.strip() or err or 'no output'}"
            )
        self.url = line[len(_BANNER) :].strip()
        # Drain both pipes so the child never blocks on a full pipe buffer.
        for stream in (self._proc.stdout, self._proc.stderr):
            threading.Thread(target=_drain, args=(stream,), daemon=True).start()
        return self.url

    def _first_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        box: list[str] = []
        reader = threading.Thread(
            target=lambda: box.append(self._proc.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(self.startup_timeout)
        return box[0] if box else ""

    def _stop_and_collect_stderr(self) -> str:
        assert self._proc is not None
        self._terminate()
        err = self._proc.stderr.read() if self._proc.stderr else ""
        self.stop()
        lines = [x for x in err.strip().splitlines() if x.strip()]
        return lines[-1] if lines else ""

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """End the server and release its pipes."""
        self._terminate()
        if self._proc is not None:
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _drain(stream: object) -> None:
    try:
        for _ in stream:  # type: ignore[attr-defined]
            pass
    except (OSError, ValueError):
        pass
