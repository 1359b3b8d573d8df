"""chunk.tool-calls: fragments addressed by index, named once, arguments that join to JSON."""

from __future__ import annotations

import json
from typing import Any

from builders import chunk, event, from_bytes

from conformance.rules import REGISTRY, Verdict

SSE = {"content-type": "text/event-stream"}
TOOLS_REQUEST = {"model": "m", "stream": True, "tools": [{"type": "function"}]}


def frag(index: Any, *, id: str = "", name: str = "", args: str | None = None,
         kind: str = "") -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {} if index is None else {"index": index}
    if id:
        out["id"] = id
    if kind:
        out["type"] = kind
    function: dict[str, Any] = {}
    if name:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    if function:
        out["function"] = function
    return out


def first(index: int, name: str, id: str) -> dict[str, Any]:
    return frag(index, id=id, name=name, kind="function", args="")


def body(*fragments: dict[str, Any], finish: str = "tool_calls") -> bytes:
    parts = [event(chunk({"role": "assistant", "content": None}))]
    parts += [event(chunk({"tool_calls": [f]})) for f in fragments]
    parts += [event(chunk({}, finish)), event("[DONE]")]
    return b"".join(parts)


def judge(data: bytes, **request: Any) -> Verdict:
    asked = {**TOOLS_REQUEST, **request}
    t = from_bytes(data, scenario="consistency-tools", headers=SSE, request_json=asked)
    return REGISTRY.get("chunk.tool-calls").judge(t)


ONE = (first(0, "get_weather", "call_a"), frag(0, args='{"city": '), frag(0, args='"Paris"}'))
TWO = (
    *ONE,
    first(1, "get_local_time", "call_b"),
    frag(1, args='{"city": "Paris"}'),
)


def test_one_call_and_two_parallel_calls_pass() -> None:
    assert judge(body(*ONE)).outcome == "passed"
    verdict = judge(body(*TWO))
    assert verdict.outcome == "passed" and "2 tool call(s)" in verdict.message


def test_a_named_tool_choice_may_finish_with_stop() -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert judge(body(*ONE, finish="stop"), tool_choice=named).outcome == "passed"
    verdict = judge(body(*ONE, finish="stop"), tool_choice="auto")
    assert verdict.outcome == "failed" and "'stop'" in verdict.actual


def test_a_fragment_without_index_fails() -> None:
    verdict = judge(body(first(0, "get_weather", "call_a"), frag(None, args="{}")))
    assert verdict.outcome == "failed" and "without an integer index" in verdict.actual


def test_two_calls_sharing_one_index_fail() -> None:
    shared = (*ONE, first(0, "get_local_time", "call_b"), frag(0, args="{}"))
    verdict = judge(body(*shared))
    assert verdict.outcome == "failed" and "index 0 reused" in verdict.actual


def test_an_index_that_skips_fails() -> None:
    verdict = judge(body(first(1, "get_weather", "call_a"), frag(1, args="{}")))
    assert verdict.outcome == "failed" and "index 1 where index 0" in verdict.actual


def test_the_first_fragment_names_the_call_and_later_ones_do_not() -> None:
    no_name = judge(body(frag(0, id="call_a", kind="function", args="{}")))
    assert no_name.outcome == "failed" and "no function.name" in no_name.actual
    repeat = judge(body(*ONE, frag(0, name="get_weather", args="")))
    assert repeat.outcome == "failed" and "repeats function.name" in repeat.actual


def test_arguments_must_join_to_a_json_object() -> None:
    verdict = judge(body(first(0, "get_weather", "call_a"), frag(0, args='{"city": "Par')))
    assert verdict.outcome == "failed" and "arguments join to" in verdict.actual
    listed = judge(body(first(0, "get_weather", "call_a"), frag(0, args=json.dumps([1]))))
    assert listed.outcome == "failed" and "not a JSON object" in listed.actual
    cut = judge(body(first(0, "get_weather", "call_a"), frag(0, args='{"ci'), finish="length"))
    assert cut.outcome == "skipped"


def test_a_text_answer_is_not_judged() -> None:
    data = b"".join([event(chunk({"role": "assistant", "content": "Hi"})),
                     event(chunk({}, "stop")), event("[DONE]")])  # fmt: skip
    assert judge(data).outcome == "skipped"
