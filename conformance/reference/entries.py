"""What a catalog entry is: data plus one optional hook per stage of a reply.

Faults (``faults.py``) and valid variants (``variants.py``) are entries of the
same shape; ``kind`` tells them apart.  A server runs at most one of each:
:func:`combine` makes the one entry the server and the proxy apply, the
variant's hooks first (closest to the generation), the fault's on top.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

from . import transforms as t
from .generation import Gate
from .text import Completion
from .validation import ChatRequest
from .wire import PLAIN_FRAMING, Framing, Head, Item, JsonObject

__all__ = [
    "NO_FAULT",
    "AuthHook",
    "CompletionHook",
    "ErrorHook",
    "Fault",
    "FaultOptions",
    "HeadHook",
    "ItemsHook",
    "JsonReply",
    "Kind",
    "ModelsHook",
    "PlanHook",
    "RequestHook",
    "Scope",
    "WritesHook",
    "combine",
    "describe",
]

FaultOptions = t.FaultOptions
JsonReply = t.JsonReply

Kind = Literal["fault", "valid-variant"]
Scope = Literal["server+proxy", "server", "proxy"]
RequestHook = Callable[[JsonObject, Sequence[str]], JsonObject]
PlanHook = Callable[[ChatRequest, Completion], Completion]
HeadHook = Callable[[Head], Head]
ItemsHook = Callable[[AsyncIterator[Item], FaultOptions], AsyncIterator[Item]]
WritesHook = Callable[[AsyncIterator[bytes], FaultOptions], AsyncIterator[bytes]]
ErrorHook = Callable[[JsonReply], JsonReply]
CompletionHook = Callable[[JsonObject], JsonObject | bytes]
ModelsHook = Callable[[JsonObject], JsonObject]
AuthHook = Callable[[bool], bool]

X = TypeVar("X")


@dataclass(frozen=True, slots=True)
class Fault:
    """One catalog entry (a fault or a valid variant); hooks left as None leave that
    stage correct."""

    name: str
    kind: Kind
    description: str
    imitates: str
    scope: Scope = "server+proxy"
    request: RequestHook | None = None
    #: changes what the server generates (server only: a proxy relays its upstream)
    plan: PlanHook | None = None
    #: what each generation, streamed or not, runs inside (server only)
    gate: Gate | None = None
    head: HeadHook | None = None
    items: ItemsHook | None = None
    framing: Framing = PLAIN_FRAMING
    writes: WritesHook | None = None
    #: whether a stream is sent whole, head and ``Content-Length`` after its last byte
    sized: bool = False
    error: ErrorHook | None = None
    completion: CompletionHook | None = None
    completion_head: HeadHook | None = None
    models: ModelsHook | None = None
    #: sees whether a request's credentials passed and decides whether it is let in
    auth: AuthHook | None = None
    #: whether the entry shows only on an endpoint that takes an API key: the
    #: reference then needs --api-key, and the fault matrix runs it with one
    needs_key: bool = False
    #: the APIs whose endpoints the entry changes (its plan hook and the hooks of
    #: those APIs' own stages); the fault matrix tests exactly these
    apis: tuple[str, ...] = ("chat",)
    #: the Responses stream's events, after the correct stream is built
    responses: ItemsHook | None = None

    @property
    def needs_items(self) -> bool:
        """Whether a proxy must re-parse upstream events rather than pass bytes on."""
        return self.items is not None or not self.framing.is_default


NO_FAULT = Fault("none", "valid-variant", "A correct endpoint.", "EXO and OpenAI as specified")


def describe(entry: Fault) -> str:
    return f"{entry.name:<22} {entry.kind:<13} {entry.description} (imitates {entry.imitates})"


def _then(first: X | None, second: X | None, chain: Callable[[X, X], X]) -> X | None:
    if first is None or second is None:
        return first if second is None else second
    return chain(first, second)


def _scope(variant: Fault, fault: Fault) -> Scope:
    scopes = {variant.scope, fault.scope} - {"server+proxy"}
    if len(scopes) > 1:
        raise ValueError(
            f"{variant.name!r} exists in the {variant.scope} only and {fault.name!r} in the "
            f"{fault.scope} only: they cannot run together"
        )
    return scopes.pop() if scopes else "server+proxy"


def combine(variant: Fault, fault: Fault) -> Fault:
    """The entry a server with this variant and this fault applies (either may be NO_FAULT).

    Each stage runs the variant's hook, then the fault's on its result; the
    fault's framing wins when it has one.  The name is the fault's, then the
    variant's, joined by ``+``.
    """
    if variant is NO_FAULT:
        return fault
    if fault is NO_FAULT:
        return variant
    return Fault(
        name=f"{fault.name}+{variant.name}",
        kind="fault",
        description=f"{fault.description} And: {variant.description}",
        imitates=f"{fault.imitates}, and {variant.imitates}",
        scope=_scope(variant, fault),
        request=_then(variant.request, fault.request, _chain_request),
        plan=_then(variant.plan, fault.plan, _chain_plan),
        gate=_then(variant.gate, fault.gate, _chain_gate),
        head=_then(variant.head, fault.head, _chain_head),
        items=_then(variant.items, fault.items, _chain_stream),
        framing=fault.framing if not fault.framing.is_default else variant.framing,
        writes=_then(variant.writes, fault.writes, _chain_stream),
        sized=variant.sized or fault.sized,
        error=_then(variant.error, fault.error, _chain_one),
        completion=_then(variant.completion, fault.completion, _chain_completion),
        completion_head=_then(variant.completion_head, fault.completion_head, _chain_head),
        models=_then(variant.models, fault.models, _chain_one),
        auth=_then(variant.auth, fault.auth, _chain_one),
        needs_key=variant.needs_key or fault.needs_key,
        apis=tuple(dict.fromkeys((*variant.apis, *fault.apis))),
        responses=_then(variant.responses, fault.responses, _chain_stream),
    )


def _chain_request(first: RequestHook, second: RequestHook) -> RequestHook:
    return lambda body, models: second(first(body, models), models)


def _chain_plan(first: PlanHook, second: PlanHook) -> PlanHook:
    return lambda chat, completion: second(chat, first(chat, completion))


def _chain_gate(first: Gate, second: Gate) -> Gate:
    @asynccontextmanager
    async def both() -> AsyncIterator[None]:
        async with first(), second():
            yield

    return both


def _chain_head(first: HeadHook, second: HeadHook) -> HeadHook:
    return lambda head: second(first(head))


def _chain_one(first: Callable[[X], X], second: Callable[[X], X]) -> Callable[[X], X]:
    return lambda value: second(first(value))


def _chain_stream(
    first: Callable[[X, FaultOptions], X], second: Callable[[X, FaultOptions], X]
) -> Callable[[X, FaultOptions], X]:
    return lambda stream, options: second(first(stream, options), options)


def _chain_completion(first: CompletionHook, second: CompletionHook) -> CompletionHook:
    def both(body: JsonObject) -> JsonObject | bytes:
        changed = first(body)
        return second(changed) if isinstance(changed, dict) else changed

    return both
