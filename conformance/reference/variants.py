"""The valid variants: unusual but legitimate ways for the reference server to behave.

A variant is an entry of the same shape as a fault (``entries.py``: data plus
one optional hook per stage), of kind ``valid-variant``.  A correct client
reads every one of them as it reads the plain server, so no MUST rule may
trip on one.  ``python -m conformance.reference --variant NAME`` runs one,
alone or with one ``--fault``; ``--list-variants`` prints the catalog.

Two variants report a failure or change what is generated, and say so:
``typed-error-event`` fails on purpose, mid-stream, but only for a prompt
that asks for a long answer, and reports it the way openai-python raises on;
``reasoning`` and ``parallel-tool-calls`` change the plan of each answer
(server only).
"""

from __future__ import annotations

from . import plans
from . import transforms as t
from .api_entries import API_VARIANTS
from .entries import Fault
from .responses_faults import RESPONSES_VARIANTS
from .wire import Framing

__all__ = ["VARIANTS", "UnknownVariant", "Variant", "get_variant", "variant_names"]

#: A valid variant is a catalog entry of kind ``valid-variant``.
Variant = Fault

_CATALOG: tuple[Variant, ...] = (
    Variant(
        "crlf",
        "valid-variant",
        "Lines end with CRLF.",
        "servers on stacks that write HTTP-style line ends",
        framing=Framing(line_end="\r\n"),
    ),
    Variant(
        "cr",
        "valid-variant",
        "Lines end with a bare CR.",
        "old Mac-style writers; legal in the event-stream grammar",
        framing=Framing(line_end="\r"),
    ),
    Variant(
        "keepalive-comments",
        "valid-variant",
        "A `: ping` comment precedes every event after the first.",
        "servers and proxies that send heartbeats",
        items=t.comment_between_events,
    ),
    Variant(
        "one-byte-writes",
        "valid-variant",
        "Every byte of the body is its own write (and TCP segment), splitting UTF-8 characters.",
        "slow links and proxies that re-chunk arbitrarily",
        writes=t.split_bytes,
    ),
    Variant(
        "no-space-after-colon",
        "valid-variant",
        "Fields are written `data:{...}` with no space.",
        "minimal SSE writers",
        framing=Framing(space=False),
    ),
    Variant(
        "slow-first-token",
        "valid-variant",
        "The head and an opening comment go out at once, then a pause (1.5 s, see "
        "--first-token-delay) before the first chunk; tokens then come at the usual pace.",
        "a large model's prefill on a long prompt, or a cold model load",
        items=t.pause_before_first_chunk,
    ),
    Variant(
        "prefill-keepalive",
        "valid-variant",
        "The same pause before the first chunk, with a `: keep-alive` comment every 0.2 s.",
        "servers that keep idle connections alive through a long prefill",
        items=t.keepalive_during_pause,
    ),
    Variant(
        "reasoning",
        "valid-variant",
        "Every answer opens with 12 `delta.reasoning_content` pieces before its content "
        "(`message.reasoning_content` when not streamed); usage counts them in "
        "completion_tokens, and max_tokens counts them too.",
        "EXO, vLLM and DeepSeek serving reasoning models",
        scope="server",
        plan=plans.reason_first,
    ),
    Variant(
        "queued",
        "valid-variant",
        "One generation at a time: a request that arrives while another generates gets its "
        "head and opening comment at once, then waits its turn and streams in full.",
        "llama.cpp's server with one slot, and other single-runner servers that queue requests",
        scope="server",
        gate=t.one_at_a_time,
    ),
    Variant(
        "typed-error-event",
        "valid-variant",
        "For a prompt that asks for a long answer (says 'long'), the stream fails after a few "
        'tokens and reports it as `event: error` with `data: {"error": {...}}`, then [DONE]; '
        "other answers are untouched.",
        "servers that report a failed generation with a typed SSE error event, which "
        "openai-python raises on",
        items=t.typed_error_on_long_prompts,
    ),
    Variant(
        "null-fields",
        "valid-variant",
        'Chunks carry the null fields real servers send: `"usage": null`, `"error": null`, '
        '`"logprobs": null`, and in every delta `"refusal"`, `"tool_calls"` and '
        '`"function_call"` null (the non-stream message too).',
        "servers and gateways whose response models serialise every optional field as null",
        items=t.edit_chunks(t.add_null_fields),
        completion=t.add_null_message_fields,
    ),
    Variant(
        "rechunked",
        "valid-variant",
        "Content deltas re-cut in turn: two tokens merged into one delta, one token split over "
        "two (at a code point), one as it was; usage stays the model's count.",
        "re-chunking proxies and servers that detokenize several steps at once",
        items=t.rechunk,
    ),
    Variant(
        "openai-extras",
        "valid-variant",
        "The extra fields api.openai.com sends: `service_tier`, an `fp_` fingerprint, random "
        "`obfuscation` on every chunk, and token details in the usage chunk (the non-stream "
        "answer too).",
        "api.openai.com",
        items=t.edit_chunks(t.openai_extras),
        completion=t.openai_completion_extras,
    ),
    Variant(
        "parallel-tool-calls",
        "valid-variant",
        "An answer with tools makes two tool calls, under index 0 and 1: each opens with its "
        "id, type and name, then its argument pieces with only the index; finish_reason "
        "tool_calls.",
        "OpenAI and vLLM answering with parallel tool calls",
        scope="server",
        plan=plans.parallel_calls,
    ),
)

VARIANTS: dict[str, Variant] = {v.name: v for v in (*_CATALOG, *RESPONSES_VARIANTS, *API_VARIANTS)}


class UnknownVariant(ValueError):
    def __init__(self, name: str) -> None:
        known = ", ".join(variant_names())
        super().__init__(f"unknown variant {name!r}; valid variants: {known}")
        self.name = name


def variant_names() -> list[str]:
    return sorted(VARIANTS)


def get_variant(name: str | None) -> Variant | None:
    """The named variant, None for None, or UnknownVariant."""
    if name is None:
        return None
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownVariant(name) from None
