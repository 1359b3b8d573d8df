"""Where each requirement comes from: the links rules cite as their spec."""

__all__ = [
    "EXO_API",
    "NGINX_X_ACCEL",
    "OPENAI_CHAT_CREATE",
    "OPENAI_CHAT_OBJECT",
    "OPENAI_CHUNK_OBJECT",
    "OPENAI_ERRORS",
    "OPENAI_MODELS",
    "OPENAI_STREAMING_GUIDE",
    "RFC3629_UTF8",
    "RFC8259_JSON",
    "RFC9110_CONTENT_ENCODING",
    "RFC9110_CONTENT_TYPE",
    "RFC9110_STATUS",
    "RFC9111_CACHE_CONTROL",
    "SEED_PROXY",
    "WHATWG_SSE",
    "WHATWG_SSE_MIME",
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
# The proxy lifecycle bug this project was born from, written up in this repository.
SEED_PROXY = "docs/proxy-lifecycle.md"
