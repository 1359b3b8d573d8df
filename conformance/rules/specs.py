"""Where each requirement comes from: the links rules cite as their spec."""

__all__ = [
    "ANTHROPIC_ERRORS",
    "ANTHROPIC_MESSAGES",
    "ANTHROPIC_SDK_ACCUMULATOR",
    "ANTHROPIC_STREAMING",
    "ANTHROPIC_STREAMING_ERRORS",
    "ANTHROPIC_STREAMING_EVENTS",
    "ANTHROPIC_STREAMING_FLOW",
    "ANTHROPIC_STREAMING_TOOLS",
    "ASGI_DISCONNECT",
    "BY_PATH",
    "EXO_API",
    "EXO_CANCEL",
    "NGINX_X_ACCEL",
    "OLLAMA_CHAT",
    "OLLAMA_ERRORS",
    "OLLAMA_ERRORS_STREAMING",
    "OLLAMA_SDK_CLIENT",
    "OLLAMA_STREAMING",
    "OPENAI_CHAT_CHOICES",
    "OPENAI_CHAT_CREATE",
    "OPENAI_CHAT_FINISH_REASON",
    "OPENAI_CHAT_MODEL",
    "OPENAI_CHAT_OBJECT",
    "OPENAI_CHAT_USAGE",
    "OPENAI_CHUNK_CHOICES",
    "OPENAI_CHUNK_CONTENT",
    "OPENAI_CHUNK_CREATED",
    "OPENAI_CHUNK_DELTA",
    "OPENAI_CHUNK_FINISH_REASON",
    "OPENAI_CHUNK_ID",
    "OPENAI_CHUNK_INDEX",
    "OPENAI_CHUNK_MODEL",
    "OPENAI_CHUNK_OBJECT",
    "OPENAI_CHUNK_OBJECT_TYPE",
    "OPENAI_CHUNK_ROLE",
    "OPENAI_CHUNK_TOOL_CALLS",
    "OPENAI_CHUNK_USAGE",
    "OPENAI_ERRORS",
    "OPENAI_ERROR_CODES",
    "OPENAI_MAX_TOKENS",
    "OPENAI_MESSAGES",
    "OPENAI_MODELS",
    "OPENAI_MODEL_PARAM",
    "OPENAI_PYTHON_RESPONSES_STREAM",
    "OPENAI_RESPONSES_CREATE",
    "OPENAI_RESPONSES_OBJECT",
    "OPENAI_RESPONSES_STREAMING",
    "OPENAI_RESPONSES_STREAMING_GUIDE",
    "OPENAI_SEED",
    "OPENAI_STREAMING_GUIDE",
    "OPENAI_STREAM_OPTIONS",
    "OPENAI_STREAM_PARAM",
    "OPENAI_TOOLS",
    "OPEN_RESPONSES_ERRORS",
    "OPEN_RESPONSES_HTTP",
    "OPEN_RESPONSES_ITEMS",
    "RFC3629_SYNTAX",
    "RFC3629_UTF8",
    "RFC8259_JSON",
    "RFC8259_OBJECTS",
    "RFC9110_4XX",
    "RFC9110_200",
    "RFC9110_401",
    "RFC9110_CONTENT_ENCODING",
    "RFC9110_CONTENT_TYPE",
    "RFC9110_STATUS",
    "RFC9111_CACHE_CONTROL",
    "RFC9111_NO_CACHE",
    "SEED_PROXY",
    "WHATWG_SSE",
    "WHATWG_SSE_AUTHORING",
    "WHATWG_SSE_INTERPRETING",
    "WHATWG_SSE_MIME",
    "WHATWG_SSE_PARSING",
    "WHATWG_SSE_PROCESSING",
]

