"""A quiet plugin: no warnings in a user's run, node IDs without temporary paths.

pytest-asyncio warns in every run that does not set
``asyncio_default_fixture_loop_scope``; the plugin does not depend on it (its
``exo_client`` fixture is a plain fixture), so a project with exo-conformance
installed and no pytest-asyncio of its own gets no such warning.  The runs
below leave pytest-asyncio out (``-p no:asyncio``), as such a project has it.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WITHOUT_ASYNCIO = ("-p", "no:asyncio", "-p", "no:cacheprovider")


def _no_warning(output: str) -> None:
    # Warning class names (PytestDeprecationWarning, ResourceWarning...) and
    # pytest's "warnings summary"; the test directories' names hold "warning".
    assert "Warning" not in output, output[-3000:]
    assert "warnings summary" not in output and " warning" not in output, output[-3000:]


def test_the_package_does_not_require_an_async_plugin() -> None:
    requires = importlib.metadata.requires("exo-conformance") or []
    runtime = [r for r in requires if "extra ==" not in r]
    assert not [r for r in runtime if r.lower().startswith("pytest-asyncio")], runtime


@pytest.fixture
def bare(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with none of this project's settings for pytest-asyncio."""
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester


def test_a_plain_project_gets_no_warning(bare: pytest.Pytester) -> None:
    pytester = bare
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_ok():
            assert "pytest_asyncio" not in sys.modules  # the plugin imports no async plugin

        def test_the_fixtures_skip_without_a_target(exo_transcript):
            pass
        """
    )
    result = pytester.runpytest_subprocess(*WITHOUT_ASYNCIO, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    _no_warning(result.stdout.str() + result.stderr.str())


def test_the_embedded_suite_gets_no_warning(bare: pytest.Pytester) -> None:
    pytester = bare
    result = pytester.runpytest_subprocess(*WITHOUT_ASYNCIO, "--exo-url", "embedded")
    assert result.ret == 0, result.stdout.str()[-3000:]
    _no_warning(result.stdout.str() + result.stderr.str())


def test_the_readme_fixture_example_works(bare: pytest.Pytester) -> None:
    pytester = bare
    # As the README shows it: exo_transcript in a sync test, exo_client in an
    # async one (run by pytest-asyncio, which the user brings and configures).
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_mine="""
        import pytest

        def test_first_byte_is_quick(exo_transcript):
            t = exo_transcript("stream-long")
            assert t.ttfb_ms is not None
            assert t.ttfb_ms < 5000, "the first byte took more than 5 s"

        @pytest.mark.asyncio
        async def test_models_are_listed(exo_client):
            response = await exo_client.get("/v1/models")
            assert response.json()["data"]

        @pytest.mark.asyncio
        async def test_the_client_works_in_a_second_loop(exo_client):
            response = await exo_client.get("/v1/models")
            assert response.status_code == 200
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--exo-url", "embedded", "-W", "error", "-k", "test_"
    )
    result.assert_outcomes(passed=3)
    _no_warning(result.stdout.str() + result.stderr.str())


def test_node_ids_through_the_command_have_no_temporary_path(tmp_path: Path) -> None:
    # The directory it is called from has tests, a conftest and settings of
    # its own: none of them may take part.
    (tmp_path / "conftest.py").write_text("raise SystemExit('conftest collected')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")
    (tmp_path / "test_theirs.py").write_text("def test_theirs():\n    assert False\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXO_", "PYTEST_"))}
    command = [sys.executable, "-m", "conformance.cli", "embedded", "-rA", "-v"]
    done = subprocess.run(
        [*command, "--exo-rules", "headers.status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "PASSED headers.status[stream-basic]" in output  # the -rA summary
    assert "headers.status[stream-basic] PASSED" in output  # the verbose line
    assert "test_theirs" not in output
    items = [line for line in output.splitlines() if "headers.status[" in line]
    assert len(items) == 8, items  # 4 verbose lines, 4 in the summary
    # Not ../exo-conformance-XXXX/headers.status[...]: no temporary directory.
    assert not [line for line in items if "exo-conformance-" in line or "/" in line], items
