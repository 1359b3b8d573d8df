"""The reference server's ``/v1/responses``, over real loopback sockets, read by the
official openai SDK (as clients read it) and by the suite's own view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance.capture import make_client, record
from conformance.reference import MODELS, ServerHandle, Settings, serve_in_thread
from conformance.schemas import validate
from conformance.view_responses import ResponsesView

openai = pytest.importorskip("openai")

FAST = 0.001
MODEL = MODELS[0]
LONG = "Write a long story about a lighthouse keeper."
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with serve_in_thread(Settings(token_delay=FAST)) as handle:
        yield handle


def _client(srv: ServerHandle) -> Any:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0, timeout=30)


async def _view(url: str, body: dict[str, Any]) -> ResponsesView:
    async with make_client() as client:
        t = await record(
            client, "POST", url + "/v1/responses", scenario="responses-stream", target=url,
            json=body,
        )  # fmt: skip
    return ResponsesView(t)


def _post(srv: ServerHandle, body: dict[str, Any] | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    return httpx.post(srv.url + "/v1/responses", content=content, headers=headers, timeout=30)


def test_the_sdk_streams_the_answer_and_its_final_response(server: ServerHandle) -> None:
    with _client(server).responses.stream(model=MODEL, input="Say hello") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text and final.status == "completed" and final.output_text == text
    answer = _client(server).responses.create(model=MODEL, input="Say hello")
    assert answer.status == "completed" and answer.output_text == text


def test_the_sdk_streams_a_function_call(server: ServerHandle) -> None:
    ask = "What is the weather in Paris? Use get_weather."
    with _client(server).responses.stream(
        model=MODEL, input=ask, tools=[WEATHER], tool_choice="required"
    ) as stream:
        final = stream.get_final_response()
    (call,) = final.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}


@pytest.mark.asyncio
async def test_every_event_validates_and_is_numbered(server: ServerHandle) -> None:
    view = await _view(server.url, {"model": MODEL, "input": "Hi", "stream": True})
    kinds = [e.type for e in view.read]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in view.read] == list(range(len(view.read)))
    assert all(e.event.type == e.type for e in view.read)
    assert all(validate("responses-event", e.value) == [] for e in view.read)


@pytest.mark.asyncio
async def test_max_output_tokens_ends_incomplete(server: ServerHandle) -> None:
    body = {"model": MODEL, "input": LONG, "stream": True, "max_output_tokens": 16}
    view = await _view(server.url, body)
    final = view.final_response
    assert view.terminal is not None and view.terminal.type == "response.incomplete"
    assert final is not None and final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["usage"]["output_tokens"] == 16


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": MODEL, "stream": True}, 400, "input"),
        ({"model": "no-such-model", "input": "Hi", "stream": True}, 404, None),
        (b'{"model": ', 400, None),
        ({"model": MODEL, "input": "Hi", "max_output_tokens": 5}, 400, "max_output_tokens"),
        ({"model": MODEL, "input": 7}, 400, "input"),
    ],
)
def test_invalid_requests_get_json_errors(
    server: ServerHandle, body: dict[str, Any] | bytes, status: int, param: str | None
) -> None:
    reply = _post(server, body)
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/json"
    assert validate("error", reply.json()) == []
    assert reply.json()["error"]["param"] == param


def test_the_sdk_raises_on_an_invalid_request(server: ServerHandle) -> None:
    with pytest.raises(openai.NotFoundError):
        _client(server).responses.create(model="no-such-model", input="Hi")


@pytest.mark.asyncio
async def test_the_reasoning_variant_puts_a_reasoning_item_first() -> None:
    with serve_in_thread(Settings(token_delay=FAST, variant="responses-reasoning")) as srv:
        view = await _view(srv.url, {"model": MODEL, "input": "Hi", "stream": True})
        with _client(srv).responses.stream(model=MODEL, input="Hi") as stream:
            final = stream.get_final_response()
    assert [item.type for item in view.items.values()] == ["reasoning", "message"]
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output_text == view.streamed_text


@pytest.mark.asyncio
async def test_chat_faults_leave_the_responses_endpoint_alone() -> None:
    with serve_in_thread(Settings(token_delay=FAST, fault="wrong-content-type")) as srv:
        view = await _view(srv.url, {"model": MODEL, "input": "Hi", "stream": True})
    assert view.header("content-type") == "text/event-stream; charset=utf-8"


@pytest.mark.asyncio
async def test_the_keepalive_variant_sends_comments_between_events() -> None:
    with serve_in_thread(Settings(token_delay=FAST, variant="responses-keepalive")) as srv:
        view = await _view(srv.url, {"model": MODEL, "input": "Hi", "stream": True})
    assert len(view.comments) == len(view.read) - 1
    assert view.terminal is not None and view.terminal.type == "response.completed"


@pytest.mark.asyncio
async def test_the_done_variant_ends_with_done_after_the_terminal_event() -> None:
    with serve_in_thread(Settings(token_delay=FAST, variant="responses-done")) as srv:
        view = await _view(srv.url, {"model": MODEL, "input": "Hi", "stream": True})
        with _client(srv).responses.stream(model=MODEL, input="Hi") as stream:
            final = stream.get_final_response()
    assert view.done_index == len(view.transcript.events) - 1
    assert view.read[-1].type == "response.completed"
    assert final.output_text == view.streamed_text
