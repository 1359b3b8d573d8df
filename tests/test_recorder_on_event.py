"""The recorder's ``on_event`` hook: a scenario sees each event as it arrives, in order."""

from __future__ import annotations

import asyncio

from test_reference_support import FAST, MODEL

from conformance.capture import Event, Limits, make_client, record
from conformance.reference import Settings, serve_in_thread


def test_on_event_sees_every_kept_event_in_order() -> None:
    seen: list[Event] = []
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}

    async def run() -> list[int]:
        async with make_client(limits=Limits(deadline_s=20)) as client:
            t = await record(
                client, "POST", url + "/v1/chat/completions", scenario="s", target=url,
                json=body, on_event=seen.append,
            )  # fmt: skip
        return [len(t.events)]

    with serve_in_thread(Settings(token_delay=FAST)) as srv:
        url = srv.url
        (count,) = asyncio.run(run())
    assert count == len(seen) and count > 3
    assert seen[-1].data == "[DONE]"
    assert [e.t_ns for e in seen] == sorted(e.t_ns for e in seen)
