"""``--junitxml``: every generated testcase carries its conformance properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from conftest import ServerFactory

pytestmark = pytest.mark.slow

SECRET = "sk-junit-secret-0123456789"
PROPERTIES = {"rule", "level", "scenario", "target", "outcome"}


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_testcases_carry_rule_level_scenario_target_outcome(
    pytester: pytest.Pytester, reference_server: ServerFactory, xdist: tuple[str, ...]
) -> None:
    url = reference_server("--fault", "no-done", "--token-delay", "0.001", "--api-key", SECRET)
    result = pytester.runpytest_subprocess(
        "--exo-url",
        url,
        "--exo-api-key",
        SECRET,
        "--exo-rules",
        "stream.*",
        "--exo-rules",
        "headers.*",
        "--junitxml",
        "junit.xml",
        *xdist,
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    assert result.ret == 1
    text = (pytester.path / "junit.xml").read_text(encoding="utf-8")
    assert SECRET not in text
    cases = ET.fromstring(text).findall(".//testcase")
    assert len(cases) > 5
    seen = {}
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert set(props) >= PROPERTIES, case.get("name")
        assert props["target"] == url
        seen[(props["rule"], props["scenario"])] = (props["level"], props["outcome"])
        failed = case.find("failure") is not None
        assert failed == (props["outcome"] == "failed")
    assert seen[("stream.done", "stream-basic")] == ("MUST", "failed")
    assert seen[("headers.content-type", "stream-basic")] == ("MUST", "passed")
