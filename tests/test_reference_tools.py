"""Tool calling on the reference server, over real loopback sockets.

The trigger rule and the argument builder are checked on their own; the rest
goes through a real server: the non-stream and stream shapes, determinism,
the streamed pieces joining to the non-stream arguments, 400s for bad tools,
and the plugin's rules judging the ``consistency-tools`` scenario.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_reference_support import FAST, Exchange, chat_body, exchange, json_chunks

from conformance.capture import Limits, Transcript, make_client
from conformance.reference import MODELS, ServerHandle, Settings, serve_in_thread
from conformance.reference.tools import (
    NO_TOOLS,
    Tool,
    ToolChoice,
    chosen_tool,
    tool_arguments,
)
from conformance.rules import REGISTRY
from conformance.scenarios import CATALOG, RecordContext, Target
from conformance.scenarios.consistency import TOOL_PROMPT, WEATHER_TOOL

WEATHER = Tool(
    "get_weather",
    "The current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = Tool("get_time", "Tells the hour.", {"type": "object", "properties": {}})
PROMPT = "What is the weather in Paris right now?"
ARGUMENTS = '{"city":"Paris"}'


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# -- the trigger rule and the arguments, on their own ------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is the weather in Paris?", "get_weather"),  # a word of its name
        ("Is it CURRENT?", "get_weather"),  # a word of its description, any case
        ("call get_weather please", "get_weather"),  # the name itself
        ("What time is it?", None),  # "time" is shorter than five letters
        ("weathered stones", None),  # whole words only
        ("Say hello.", None),
    ],
)
def test_auto_calls_a_tool_the_last_user_message_mentions(text: str, expected: str | None) -> None:
    tool = chosen_tool((CLOCK, WEATHER), ToolChoice("auto"), user(text))
    assert (tool.name if tool else None) == expected


def test_auto_reads_only_the_last_user_message() -> None:
    messages = [*user("weather?"), {"role": "assistant", "content": "Sunny."}, *user("Thanks.")]
    assert chosen_tool((WEATHER,), ToolChoice("auto"), messages) is None
    later = [*user("Thanks."), {"role": "assistant", "content": "weather"}]
    assert chosen_tool((WEATHER,), ToolChoice("auto"), later) is None


def test_required_calls_the_mentioned_tool_else_the_first() -> None:
    required = ToolChoice("required")
    assert chosen_tool((CLOCK, WEATHER), required, user("weather")) == WEATHER
    assert chosen_tool((CLOCK, WEATHER), required, user("Say hello.")) == CLOCK


def test_a_named_function_is_called_and_none_never_calls() -> None:
    named = ToolChoice("function", "get_time")
    assert chosen_tool((CLOCK, WEATHER), named, user("weather")) == CLOCK
    assert chosen_tool((CLOCK, WEATHER), ToolChoice("none"), user("weather")) is None
    assert chosen_tool((), NO_TOOLS, user("weather")) is None


def test_arguments_follow_the_parameters_schema() -> None:
    parameters = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "country": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "lat": {"type": "number"},
            "alerts": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "where": {"type": "object", "properties": {"zip": {"type": ["null", "string"]}}},
            "kind": {"const": "forecast"},
            "none": {"type": "null"},
        },
    }
    tool = Tool("forecast", "", parameters)
    value = json.loads(tool_arguments(tool, user("Is it sunny in Paris, France today?")))
    assert value == {
        "city": "Paris",
        "country": "France",
        "unit": "celsius",
        "days": 1,
        "lat": 1,
        "alerts": True,
        "tags": ["Paris"],
        "where": {"zip": "France"},
        "kind": "forecast",
        "none": None,
    }
    assert list(value) == list(parameters["properties"])  # schema order


def test_string_words_fall_back_to_the_longest_word_then_text() -> None:
    assert tool_arguments(WEATHER, user("Is it raining outside?")) == '{"city":"raining"}'
    assert tool_arguments(WEATHER, user("")) == '{"city":"text"}'
    assert tool_arguments(Tool("ping"), user("weather")) == "{}"


def test_deeply_nested_schemas_end_in_null() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(20):
        schema = {"type": "object", "properties": {"a": schema}}
    value = json.loads(tool_arguments(Tool("deep", "", schema), user("x")))
    depth = 0
    while isinstance(value, dict):
        value, depth = value["a"], depth + 1
    assert value is None and depth < 20


# -- over the wire -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(token_delay=FAST)) as handle:
        yield handle


def tools_body(prompt: str = PROMPT, **options: Any) -> dict[str, Any]:
    return chat_body(prompt, tools=[WEATHER_TOOL], **options)


def complete(srv: ServerHandle, body: dict[str, Any]) -> dict[str, Any]:
    ex = exchange(srv.url, body)
    assert ex.status == 200, ex.body
    result: dict[str, Any] = ex.json()
    return result


def stream(srv: ServerHandle, body: dict[str, Any]) -> Exchange:
    ex = exchange(srv.url, {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert ex.status == 200, ex.body
    return ex


def streamed_arguments(ex: Exchange) -> str:
    pieces = []
    for chunk in json_chunks(ex.body):
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                pieces.append(call["function"]["arguments"])
    return "".join(pieces)


def test_a_non_stream_answer_is_a_tool_call(server: ServerHandle) -> None:
    body = complete(server, tools_body(tool_choice="auto"))
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["role"] == "assistant" and message["content"] is None
    [call] = message["tool_calls"]
    assert call["id"].startswith("call_") and int(call["id"][len("call_") :], 16) >= 0
    assert call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": ARGUMENTS}
    usage = body["usage"]
    assert usage["completion_tokens"] == 5  # {" city ":" Paris "}
    assert usage["total_tokens"] == usage["prompt_tokens"] + 5


def test_a_stream_opens_the_call_then_sends_argument_pieces(server: ServerHandle) -> None:
    ex = stream(server, tools_body())
    assert ex.body.endswith(b"data: [DONE]\n\n")
    chunks = json_chunks(ex.body)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    first, *pieces, last = deltas
    assert first == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "index": 0,
                "id": first["tool_calls"][0]["id"],
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ],
    }
    assert first["tool_calls"][0]["id"].startswith("call_")
    assert len(pieces) == 5
    for delta in pieces:
        assert set(delta) == {"tool_calls"}
        [call] = delta["tool_calls"]
        assert set(call) == {"index", "function"} and call["index"] == 0
        assert set(call["function"]) == {"arguments"}
    assert last == {}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes == [None] * (len(finishes) - 1) + ["tool_calls"]
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5
    assert streamed_arguments(ex) == ARGUMENTS


def test_argument_pieces_are_paced_by_the_token_delay() -> None:
    delay = 0.03
    with serve_in_thread(Settings(token_delay=delay)) as srv:
        ex = stream(srv, tools_body())
    times = [t for t, _ in ex.reads]
    assert times[-1] - times[0] >= 5 * delay * 0.9
    assert len(ex.reads) >= 4  # spread out, not one burst


def test_the_same_request_gets_the_same_call_both_ways(server: ServerHandle) -> None:
    body = tools_body("Weather for Lyon and Nice, please.", tool_choice="required")
    first = complete(server, body)["choices"][0]["message"]["tool_calls"][0]
    again = complete(server, body)["choices"][0]["message"]["tool_calls"][0]
    assert first["function"] == again["function"]
    assert first["function"]["arguments"] == '{"city":"Lyon"}'
    assert first["id"] != again["id"]  # a fresh id per answer, as OpenAI sends
    assert streamed_arguments(stream(server, body)) == first["function"]["arguments"]


@pytest.mark.parametrize(
    ("options", "called"),
    [
        ({"tool_choice": "required"}, True),
        ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, True),
        ({"tool_choice": "auto"}, False),
        ({}, False),  # auto is the default with tools
        ({"tool_choice": "none"}, False),
    ],
)
def test_tool_choice_decides_when_nothing_is_mentioned(
    server: ServerHandle, options: dict[str, Any], called: bool
) -> None:
    message = complete(server, tools_body("Say hello.", **options))["choices"][0]["message"]
    assert ("tool_calls" in message) == called
    assert (message["content"] is None) == called


def test_none_answers_in_text_even_when_the_tool_is_mentioned(server: ServerHandle) -> None:
    body = complete(server, tools_body(tool_choice="none"))
    assert isinstance(body["choices"][0]["message"]["content"], str)
    assert body["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_cuts_the_arguments_with_length(server: ServerHandle) -> None:
    body = tools_body(max_tokens=2)
    single = complete(server, body)["choices"][0]
    assert single["finish_reason"] == "length"
    assert single["message"]["tool_calls"][0]["function"]["arguments"] == '{"city'
    streamed = stream(server, body)
    assert streamed_arguments(streamed) == '{"city'
    assert json_chunks(streamed.body)[-2]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": []}, "tools"),
        ({"tools": ["get_weather"]}, "tools[0].type"),
        ({"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": 3}}]}, "tools[0].function.name"),
        (
            {"tools": [WEATHER_TOOL, {"type": "function", "function": {"name": ""}}]},
            "tools[1].function.name",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "description": 1}}]},
            "tools[0].function.description",
        ),
        ({"tool_choice": "auto"}, "tool_choice"),  # without tools
        ({"tools": [WEATHER_TOOL], "tool_choice": "always"}, "tool_choice"),
        (
            {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {}}},
            "tool_choice",
        ),
        (
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "function", "function": {"name": "get_time"}},
            },
            "tool_choice",
        ),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["non-stream", "stream"])
def test_invalid_tools_get_a_400_envelope(
    server: ServerHandle, options: dict[str, Any], param: str, streamed: bool
) -> None:
    ex = exchange(server.url, chat_body(PROMPT, stream=streamed, **options))
    assert ex.status == 400
    assert ex.headers["content-type"] == "application/json"
    error = ex.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert error["message"]


def test_a_null_tools_is_not_sent(server: ServerHandle) -> None:
    body = complete(server, chat_body(PROMPT, tools=None, tool_choice=None))
    assert isinstance(body["choices"][0]["message"]["content"], str)


# -- the plugin's rules on the consistency-tools scenario --------------------------


async def _record(url: str, scenario: str) -> Transcript:
    limits = Limits(deadline_s=20)
    async with make_client(limits=limits) as client:
        ctx = RecordContext(client, Target(url, MODELS[0]), limits)
        return await CATALOG[scenario].record(ctx)


@pytest.fixture(scope="module")
def tools_transcript(server: ServerHandle) -> Transcript:
    return asyncio.run(_record(server.url, "consistency-tools"))


def test_the_scenario_prompt_triggers_a_call() -> None:
    messages = user(TOOL_PROMPT)
    tool = Tool("get_weather", WEATHER_TOOL["function"]["description"])
    assert chosen_tool((tool,), ToolChoice("auto"), messages) == tool


def test_consistency_tool_calls_passes(tools_transcript: Transcript) -> None:
    verdict = REGISTRY.get("consistency.tool-calls").judge(tools_transcript)
    assert verdict.outcome == "passed", (verdict.message, verdict.actual)
    assert "get_weather" in verdict.message and "Paris" in verdict.message


def test_chunk_rules_pass_on_a_tool_call_stream(tools_transcript: Transcript) -> None:
    # The scenario streams with include_usage, as stream-usage does: the stream is
    # judged as that scenario's, by every chunk rule that judges it.
    as_usage = dataclasses.replace(tools_transcript, scenario="stream-usage")
    rules = [r for r in REGISTRY if r.group == "chunk" and "stream-usage" in r.scenarios]
    assert len(rules) > 10
    outcomes = {r.id: r.judge(as_usage) for r in rules}
    # chunk.usage-unrequested does not apply: the request asked for usage.
    failures = {k: v.actual for k, v in outcomes.items() if v.outcome != "passed"}
    assert failures.keys() <= {"chunk.usage-unrequested"}
    assert outcomes["chunk.usage-unrequested"].outcome == "skipped"
    assert outcomes["chunk.tool-calls"].outcome == "passed"


def test_the_plugin_passes_consistency_tool_calls_on_the_embedded_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest(
        "--exo-url", "embedded", "--exo-rules", "consistency.tool-calls", "-v"
    )
    result.stdout.fnmatch_lines(["*consistency.tool-calls?consistency-tools? PASSED*"])
    assert result.ret == 0
