"""Recording a proxy and its upstream in pairs (``--exo-upstream``).

Each paired scenario is recorded through the proxy and then, at once,
directly against the upstream, one exchange after the other, so neither
disturbs the other and both see the upstream in the same state.  The
upstream's transcript is kept in the proxy transcript's ``related`` under
:data:`~conformance.scenarios.proxy.UPSTREAM`, which is what the ``proxy.*``
rules compare.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

from ..capture.transcript import Transcript
from . import CATALOG
from .base import RecordContext, Scenario, Silence, Target
from .proxy import UNPAIRED, UPSTREAM

__all__ = ["record_paired"]


async def record_paired(
    ctx: RecordContext,
    upstream: Target,
    ids: Iterable[str],
    paired: set[str],
    *,
    parallel: int = 1,
) -> dict[str, Transcript]:
    """Record the named scenarios through the proxy (``ctx``), and those in
    ``paired`` directly against ``upstream`` right after; exclusive ones last
    and alone, as :func:`~conformance.scenarios.record_all` does."""
    # The upstream's own context: nothing it records may be an exchange the proxy
    # made (shared exchanges, the proxy's model list from preflight).
    direct = dataclasses.replace(
        ctx, target=upstream, silence=Silence(), upstream=None, shared={}, listing=None
    )
    proxied = dataclasses.replace(ctx, upstream=upstream)
    wanted = [CATALOG[i] for i in dict.fromkeys(ids)]
    gate = asyncio.Semaphore(max(1, parallel))

    async def pair(scenario: Scenario) -> Transcript:
        through = await scenario.record(proxied)
        if scenario.id not in paired or scenario.id in UNPAIRED:
            return through
        alone = await scenario.record(direct)
        return dataclasses.replace(through, related=(*through.related, (UPSTREAM, alone)))

    async def gated(scenario: Scenario) -> Transcript:
        async with gate:
            return await pair(scenario)

    shared = [s for s in wanted if not s.exclusive]
    results = await asyncio.gather(*(gated(s) for s in shared))
    out = {s.id: t for s, t in zip(shared, results, strict=True)}
    for scenario in (s for s in wanted if s.exclusive):
        out[scenario.id] = await pair(scenario)
    return out