OPENAI_CHAT_CREATE = "https://platform.openai.com/docs/api-reference/chat/create"
OPENAI_CHAT_OBJECT = "https://platform.openai.com/docs/api-reference/chat/object"
OPENAI_CHUNK_OBJECT = "https://platform.openai.com/docs/api-reference/chat-streaming/streaming"
OPENAI_STREAMING_GUIDE = "https://platform.openai.com/docs/guides/streaming-responses"
OPENAI_ERRORS = "https://platform.openai.com/docs/guides/error-codes"
OPENAI_MODELS = "https://platform.openai.com/docs/api-reference/models/list"
WHATWG_SSE = (
    "https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation"
)
WHATWG_SSE_MIME = (
    "https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream"
)
RFC9110_STATUS = "https://www.rfc-editor.org/rfc/rfc9110#section-15"
RFC9110_CONTENT_TYPE = "https://www.rfc-editor.org/rfc/rfc9110#section-8.3"
RFC9110_CONTENT_ENCODING = "https://www.rfc-editor.org/rfc/rfc9110#section-8.4"
RFC9111_CACHE_CONTROL = "https://www.rfc-editor.org/rfc/rfc9111#section-5.2"
RFC8259_JSON = "https://www.rfc-editor.org/rfc/rfc8259"
RFC3629_UTF8 = "https://www.rfc-editor.org/rfc/rfc3629"
NGINX_X_ACCEL = "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_buffering"
EXO_API = "https://github.com/exo-explore/exo"
# Anthropic Messages (docs.anthropic.com) and anthropic-python.
ANTHROPIC_MESSAGES = "https://docs.anthropic.com/en/api/messages"
ANTHROPIC_STREAMING = "https://docs.anthropic.com/en/docs/build-with-claude/streaming"
ANTHROPIC_STREAMING_EVENTS = ANTHROPIC_STREAMING + "#event-types"
ANTHROPIC_STREAMING_FLOW = ANTHROPIC_STREAMING + "#event-types"
ANTHROPIC_STREAMING_ERRORS = ANTHROPIC_STREAMING + "#error-events"
ANTHROPIC_STREAMING_TOOLS = ANTHROPIC_STREAMING + "#input-json-delta"
ANTHROPIC_ERRORS = "https://docs.anthropic.com/en/api/errors"
ANTHROPIC_SDK_ACCUMULATOR = (
    "https://github.com/anthropics/anthropic-sdk-python/blob/main/"
    "src/anthropic/lib/streaming/_messages.py"
)
# Ollama (docs.ollama.com) and ollama-python.
OLLAMA_CHAT = "https://docs.ollama.com/api/chat"
OLLAMA_STREAMING = "https://docs.ollama.com/api/streaming"
OLLAMA_ERRORS = "https://docs.ollama.com/api/errors"
OLLAMA_ERRORS_STREAMING = OLLAMA_ERRORS + "#errors-that-occur-while-streaming"
OLLAMA_SDK_CLIENT = "https://github.com/ollama/ollama-python/blob/main/ollama/_client.py"
# EXO's own cancel endpoint (src/exo/api/main.py, cancel_command).
EXO_CANCEL = "https://github.com/exo-explore/exo/blob/main/src/exo/api/main.py"
# The proxy lifecycle bug this project was born from, written up in this repository.
SEED_PROXY = "docs/proxy-lifecycle.md"


# -- the most precise sections (anchors), for the rules' ``spec`` -----------------------

_CHAT_CREATE = OPENAI_CHAT_CREATE + "#chat_create-"
_CHUNK = OPENAI_CHUNK_OBJECT + "#chat_streaming-streaming-"
_CHAT = OPENAI_CHAT_OBJECT + "#chat_object-"
_SSE = "https://html.spec.whatwg.org/multipage/server-sent-events.html#"

