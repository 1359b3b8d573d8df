"""The reference package's pure parts: text planning, validation, the proxy's SSE reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.reference import (
    FAULTS,
    VARIANTS,
    Settings,
    UnknownFault,
    UnknownVariant,
    get_fault,
    plan_completion,
)
from conformance.reference.errors import ApiError
from conformance.reference.faults import NO_FAULT
from conformance.reference.pipeline import guarded
from conformance.reference.sse_reader import SSEReader
from conformance.reference.text import MULTIBYTE_WORDS, PLAIN_WORDS
from conformance.reference.validation import ChatRequest, parse_body, validate
from conformance.reference.wire import DONE, Comment, Data, Framing, Item, encode_item

MODEL = "exo-reference/echo-1"
HELLO = ({"role": "user", "content": "Hello there."},)


# -- text -----------------------------------------------------------------------


def test_plan_is_a_function_of_model_messages_and_seed() -> None:
    base = plan_completion(MODEL, HELLO, seed=1)
    assert plan_completion(MODEL, HELLO, seed=1) == base
    assert plan_completion(MODEL, HELLO, seed=2) != base
    assert plan_completion("exo-reference/echo-2", HELLO, seed=1) != base
    assert plan_completion(MODEL, HELLO, seed=1, salt=b"x") != base


def test_tokens_are_single_words_with_a_leading_space() -> None:
    plan = plan_completion(MODEL, HELLO)
    assert all(t.startswith(" ") and t[1:] in PLAIN_WORDS for t in plan.tokens)
    assert plan.finish_reason == "stop"
    assert plan.prompt_tokens == 2


def test_content_parts_count_as_text() -> None:
    parts = [{"type": "text", "text": "emoji"}, {"type": "image_url", "image_url": {}}]
    plan = plan_completion(MODEL, ({"role": "user", "content": parts},))
    assert all(t[1:] in MULTIBYTE_WORDS for t in plan.tokens)


def test_long_looks_at_the_last_user_message_only() -> None:
    messages = ({"role": "user", "content": "long"}, {"role": "user", "content": "short"})
    assert plan_completion(MODEL, messages).completion_tokens < 40
    assert plan_completion(MODEL, messages[::-1]).completion_tokens > 380
    assert plan_completion(MODEL, ({"role": "user", "content": "longer"},)).completion_tokens < 40


def test_stop_inside_a_token_keeps_its_start() -> None:
    full = plan_completion(MODEL, HELLO)
    word = full.tokens[3][1:]
    cut = plan_completion(MODEL, HELLO, stop=[word[2:]])
    assert cut.text == full.text[: full.text.index(word[2:])]
    assert cut.finish_reason == "stop"
    assert cut.tokens[-1] == full.tokens[cut.completion_tokens - 1][: len(cut.tokens[-1])]


def test_stop_at_the_very_start_gives_nothing() -> None:
    full = plan_completion(MODEL, HELLO)
    cut = plan_completion(MODEL, HELLO, stop=[full.tokens[0]])
    assert cut.tokens == ()
    assert cut.finish_reason == "stop"


def test_stop_after_max_tokens_is_not_reached() -> None:
    full = plan_completion(MODEL, HELLO)
    cut = plan_completion(MODEL, HELLO, max_tokens=2, stop=[full.tokens[5]])
    assert cut.tokens == full.tokens[:2]
    assert cut.finish_reason == "length"


# -- validation -----------------------------------------------------------------


def _valid(**fields: Any) -> ChatRequest | ApiError:
    return validate({"model": MODEL, "messages": list(HELLO)} | fields, [MODEL])


def test_a_valid_request() -> None:
    request = _valid(stream=True, stream_options={"include_usage": True}, max_tokens=3, stop="x")
    assert request == ChatRequest(
        MODEL, HELLO, stream=True, include_usage=True, max_tokens=3, stop=("x",)
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages"),
        ({"model": 3}, "model"),
        ({"stream": "yes"}, "stream"),
        ({"stream": True, "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_completion_tokens": -1}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"seed": 1.5}, "seed"),
        ({"temperature": 3}, "temperature"),
    ],
)
def test_invalid_fields(fields: dict[str, Any], param: str) -> None:
    error = _valid(**fields)
    assert isinstance(error, ApiError)
    assert (error.status, error.param) == (400, param)


def test_missing_model() -> None:
    error = validate({"messages": list(HELLO)}, [MODEL])
    assert isinstance(error, ApiError)
    assert error.code == "missing_required_parameter"


@pytest.mark.parametrize("raw", [b"", b"[1]", b"{", b"\xff"])
def test_bodies_that_are_not_json_objects(raw: bytes) -> None:
    error = parse_body(raw)
    assert isinstance(error, ApiError)
    assert error.status == 400


# -- faults and settings --------------------------------------------------------


def test_catalog_entries_are_described_data() -> None:
    for catalog, kind in ((FAULTS, "fault"), (VARIANTS, "valid-variant")):
        for name, entry in catalog.items():
            assert entry.name == name
            assert entry.kind == kind
            assert entry.description.endswith(".")
            assert entry.imitates
    assert not set(FAULTS) & set(VARIANTS)
    assert {"crlf", "cr", "keepalive-comments", "one-byte-writes", "no-space-after-colon"} < set(
        VARIANTS
    )


def test_unknown_fault_names_the_valid_ones() -> None:
    assert get_fault(None) is NO_FAULT
    with pytest.raises(UnknownFault, match="no-done"):
        get_fault("nope")
    with pytest.raises(UnknownFault):
        Settings(fault="nope")
    with pytest.raises(ValueError, match="proxy"):
        Settings(fault="seed-bug")
    assert Settings(fault="seed-bug", proxy_to="http://127.0.0.1:1").fault == "seed-bug"


def test_a_fault_and_a_variant_combine_into_one_entry() -> None:
    assert Settings(variant="crlf").fault_entry is VARIANTS["crlf"]
    assert Settings(fault="no-done").fault_entry is FAULTS["no-done"]
    both = Settings(fault="no-done", variant="reasoning").fault_entry
    assert both.name == "no-done+reasoning" and both.kind == "fault"
    assert both.plan is VARIANTS["reasoning"].plan and both.items is FAULTS["no-done"].items
    assert both.scope == "server"
    assert Settings(fault="gzip", variant="crlf").fault_entry.framing.line_end == "\r\n"
    with pytest.raises(ValueError, match="server only"):
        Settings(fault="seed-bug", variant="queued", proxy_to="http://127.0.0.1:1")
    with pytest.raises(UnknownVariant, match="reasoning"):
        Settings(variant="nope")


def test_combined_hooks_run_the_variant_first() -> None:
    async def run() -> list[Item]:
        async def source() -> Any:
            yield Data('{"choices":[{"index":0,"delta":{"content":" x"},"finish_reason":null}]}')
            yield DONE

        entry = Settings(fault="no-done", variant="keepalive-comments").fault_entry
        assert entry.items is not None
        return [i async for i in entry.items(source(), Settings().fault_options)]

    items = asyncio.run(run())
    assert DONE not in items and Comment("ping") in items  # the comment before [DONE] stays


def test_faults_apply_to_items() -> None:
    async def run(name: str, items: list[Item]) -> list[Item]:
        async def source() -> Any:
            for item in items:
                yield item

        hook = get_fault(name).items
        assert hook is not None
        return [i async for i in hook(source(), Settings().fault_options)]

    chunk = Data('{"id":"a","choices":[{"index":0,"delta":{"content":" x"},"finish_reason":null}]}')
    assert asyncio.run(run("no-done", [chunk, DONE])) == [chunk]
    assert asyncio.run(run("keepalive-comments", [chunk, chunk])) == [chunk, Comment("ping"), chunk]


# -- the proxy's reader ---------------------------------------------------------

# Without the optional space, a leading space in a value is read as that space:
# such values do not survive the no-space framing, by the grammar.
_TEXT = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20).filter(
    lambda text: not text.startswith(" ")
)
_EVENTS = st.one_of(st.none(), st.sampled_from(["error", "message", "ping"]))
_ITEMS = st.lists(st.one_of(st.builds(Data, _TEXT, _EVENTS), st.builds(Comment, _TEXT)), max_size=6)
_FRAMINGS = st.sampled_from([Framing(), Framing("\r\n"), Framing("\r"), Framing(space=False)])


@given(items=_ITEMS, framing=_FRAMINGS, cuts=st.lists(st.integers(0, 400), max_size=8))
def test_reader_cuts_at_event_boundaries_across_any_split(
    items: list[Item], framing: Framing, cuts: list[int]
) -> None:
    wire = b"".join(encode_item(i, framing) for i in items) + b"data: unterminated"
    reader = SSEReader()
    pieces = []
    bounds = sorted({min(c, len(wire)) for c in cuts})
    for start, end in zip([0, *bounds], [*bounds, len(wire)], strict=True):
        pieces += reader.feed(wire[start:end])
    tail = reader.close()
    assert b"".join(p.raw for p in pieces) + tail == wire
    assert [p.item for p in pieces] == items
    assert tail == b"data: unterminated"


def test_typed_events_are_written_with_an_event_line() -> None:
    error = Data('{"error":{}}', "error")
    assert encode_item(error) == b'event: error\ndata: {"error":{}}\n\n'
    assert encode_item(error, Framing("\r\n", space=False)) == (
        b'event:error\r\ndata:{"error":{}}\r\n\r\n'
    )
    (piece,) = SSEReader().feed(encode_item(error))
    assert piece.item == error


def test_reader_keeps_multi_line_data() -> None:
    (piece,) = SSEReader().feed(b"data: a\r\ndata: b\r\n\r\n")
    assert piece.item == Data("a\nb")


def test_explicit_nulls_mean_not_sent() -> None:
    nulls = dict.fromkeys(("stream", "temperature", "seed", "max_tokens", "stop"))
    assert _valid(**nulls) == ChatRequest(MODEL, HELLO)


def test_a_failing_generation_ends_in_an_error_event_and_done() -> None:
    async def failing() -> AsyncIterator[Item]:
        yield Comment()
        raise RuntimeError("backend lost")

    async def run() -> list[Item]:
        return [item async for item in guarded(failing())]

    comment, error, done = asyncio.run(run())
    assert comment == Comment()
    assert isinstance(error, Data)
    assert error.json() == {
        "error": {
            "message": "The generation failed: backend lost",
            "type": "server_error",
            "param": None,
            "code": "generation_failed",
        }
    }
    assert done == DONE
