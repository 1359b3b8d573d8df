"""The fault catalog: named ways for the reference server or proxy to break itself.

Each fault is data (a name, what it does, what real-world server it imitates,
whether a conformant reader must object) plus the transformations that make
it, one optional hook per stage of a reply.  The server and the proxy apply
the same hooks at the same stages, so every fault works in both (``seed-bug``,
a code path rather than a transformation, exists only in the proxy).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from . import transforms as t
from .wire import DONE, PLAIN_FRAMING, Data, Framing, Head, Item, JsonObject

__all__ = [
    "FAULTS",
    "NO_FAULT",
    "SEED_BUG",
    "Fault",
    "FaultOptions",
    "JsonReply",
    "UnknownFault",
    "describe",
    "fault_names",
    "get_fault",
]

FaultOptions = t.FaultOptions
JsonReply = t.JsonReply

Kind = Literal["fault", "valid-variant"]
Scope = Literal["server+proxy", "server", "proxy"]
RequestHook = Callable[[JsonObject, Sequence[str]], JsonObject]
HeadHook = Callable[[Head], Head]
ItemsHook = Callable[[AsyncIterator[Item], FaultOptions], AsyncIterator[Item]]
WritesHook = Callable[[AsyncIterator[bytes], FaultOptions], AsyncIterator[bytes]]
ErrorHook = Callable[[JsonReply], JsonReply]
CompletionHook = Callable[[JsonObject], JsonObject | bytes]
ModelsHook = Callable[[JsonObject], JsonObject]
AuthHook = Callable[[bool], bool]

SEED_BUG = "seed-bug"


@dataclass(frozen=True, slots=True)
class Fault:
    """One catalog entry; hooks left as None leave that stage correct."""

    name: str
    kind: Kind
    description: str
    imitates: str
    scope: Scope = "server+proxy"
    request: RequestHook | None = None
    head: HeadHook | None = None
    items: ItemsHook | None = None
    framing: Framing = PLAIN_FRAMING
    writes: WritesHook | None = None
    error: ErrorHook | None = None
    completion: CompletionHook | None = None
    completion_head: HeadHook | None = None
    models: ModelsHook | None = None
    #: sees whether a request's credentials passed and decides whether it is let in
    auth: AuthHook | None = None
    #: whether the entry shows only on an endpoint that takes an API key: the
    #: reference then needs --api-key, and the fault matrix runs it with one
    needs_key: bool = False

    @property
    def needs_items(self) -> bool:
        """Whether a proxy must re-parse upstream events rather than pass bytes on."""
        return self.items is not None or not self.framing.is_default


class UnknownFault(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown fault {name!r}; valid faults: {', '.join(fault_names())}")
        self.name = name


NO_FAULT = Fault("none", "valid-variant", "A correct endpoint.", "EXO and OpenAI as specified")

_CATALOG: tuple[Fault, ...] = (
    Fault(
        "no-done",
        "fault",
        "The stream ends after the last chunk without `data: [DONE]`.",
        "servers that treat the finish chunk as the end",
        items=t.drop_done,
    ),
    Fault(
        "data-after-done",
        "fault",
        "One more content chunk follows `data: [DONE]`.",
        "a proxy that flushes a buffered chunk after relaying [DONE]",
        items=t.chunk_after_done,
    ),
    Fault(
        "open-after-done",
        "fault",
        "The body stays open after `data: [DONE]` (5 s by default, see --hold-open).",
        "servers that wait for keep-alive or a cleanup task before ending the response",
        writes=t.hold_open,
    ),
    Fault(
        "buffered",
        "fault",
        "Every event is held and written in one burst once generation has finished.",
        "nginx with proxy_buffering on in front of the endpoint",
        writes=t.buffer_writes,
    ),
    Fault(
        "no-accel-header",
        "fault",
        "The stream lacks `X-Accel-Buffering: no`.",
        "servers that forget nginx buffers their streams",
        head=t.drop_header("X-Accel-Buffering"),
    ),
    Fault(
        "no-cache-header",
        "fault",
        "The stream lacks `Cache-Control: no-cache`.",
        "servers that leave caching to intermediaries",
        head=t.drop_header("Cache-Control"),
    ),
    Fault(
        "wrong-content-type",
        "fault",
        "The stream is labelled `Content-Type: application/json`.",
        "frameworks that default every response to JSON",
        head=t.set_content_type("application/json"),
    ),
    Fault(
        "gzip",
        "fault",
        "The stream is sent with `Content-Encoding: gzip`, compressed whole (so buffered).",
        "compression middleware applied to every response",
        head=t.add_content_encoding,
        writes=t.gzip_writes,
    ),
    Fault(
        "role-missing",
        "fault",
        "The first delta has no `role`.",
        "servers that only ever send content deltas",
        items=t.edit_chunks(t.drop_role),
    ),
    Fault(
        "role-every-chunk",
        "fault",
        "Every delta repeats `role: assistant`, the finish chunk's too.",
        "servers that build every delta from a full message",
        items=t.edit_chunks(t.add_role_everywhere),
    ),
    Fault(
        "id-changes",
        "fault",
        "Every chunk after the first has a fresh `id`.",
        "servers that mint an id per chunk rather than per completion",
        items=t.edit_chunks(t.mint_ids),
    ),
    Fault(
        "finish-reason-missing",
        "fault",
        "No chunk carries a non-null `finish_reason`.",
        "servers that end the stream without a finish chunk",
        items=t.edit_chunks(t.null_finish_reason),
    ),
    Fault(
        "finish-reason-twice",
        "fault",
        "The finish chunk is sent twice.",
        "servers that emit a finish per backend shard",
        items=t.repeat_finish,
    ),
    Fault(
        "content-after-finish",
        "fault",
        "A content chunk follows the finish chunk.",
        "servers that flush detokenizer leftovers after finishing",
        items=t.content_after_finish,
    ),
    Fault(
        "usage-ignored",
        "fault",
        "`stream_options.include_usage` is ignored: no usage chunk, no `usage` keys.",
        "servers that predate stream_options",
        items=t.bury_usage,
    ),
    Fault(
        "usage-wrong-sum",
        "fault",
        "`usage.total_tokens` is one more than prompt + completion (stream and non-stream).",
        "servers that count a BOS or EOS token in the total only",
        items=t.edit_chunks(t.skew_usage_in_chunks),
        completion=t.skew_usage,
    ),
    Fault(
        "max-tokens-ignored",
        "fault",
        "`max_tokens` and `max_completion_tokens` are ignored: full text, finish `stop`.",
        "servers (and proxies) that drop unknown or renamed sampling options",
        request=t.drop_max_tokens,
    ),
    Fault(
        "non-json-data",
        "fault",
        "A `data: not json` event follows the first chunk.",
        "servers that relay backend log lines into the stream",
        items=t.insert_after_first(Data("not json")),
    ),
    Fault(
        "error-as-200-json",
        "fault",
        "Invalid requests (and refused keys) get 200 with the JSON error body.",
        "frameworks whose error handler forgets to set the status",
        error=t.answer_errors_with_200,
    ),
    Fault(
        "error-no-done",
        "fault",
        "A well-formed error event partway through, then the body ends without [DONE].",
        "servers that close the stream right after reporting a failure",
        items=t.break_stream(t.midstream_error("generation_failed")),
    ),
    Fault(
        "silent-close",
        "fault",
        "The body ends partway through: no error event, no finish chunk, no [DONE].",
        "a backend that crashes or is killed mid-generation",
        items=t.break_stream(),
    ),
    Fault(
        "nonstream-mismatch",
        "fault",
        "The non-stream answer drops the last token the stream sends.",
        "separate stream and non-stream code paths that disagree",
        completion=t.drop_last_token,
    ),
    Fault(
        "nonstream-empty-body",
        "fault",
        "Non-stream answers are 200 with an empty body.",
        "a proxy that returns before reading the upstream body",
        completion=t.empty_body,
    ),
    Fault(
        "unknown-model-200",
        "fault",
        "Unknown models are served by the first listed model with 200.",
        "servers that fall back to a default model",
        request=t.serve_unknown_models,
    ),
    Fault(
        "detail-errors",
        "fault",
        'Errors are FastAPI-shaped: 422 `{"detail": [...]}` for bad bodies, '
        '`{"detail": "..."}` otherwise.',
        "EXO's API, which raises FastAPI validation errors and HTTPExceptions",
        error=t.detail_errors,
    ),
    Fault(
        "midstream-error",
        "fault",
        "A well-formed error event partway through, followed by [DONE].",
        "EXO and vLLM reporting a failed generation",
        items=t.break_stream(t.midstream_error("generation_failed"), DONE),
    ),
    Fault(
        "wrong-object",
        "fault",
        "Chunks say `object: chat.completion`.",
        "servers that reuse the non-stream builder for chunks",
        items=t.edit_chunks(t.set_object("chat.completion")),
    ),
    Fault(
        "bad-finish-reason",
        "fault",
        "The stream's finish chunk says `finish_reason: done` (non-stream stays right).",
        "servers that invent their own finish reasons",
        items=t.edit_chunks(t.set_finish_reason("done")),
    ),
    Fault(
        "stream-500",
        "fault",
        "Valid stream requests are answered 500 with a JSON error body.",
        "a server whose streaming path fails before the first event (a missing "
        "dependency, a crashed worker) and reports it as an HTTP error",
        head=t.refuse_head,
        writes=t.error_body,
    ),
    Fault(
        "invalid-utf8",
        "fault",
        "One content chunk carries a 0xFF byte, which is never valid UTF-8.",
        "servers that cut a multi-byte character between two chunks, or send Latin-1",
        writes=t.corrupt_utf8,
    ),
    Fault(
        "unterminated-last",
        "fault",
        "The final `data: [DONE]` ends with one line end, not a blank line, so it is "
        "never dispatched.",
        "writers that put the blank line before each event instead of after it",
        writes=t.unterminate_last,
    ),
    Fault(
        "nonstream-text-plain",
        "fault",
        "Non-stream answers carry their JSON as `Content-Type: text/plain`.",
        "handlers that return a serialised string instead of a JSON response",
        completion_head=t.set_content_type("text/plain; charset=utf-8"),
    ),
    Fault(
        "nonstream-500",
        "fault",
        "Valid non-stream requests are answered 500 with a JSON error body (streams are "
        "unaffected).",
        "a server whose non-stream path fails after generating (collecting the stream into "
        "one answer, serialising it) and reports it as an HTTP error",
        completion=t.fail_completion,
        completion_head=t.set_status(500),
    ),
    Fault(
        "auth-ignored",
        "fault",
        "An API key is configured but never checked: requests without a key or with a "
        "wrong one are served.",
        "a proxy that forgets to check credentials before forwarding to an open backend",
        auth=t.accept_any_key,
        needs_key=True,
    ),
    Fault(
        "models-broken",
        "fault",
        "`GET /v1/models` entries lack `object` and `owned_by`, and `created` is a string "
        "(ids and the list shape stay, so clients can still pick a model).",
        "servers that build the model list by hand from their own model cards",
        models=t.break_model_entries,
    ),
    Fault(
        "content-not-string",
        "fault",
        "`delta.content` is sent as a list of content parts "
        '(`[{"type": "text", "text": ...}]`) instead of a string.',
        "servers that reuse the multimodal message format for deltas",
        items=t.edit_chunks(t.content_as_parts),
    ),
    Fault(
        "choice-index-wrong",
        "fault",
        "Every choice of a single-choice stream says `index: 1`.",
        "servers that number choices from 1, or by backend replica",
        items=t.edit_chunks(t.set_choice_index(1)),
    ),
    Fault(
        "mixed-streams",
        "fault",
        "Concurrent streams with the same sampling parameters share one token table: from "
        "the third content token each sends another stream's token (alone, answers are "
        "right).",
        "a batching engine whose per-request state (queue, detokenizer) is shared within a batch",
        scope="server",
        items=t.mix_batches,
    ),
    Fault(
        SEED_BUG,
        "fault",
        "The proxy opens the upstream stream in an `async with` and returns the "
        "StreamingResponse from inside it, so the generator reads a closed stream: "
        "headers go out, then the body fails.",
        "the FastAPI proxy of seeds/streaming-fix-for-exo-chat-completions.md, before its fix",
        scope="proxy",
    ),
    Fault(
        "crlf",
        "valid-variant",
        "Lines end with CRLF.",
        "servers on stacks that write HTTP-style line ends",
        framing=Framing(line_end="\r\n"),
    ),
    Fault(
        "cr",
        "valid-variant",
        "Lines end with a bare CR.",
        "old Mac-style writers; legal in the event-stream grammar",
        framing=Framing(line_end="\r"),
    ),
    Fault(
        "keepalive-comments",
        "valid-variant",
        "A `: ping` comment precedes every event after the first.",
        "servers and proxies that send heartbeats",
        items=t.comment_between_events,
    ),
    Fault(
        "one-byte-writes",
        "valid-variant",
        "Every byte of the body is its own write (and TCP segment), splitting UTF-8 characters.",
        "slow links and proxies that re-chunk arbitrarily",
        writes=t.split_bytes,
    ),
    Fault(
        "no-space-after-colon",
        "valid-variant",
        "Fields are written `data:{...}` with no space.",
        "minimal SSE writers",
        framing=Framing(space=False),
    ),
)

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _CATALOG}


def fault_names() -> list[str]:
    return sorted(FAULTS)


def get_fault(name: str | None) -> Fault:
    """The named fault, NO_FAULT for None, or UnknownFault."""
    if name is None:
        return NO_FAULT
    try:
        return FAULTS[name]
    except KeyError:
        raise UnknownFault(name) from None


def describe(fault: Fault) -> str:
    return f"{fault.name:<22} {fault.kind:<13} {fault.description} (imitates {fault.imitates})"