OPENAI_STREAM_PARAM = _CHAT_CREATE + "stream"
OPENAI_STREAM_OPTIONS = _CHAT_CREATE + "stream_options"
OPENAI_MAX_TOKENS = _CHAT_CREATE + "max_tokens"
OPENAI_MESSAGES = _CHAT_CREATE + "messages"
OPENAI_MODEL_PARAM = _CHAT_CREATE + "model"
OPENAI_SEED = _CHAT_CREATE + "seed"
OPENAI_TOOLS = _CHAT_CREATE + "tools"
OPENAI_CHUNK_ID = _CHUNK + "id"
OPENAI_CHUNK_CREATED = _CHUNK + "created"
OPENAI_CHUNK_MODEL = _CHUNK + "model"
OPENAI_CHUNK_OBJECT_TYPE = _CHUNK + "object"
OPENAI_CHUNK_CHOICES = _CHUNK + "choices"
OPENAI_CHUNK_INDEX = _CHUNK + "choices-index"
OPENAI_CHUNK_DELTA = _CHUNK + "choices-delta"
OPENAI_CHUNK_ROLE = _CHUNK + "choices-delta-role"
OPENAI_CHUNK_CONTENT = _CHUNK + "choices-delta-content"
OPENAI_CHUNK_TOOL_CALLS = _CHUNK + "choices-delta-tool_calls"
OPENAI_CHUNK_FINISH_REASON = _CHUNK + "choices-finish_reason"
OPENAI_CHUNK_USAGE = _CHUNK + "usage"
OPENAI_CHAT_CHOICES = _CHAT + "choices"
OPENAI_CHAT_FINISH_REASON = _CHAT + "choices-finish_reason"
OPENAI_CHAT_USAGE = _CHAT + "usage"
OPENAI_CHAT_MODEL = _CHAT + "model"
OPENAI_ERROR_CODES = OPENAI_ERRORS + "#api-errors"
WHATWG_SSE_PROCESSING = _SSE + "sse-processing-model"
WHATWG_SSE_PARSING = _SSE + "parsing-an-event-stream"
WHATWG_SSE_INTERPRETING = _SSE + "event-stream-interpretation"
WHATWG_SSE_AUTHORING = _SSE + "authoring-notes"
RFC9110_200 = "https://www.rfc-editor.org/rfc/rfc9110#section-15.3.1"
RFC9110_4XX = "https://www.rfc-editor.org/rfc/rfc9110#section-15.5"
RFC9110_401 = "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.2"
RFC9111_NO_CACHE = "https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.4"
RFC8259_OBJECTS = "https://www.rfc-editor.org/rfc/rfc8259#section-4"
RFC3629_SYNTAX = "https://www.rfc-editor.org/rfc/rfc3629#section-4"
ASGI_DISCONNECT = "https://asgi.readthedocs.io/en/latest/specs/www.html#disconnect-receive-event"

#: Specs whose address names the section by its path (the object pages of the
#: reference, this repository's write-up): there is no finer anchor.
BY_PATH = frozenset({OPENAI_CHUNK_OBJECT, OPENAI_CHAT_OBJECT, OPENAI_MODELS, SEED_PROXY, EXO_API})
# The Responses API: OpenAI's reference, its streaming guide, the openai-python
# accumulator that strict clients share, and the Open Responses specification
# (stricter in places; rules follow OpenAI where the two disagree).
OPENAI_RESPONSES_CREATE = "https://platform.openai.com/docs/api-reference/responses/create"
OPENAI_RESPONSES_OBJECT = "https://platform.openai.com/docs/api-reference/responses/object"
OPENAI_RESPONSES_STREAMING = "https://platform.openai.com/docs/api-reference/responses-streaming"
OPENAI_RESPONSES_STREAMING_GUIDE = (
    "https://platform.openai.com/docs/guides/streaming-responses?api-mode=responses"
)
OPENAI_PYTHON_RESPONSES_STREAM = (
    "https://github.com/openai/openai-python/blob/main/src/openai/lib/streaming/responses/"
    "_responses.py"
)
OPEN_RESPONSES_HTTP = "https://www.openresponses.org/specification#http-responses"
OPEN_RESPONSES_ITEMS = "https://www.openresponses.org/specification#items-are-streamable"
OPEN_RESPONSES_ERRORS = "https://www.openresponses.org/specification#errors"

# The other APIs' reference pages, event pages and SDK source files: their path
# names the section (each page documents one endpoint, event or reader).
BY_PATH = BY_PATH | frozenset(
    {
        ANTHROPIC_ERRORS,
        ANTHROPIC_MESSAGES,
        ANTHROPIC_SDK_ACCUMULATOR,
        ANTHROPIC_STREAMING,
        EXO_CANCEL,
        OLLAMA_CHAT,
        OLLAMA_ERRORS,
        OLLAMA_SDK_CLIENT,
        OLLAMA_STREAMING,
        OPENAI_PYTHON_RESPONSES_STREAM,
        OPENAI_RESPONSES_CREATE,
        OPENAI_RESPONSES_OBJECT,
        OPENAI_RESPONSES_STREAMING,
        OPENAI_RESPONSES_STREAMING_GUIDE,
        *(
            f"{OPENAI_RESPONSES_STREAMING}/response/{event}"
            for event in ("created", "completed", "incomplete", "failed")
        ),
    }
)
