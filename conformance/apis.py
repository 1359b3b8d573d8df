"""The APIs the suite can test, and which of them a target is tested on.

Each API is data: its name (the ``--exo-api`` value and a scenario's ``api``),
the path it is served at, the view its transcripts are read through, and the
cheap probe that tells whether an endpoint serves it.  An API is added to the
suite by adding its view, scenarios and rules modules and one entry to
:data:`APIS`; a name in :data:`API_NAMES` without an entry is accepted on the
command line and reported as not tested yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import httpx

from .capture.recorder import Limits, record
from .capture.transcript import Ending, Transcript
from .scenarios.base import Target
from .view import ChatView, View
from .view_messages import MessagesView
from .view_ollama import OllamaView
from .view_responses import ResponsesView

__all__ = [
    "APIS",
    "API_NAMES",
    "AUTO",
    "EVERY",
    "PROBE_DEADLINE_S",
    "Api",
    "ApiChoice",
    "ProbeAnswer",
    "choose",
    "settle_apis",
    "view_class",
]

#: Every API name ``--exo-api`` accepts, in the order reports list them.
API_NAMES: tuple[str, ...] = ("chat", "responses", "messages", "ollama")
#: chat, plus each other API the endpoint serves (found by probing).
AUTO = "auto"
#: Every API, tested without probing.
EVERY = "all"

#: Deadline of one probe: it asks a question a server answers at once (an
#: invalid request), so a stall is reported within seconds, not after
#: --exo-timeout's generation-sized deadline.
PROBE_DEADLINE_S = 5.0
#: Body bytes a probe reads: an error object.
PROBE_MAX_BODY = 256 * 2**10
#: Statuses that say a path is not served at all.
NOT_SERVED = frozenset({404, 405, 501})


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """Whether a target serves an API, and what it answered (one line)."""

    served: bool
    answer: str
    #: a path prefix the API was found under (Ollama is mounted at / or /ollama)
    mount: str = ""


Probe = Callable[[httpx.AsyncClient, Target, Limits], Awaitable[ProbeAnswer]]


@dataclass(frozen=True, slots=True)
class Api:
    name: str
    #: what it is, for the run header and the README
    title: str
    view: type[View]
    #: None: always served (chat: preflight already found it)
    probe: Probe | None = None
    #: the probe also finds where the API is mounted, so it runs even for an
    #: API named on the command line (which is tested whatever it answers)
    finds_mount: bool = False


def _describe(t: Transcript, what: str) -> str:
    if t.status is not None:
        return f"{what} answered HTTP {t.status}"
    if t.ending is Ending.DEADLINE:
        return f"{what}: no answer within {PROBE_DEADLINE_S:g} s (probe deadline)"
    return f"{what}: {t.ending_detail or t.ending}"


def invalid_post_probe(path: str, body: Callable[[str], dict[str, Any]]) -> Probe:
    """A probe that POSTs an invalid request to ``path``: an API that is served
    rejects it at once (4xx), one that is not answers 404, 405 or 501.

    Invalid on purpose: the answer costs the endpoint no generation.
    """

    async def probe(client: httpx.AsyncClient, target: Target, limits: Limits) -> ProbeAnswer:
        quick = Limits(
            deadline_s=min(limits.deadline_s, PROBE_DEADLINE_S), max_body_bytes=PROBE_MAX_BODY
        )
        t = await record(
            client,
            "POST",
            target.endpoint(path),
            scenario="probe",
            target=target.url,
            json=body(target.model),
            limits=quick,
            secrets=(target.api_key,) if target.api_key else (),
        )
        answer = _describe(t, f"POST {path}")
        # A redirect is not followed: the API is not served where asked.
        served = t.status is not None and t.status not in NOT_SERVED and not 300 <= t.status < 400
        return ProbeAnswer(served, answer)

    return probe


#: Where Ollama's API may be mounted: at the root (Ollama), under /ollama (EXO).
OLLAMA_MOUNTS = ("", "/ollama")


async def _ollama_probe(client: httpx.AsyncClient, target: Target, limits: Limits) -> ProbeAnswer:
    """Ollama's chat at each mount in turn: the first that rejects an invalid body serves it.

    ``messages`` that is not a list is rejected at once; a body without
    messages would make Ollama load the model.
    """
    answers = []
    for mount in OLLAMA_MOUNTS:
        path = mount + "/api/chat"
        probe = invalid_post_probe(path, lambda model: {"model": model, "messages": "probe"})
        answer = await probe(client, target, limits)
        if answer.served:
            return ProbeAnswer(True, answer.answer, mount)
        answers.append(answer.answer)
    return ProbeAnswer(False, "; ".join(answers))


#: The APIs this version tests, by name.
APIS: Mapping[str, Api] = MappingProxyType(
    {
        "chat": Api("chat", "OpenAI Chat Completions (/v1/chat/completions)", ChatView),
        "responses": Api(
            "responses",
            "OpenAI Responses (/v1/responses)",
            ResponsesView,
            # No `input`: a Responses server rejects it without generating.
            invalid_post_probe("/v1/responses", lambda model: {"model": model}),
        ),
        "messages": Api(
            "messages",
            "Anthropic Messages (/v1/messages)",
            MessagesView,
            # No messages and no max_tokens: rejected without generating.
            invalid_post_probe("/v1/messages", lambda model: {"model": model}),
        ),
        "ollama": Api(
            "ollama",
            "Ollama chat (/api/chat, or /ollama/api/chat as EXO mounts it)",
            OllamaView,
            _ollama_probe,
            finds_mount=True,
        ),
    }
)


def view_class(api: str) -> type[View]:
    """The view an API's transcripts are read through (chat's for an unknown name)."""
    found = APIS.get(api)
    return found.view if found is not None else ChatView


@dataclass(frozen=True, slots=True)
class ApiChoice:
    """What ``--exo-api`` asked: APIs to test as they are, and APIs to probe first."""

    explicit: tuple[str, ...]
    probed: tuple[str, ...]


def choose(values: Iterable[str]) -> ApiChoice:
    """The APIs the ``--exo-api`` values name (ValueError on an unknown one).

    ``auto`` (the default) is chat plus the other APIs, each probed; an API
    named on its own, or by ``all``, is tested without probing, so an endpoint
    that does not serve it fails its rules.
    """
    explicit: set[str] = set()
    probed: set[str] = set()
    for value in values or (AUTO,):
        name = value.strip().lower()
        if name == AUTO:
            explicit.add("chat")
            probed.update(API_NAMES[1:])
        elif name == EVERY:
            explicit.update(API_NAMES)
        elif name in API_NAMES:
            explicit.add(name)
        else:
            known = ", ".join((AUTO, *API_NAMES, EVERY))
            raise ValueError(f"--exo-api {value!r} is not an API (choose from {known})")
    probed -= explicit
    return ApiChoice(
        tuple(n for n in API_NAMES if n in explicit), tuple(n for n in API_NAMES if n in probed)
    )


NOT_YET = "not tested yet: this version of exo-conformance has no rules for it"


async def settle_apis(
    client: httpx.AsyncClient, target: Target, choice: ApiChoice, limits: Limits
) -> Target:
    """The target with the APIs it is tested on, and why each other one is not.

    Probes go one at a time, each with its own short deadline (``limits``'
    deadline still caps it), so an endpoint that stalls on one path costs
    seconds, not a generation's deadline.
    """
    tested: list[str] = []
    skipped: list[tuple[str, str]] = []
    mounts: list[tuple[str, str]] = []
    for name in API_NAMES:
        if name not in choice.explicit and name not in choice.probed:
            continue
        api = APIS.get(name)
        if api is None:
            skipped.append((name, NOT_YET))
            continue
        if api.probe is None or (name in choice.explicit and not api.finds_mount):
            tested.append(name)
            continue
        # An API named on the command line is tested whatever the probe says,
        # but a probe that finds the mount still runs: EXO serves Ollama's API
        # under /ollama, and its root /api/chat is the dashboard's (405).
        answer = await api.probe(client, target, limits)
        if answer.served or name in choice.explicit:
            tested.append(name)
            if answer.mount:
                mounts.append((name, answer.mount))
        else:
            skipped.append((name, f"not served: {answer.answer}"))
    return dataclasses.replace(
        target, apis=tuple(tested), skipped_apis=tuple(skipped), mounts=tuple(mounts)
    )
