"""The fault catalog: named ways for the reference server or proxy to break itself.

Each fault is data (a name, what it does, what real-world server it imitates)
plus the transformations that make it, one optional hook per stage of a reply
(see ``entries.py``).  The server and the proxy apply the same hooks at the
same stages, so a fault works in both unless its scope says otherwise
(``seed-bug``, a code path rather than a transformation, exists only in the
proxy; faults that change what is generated, or that need every stream of
the server, only in the server).  Unusual but legitimate behaviours are not
faults: they are the valid variants of ``variants.py``.
"""

from __future__ import annotations

from . import plans
from . import transforms as t
from .api_entries import API_FAULTS
from .entries import NO_FAULT, Fault, FaultOptions, JsonReply, describe
from .responses_faults import RESPONSES_FAULTS
from .variants import VARIANTS
from .wire import DONE, Data

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

SEED_BUG = "seed-bug"


class UnknownFault(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown fault {name!r}; valid faults: {', '.join(fault_names())}")
        self.name = name


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
        "bursts",
        "fault",
        "Events are held back and released in 4 bursts during the generation, a quarter "
        "of the stream each (every 8 events behind the proxy, which cannot know the length).",
        "servers that flush their output every few decoding steps (a stream interval) and "
        "HTTP layers that flush when a buffer fills",
        writes=t.release_in_bursts,
    ),
    Fault(
        "withheld-headers",
        "fault",
        "The stream's head (status, headers, now with Content-Length) goes out only once "
        "generation has finished, then the whole body in one write.",
        "handlers that render the whole SSE text before answering, and gateways that buffer "
        "a function's response (serverless platforms without response streaming)",
        sized=True,
    ),
    Fault(
        "cut-on-new-request",
        "fault",
        "A running stream ends with a bare `data: [DONE]` (no finish_reason, no usage) as soon "
        "as another chat request arrives at the server.",
        "llama-cpp-python's server, which interrupts the running request by default "
        "(interrupt_requests)",
        request=t.announce_arrival,
        items=t.cut_when_another_arrives,
    ),
    Fault(
        "tool-index-missing",
        "fault",
        "Tool-call fragments carry no `index`.",
        "older Ollama builds and OpenAI-compatible layers over other vendors' APIs, which "
        "omit the streaming index",
        items=t.edit_chunks(t.drop_tool_index),
    ),
    Fault(
        "tool-index-shared",
        "fault",
        "An answer with tools makes two tool calls (as parallel-tool-calls), and every "
        "fragment of both says `index: 0` (ids and names stay right).",
        "tool parsers and API translators that number each parallel call 0 (reported "
        "against Ollama and against gateways translating Gemini or Responses calls)",
        scope="server",
        plan=plans.parallel_calls,
        items=t.edit_chunks(t.share_tool_index),
    ),
    Fault(
        "dead-runner-keepalive",
        "fault",
        "After a few tokens the generation stops, and the body stays open sending "
        "`: keep-alive` comments every 0.2 s until the client gives up (ended by the server "
        "after 60 s, see --stall-cap): no finish, no error, no [DONE].",
        "an EXO API whose runner died mid-generation, kept open by its heartbeat",
        items=t.stall_after_a_few_tokens,
    ),
)

FAULTS: dict[str, Fault] = {
    fault.name: fault for fault in (*_CATALOG, *RESPONSES_FAULTS, *API_FAULTS)
}


def fault_names() -> list[str]:
    return sorted(FAULTS)


def get_fault(name: str | None) -> Fault:
    """The named fault, NO_FAULT for None, or UnknownFault.

    A valid variant's name is accepted too, as an alias of ``--variant NAME``
    (``--fault crlf`` predates the variants catalog), and gives the variant.
    """
    if name is None:
        return NO_FAULT
    if name in VARIANTS:
        return VARIANTS[name]
    try:
        return FAULTS[name]
    except KeyError:
        raise UnknownFault(name) from None
