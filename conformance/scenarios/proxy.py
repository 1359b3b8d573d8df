"""Scenarios of a proxy and its upstream (``--exo-upstream``).

Every other scenario a proxy rule reads is recorded twice, through the proxy
and directly against the upstream, one after the other; the upstream's
transcript travels in the proxy's ``related`` under :data:`UPSTREAM`.  The
scenario here is recorded once, through the proxy, because what it judges
happens at the upstream: a stream dropped by the client, watched on the
upstream's own generation counters.
"""

from __future__ import annotations

import dataclasses

from ..capture.transcript import Transcript
from .base import RecordContext, Scenario, Silence, chat_body
from .chat import LONG_MAX_TOKENS, LONG_PROMPT
from .sessions import DROP_AFTER_EVENTS, generation_counter, read_counter, watch_counter

__all__ = ["PROXY_DISCONNECT", "SCENARIOS", "UNPAIRED", "UPSTREAM"]

#: The name of the upstream's transcript in the proxy transcript's ``related``.
UPSTREAM = "upstream"
PROXY_DISCONNECT = "proxy-disconnect"
#: Scenarios recorded through the proxy only: they read the upstream themselves.
UNPAIRED = frozenset({PROXY_DISCONNECT})


async def _proxy_disconnect(ctx: RecordContext) -> Transcript:
    """Main: a long stream through the proxy, dropped after a few events.

    related: "generations-0" (the upstream's counters before), then
    "generations-1".. (the upstream's counters after the drop), each read
    directly from the upstream, never through the proxy.
    """
    body = chat_body(ctx.target.model, LONG_PROMPT, max_tokens=LONG_MAX_TOKENS)
    if ctx.upstream is None:  # recorded without --exo-upstream: nothing to watch
        return await ctx.chat(PROXY_DISCONNECT, body, drop_after_events=DROP_AFTER_EVENTS)
    upstream = dataclasses.replace(ctx, target=ctx.upstream, silence=Silence(), upstream=None)
    name = f"{PROXY_DISCONNECT}-generations"
    before = await read_counter(upstream, name)
    dropped = await ctx.chat(PROXY_DISCONNECT, body, drop_after_events=DROP_AFTER_EVENTS)
    related: list[tuple[str, Transcript]] = [("generations-0", before)]
    counter = generation_counter(before)
    if counter is not None:
        related += await watch_counter(upstream, counter, name)
    return dataclasses.replace(dropped, related=tuple(related))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        PROXY_DISCONNECT,
        f"a long stream through the proxy dropped after {DROP_AFTER_EVENTS} events, the "
        "upstream's generation counters read directly",
        _proxy_disconnect,
        exclusive=True,
    ),
)
