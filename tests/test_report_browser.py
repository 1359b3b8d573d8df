"""The HTML report in a real browser: headless Chromium driven over the DevTools
protocol (through ``--remote-debugging-pipe``, so no websocket client is needed).

It checks the page renders without console errors, that pytest-html's own
sorting and filtering still work with the conformance columns, that the
failure anchors point at rows, and saves a screenshot in the test's tmp_path.
It runs wherever Chromium is installed.  In CI (environment ``CI=true``) it is
required: without Chromium it fails (.ci/run installs it).  Elsewhere, without
Chromium, it is skipped with a one-line reason, so the README's ``pytest``
passes on a fresh machine.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerFactory

pytestmark = pytest.mark.slow

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


MISSING = "Chromium not found: install it (`apt-get install chromium` on Debian) to run this test"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if in_ci():
        pytest.fail(f"{MISSING}; CI=true requires it (.ci/run installs it)", pytrace=False)
    pytest.skip(MISSING)


class DevTools:
    """A minimal DevTools protocol client over Chromium's debugging pipe (fds 3 and 4)."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def place_fds() -> None:  # runs in the child before exec
            low, high = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child))
            os.dup2(low, 3)
            os.dup2(high, 4)

        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "--window-size=1400,2000",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            preexec_fn=place_fds,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._read], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("no answer from Chromium")
            data = os.read(self._read, 1 << 20)
            if not data:
                raise RuntimeError("Chromium closed the debugging pipe")
            self._buffer += data
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def close(self) -> None:
        os.close(self._write)
        os.close(self._read)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class Page:
    def __init__(self, tools: DevTools, url: str) -> None:
        self.tools = tools
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(domain)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 2000, "deviceScaleFactor": 1, "mobile": False},
        )
        self.call("Page.navigate", {"url": url})
        self.wait_for(
            "document.readyState === 'complete' && "
            "document.querySelectorAll('#results-table tbody.results-table-row')"
            ".length > 0"
        )

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.tools.send(method, params, self.session)

    def eval(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.eval(f"!!({expression})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.05)

    def errors(self) -> list[str]:
        out = []
        for event in self.tools.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                out.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(json.dumps(params["entry"])[:500])
        return out

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))


ROWS = "[...document.querySelectorAll('#results-table tbody.results-table-row')]"
RULES = f"{ROWS}.map(b => b.querySelector('td.col-rule').textContent)"


def _report(pytester: pytest.Pytester, url: str) -> Path:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest(
        "--exo-url",
        url,
        "--html",
        "r.html",
        "--self-contained-html",
        "-p",
        "no:randomly",
        "--exo-rules",
        "stream.*",
        "--exo-rules",
        "headers.*",
        "--exo-rules",
        "chunk.*",
    )
    assert result.ret == 1, result.stdout.str()
    return pytester.path / "r.html"


def test_report_renders_sorts_and_filters_in_chromium(
    pytester: pytest.Pytester, reference_server: ServerFactory, tmp_path: Path
) -> None:
    binary = _chromium()
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    report = _report(pytester, url)
    tools = DevTools(binary, tmp_path / "profile")
    try:
        page = Page(tools, report.as_uri())
        verdict = page.eval("document.getElementById('exo-verdict').textContent")
        assert verdict.startswith("verdict: ") and "MUST failure" in verdict
        # Sorting: pytest-html's own header click, on a conformance column.
        page.eval("document.querySelector('th[data-column-type=\"rule\"]').click()")
        first = page.eval(RULES)
        assert first == sorted(first) or first == sorted(first, reverse=True)
        page.eval("document.querySelector('th[data-column-type=\"rule\"]').click()")
        second = page.eval(RULES)
        assert second == list(reversed(first)) and first != second
        # Filtering: unchecking "passed" leaves only the other outcomes.
        total = page.eval(f"{ROWS}.length")
        page.eval("document.querySelector('input[data-test-result=\"passed\"]').click()")
        results = page.eval(f"{ROWS}.map(b => b.querySelector('td.col-result').textContent)")
        assert 0 < len(results) < total and "Passed" not in results
        page.eval("document.querySelector('input[data-test-result=\"passed\"]').click()")
        assert page.eval(f"{ROWS}.length") == total
        # The failures list points at rows that exist, and the timelines render.
        missing = page.eval(
            "[...document.querySelectorAll('ul.exo-failures a')]"
            ".map(a => decodeURIComponent(a.getAttribute('href').slice(1)))"
            ".filter(id => !document.getElementById(id))"
        )
        assert missing == []
        assert page.eval("document.querySelectorAll('svg.exo-timeline').length") > 0
        box = "document.querySelector('svg.exo-timeline').getBoundingClientRect()"
        assert page.eval(f"{box}.width") > 200
        page.screenshot(tmp_path / "shot.png")
        assert (tmp_path / "shot.png").stat().st_size > 10_000
        assert page.errors() == []
    finally:
        tools.close()
