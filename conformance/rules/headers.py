"""Response headers of a stream: status, content type, caching and buffering."""

from __future__ import annotations

from ..scenarios.chat import STREAMS
from ..view import ChatView
from . import specs
from .common import content_type_is, describe_end, no_stream
from .registry import Level, Verdict, failed, passed, rule

__all__: list[str] = []


@rule(
    "headers.status",
    level=Level.MUST,
    requirement="A valid stream request gets HTTP 200.",
    spec=specs.RFC9110_200,
    quote="RFC 9110 15.3.1: the 200 (OK) status code indicates that the request has succeeded. "
    "openai-python raises `APIStatusError` for any other status (`_base_client.py` "
    "`_make_status_error`).",
    breaks=(
        "openai-python (APIStatusError, no stream)",
        "reqwest-eventsource / async-openai (`check_response`: InvalidStatusCode)",
    ),
    hint="Answer a valid `stream: true` request with 200 and start the event stream; "
    "a proxy must not turn an upstream stream into an error.",
    scenarios=STREAMS,
)
def status(t: ChatView) -> Verdict:
    if t.status is None:
        return failed("HTTP 200", f"no response: {describe_end(t)}")
    if t.status != 200:
        return failed("HTTP 200", f"HTTP {t.status}", at=0)
    return passed()


@rule(
    "headers.content-type",
    level=Level.MUST,
    requirement="A stream is sent as `Content-Type: text/event-stream` (parameters allowed).",
    spec=specs.WHATWG_SSE_PROCESSING,
    quote="WHATWG HTML, server-sent events processing model: a 200 response whose Content-Type "
    "is not text/event-stream, or that has none, must cause the user agent to fail the "
    "connection.",
    breaks=(
        "browsers' EventSource (fails the connection)",
        "reqwest-eventsource / async-openai (`check_response`: InvalidContentType)",
    ),
    hint='Set `media_type="text/event-stream"` on the streaming response; a proxy must '
    "pass the upstream content type through.",
    scenarios=STREAMS,
)
def content_type(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    return content_type_is(t, "text/event-stream")


def _directives(t: ChatView, name: str) -> set[str]:
    found: set[str] = set()
    for value in t.header_values(name):
        found |= {d.split("=", 1)[0].strip().lower() for d in value.split(",") if d.strip()}
    return found


@rule(
    "headers.cache-control",
    level=Level.SHOULD,
    requirement="A stream carries `Cache-Control: no-cache` (or `no-store`), so no cache "
    "holds or replays it.",
    spec=specs.RFC9111_NO_CACHE,
    quote="RFC 9111 5.2.2.4: no-cache means a cache must not use the response to satisfy a "
    "later request without revalidation.",
    hint="Add `Cache-Control: no-cache` to the streaming response headers.",
    scenarios=STREAMS,
)
def cache_control(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    directives = _directives(t, "cache-control")
    if directives & {"no-cache", "no-store"}:
        return passed()
    shown = ", ".join(t.header_values("cache-control")) or "no Cache-Control header"
    return failed("Cache-Control: no-cache", shown)


@rule(
    "headers.x-accel-buffering",
    level=Level.SHOULD,
    requirement="A stream carries `X-Accel-Buffering: no`, so nginx-style proxies pass "
    "events on at once instead of buffering them.",
    spec=specs.NGINX_X_ACCEL,
    quote='nginx proxy_buffering: buffering can also be enabled or disabled by passing "yes" '
    'or "no" in the X-Accel-Buffering response header field.',
    hint="Add `X-Accel-Buffering: no` to the streaming response headers (nginx reads it "
    "to disable proxy buffering for this response).",
    scenarios=STREAMS,
)
def x_accel_buffering(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    values = [v.strip().lower() for v in t.header_values("x-accel-buffering")]
    if values == ["no"]:
        return passed()
    return failed(
        "X-Accel-Buffering: no",
        f"X-Accel-Buffering: {', '.join(values)}" if values else "no X-Accel-Buffering header",
    )


@rule(
    "headers.content-encoding",
    level=Level.SHOULD,
    requirement="A stream is not compressed: compression buffers events until a block fills.",
    spec=specs.RFC9110_CONTENT_ENCODING,
    quote="gzip and brotli encoders hold output until a block fills, so a compressed stream's "
    "events arrive late and together.",
    hint="Exclude text/event-stream from gzip/brotli middleware (for example, set "
    "`minimum_size` above the stream or skip compression when the content type is "
    "text/event-stream).",
    scenarios=STREAMS,
)
def content_encoding(t: ChatView) -> Verdict:
    if (skip := no_stream(t)) is not None:
        return skip
    codings = [c for c in _directives(t, "content-encoding") if c != "identity"]
    if codings:
        return failed(
            "no Content-Encoding (or identity)",
            f"Content-Encoding: {', '.join(t.header_values('content-encoding'))}",
        )
    return passed()
