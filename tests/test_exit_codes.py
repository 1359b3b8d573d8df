"""Exit statuses through the command line, as CI sees them (docs/ci.md).

``exo-conformance``: 0 every MUST rule passes, 1 failures, 2 usage, 3 unreachable.
``python -m pytest``: the same, except that usage errors are pytest's own 4.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ServerFactory

pytestmark = pytest.mark.slow

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("exo-conformance")
    return [str(script)] if script.exists() else [sys.executable, "-m", "conformance.cli"]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXO_")}
    (cwd / "pytest.ini").write_text(INI, encoding="utf-8")
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run([*_cli(), *args], tmp_path)


def plain(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], tmp_path)


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_0_when_every_must_rule_passes(tmp_path: Path, reference_server: ServerFactory) -> None:
    url = reference_server("--token-delay", "0.001")
    done = cli(tmp_path, url, "--exo-rules", "stream.*")
    assert done.returncode == 0, done.stdout
    assert (tmp_path / "report.html").exists()
    assert plain(tmp_path, "--exo-url", url, "--exo-rules", "stream.*").returncode == 0


def test_1_on_failures(tmp_path: Path, reference_server: ServerFactory) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    assert cli(tmp_path, url, "--exo-rules", "stream.*").returncode == 1
    assert plain(tmp_path, "--exo-url", url, "--exo-rules", "stream.*").returncode == 1


def test_should_failures_warn_unless_strict(
    tmp_path: Path, reference_server: ServerFactory
) -> None:
    url = reference_server("--fault", "no-accel-header", "--token-delay", "0.001")
    lenient = cli(tmp_path, url, "--exo-rules", "headers.*")
    assert lenient.returncode == 0, lenient.stdout
    assert "WARNED  headers.x-accel-buffering" in lenient.stdout
    strict = cli(tmp_path, url, "--exo-rules", "headers.*", "--exo-strict")
    assert strict.returncode == 1
    assert "FAILED  headers.x-accel-buffering" in strict.stdout
    assert plain(tmp_path, "--exo-url", url, "--exo-rules", "headers.*").returncode == 0
    assert (
        plain(tmp_path, "--exo-url", url, "--exo-rules", "headers.*", "--exo-strict").returncode
        == 1
    )


@pytest.mark.parametrize(
    "args",
    [
        ("not a url",),
        ("embedded", "--exo-timeout", "soon"),
        ("embedded", "--exo-baseline", "missing.toml"),
        ("embedded", "--exo-rules", "no.such.rule"),
        ("--exo-strict",),
        (),
    ],
)
def test_2_on_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = cli(tmp_path, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr


def test_plain_pytest_reports_its_own_4_on_usage_errors(tmp_path: Path) -> None:
    done = plain(tmp_path, "--exo-url", "embedded", "--exo-baseline", "missing.toml")
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        "ERROR: --exo-baseline missing.toml: No such file or directory"
    ]


def test_3_when_a_target_is_unreachable(tmp_path: Path) -> None:
    url = _refused_url()
    done = cli(tmp_path, url)
    assert done.returncode == 3
    assert f"exo-conformance: {url}: connection refused" in done.stdout + done.stderr
    assert plain(tmp_path, "--exo-url", url).returncode == 3
    assert plain(tmp_path, "--exo-url", url, "-n", "2").returncode == 3


def test_baseline_turns_failures_into_0(tmp_path: Path, reference_server: ServerFactory) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001")
    first = cli(tmp_path, url, "--exo-rules", "stream.*", "--exo-write-baseline", "b.toml")
    assert first.returncode == 1
    again = cli(tmp_path, url, "--exo-rules", "stream.*", "--exo-baseline", "b.toml")
    assert again.returncode == 0, again.stdout


def test_an_unreachable_target_still_writes_every_report(tmp_path: Path) -> None:
    """Exit 3 with one line, and the JSON, HTML and JUnit reports all exist and say why."""
    url = _refused_url()
    done = cli(
        tmp_path,
        url,
        "--exo-json",
        "r.json",
        "--html",
        "r.html",
        "--junitxml",
        "r.xml",
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["error"]["kind"] == "unreachable"
    assert url in report["error"]["message"]
    assert report["results"] == []
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "run error (unreachable)" in page
    assert "conforms to every MUST rule" not in page
    assert (tmp_path / "r.xml").read_text(encoding="utf-8").startswith("<?xml")
    assert plain(tmp_path, "--exo-url", url, "--exo-json", "p.json").returncode == 3
    assert json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))["error"] is not None
