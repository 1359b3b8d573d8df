"""EXO's real API in front of a stand-in cluster that generates deterministic tokens.

The HTTP side is EXO's own code, unchanged: ``exo.api.main.API`` (FastAPI on
Hypercorn) with its adapters for chat completions, Responses, Claude Messages
and Ollama. Only what sits behind it is replaced. A real node wires the API to
the master through two channels: the API sends ``ForwarderCommand``s
(``TextGeneration``, ``TaskCancelled``, ``TaskFinished``) and receives every
cluster event as an ``IndexedEvent``, numbered by the master. The stand-in
plays master, worker and runner on those two channels:

- at start it sends ``InstanceCreated`` for one model, so the API serves it;
- for each ``TextGeneration`` it sends ``TaskCreated``, then what EXO's runner
  sends for a generation (``exo.worker.engines.mlx.generator.batch_generate``
  and ``exo.worker.runner.llm_inference.model_output_parsers``): two
  ``PrefillProgressChunk``s (0 of N, N of N), one ``TokenChunk`` per decode
  step, and on the last step the ``finish_reason`` with ``usage`` and
  ``stats``. A natural stop is one more step whose text is empty (the
  end-of-sequence token is not detokenized) and which is counted in
  ``completion_tokens``; ``max_output_tokens`` ends with ``length`` on the
  step that reaches it; a stop string cuts the text as the runner does;
- a request with tools whose last user message names one of them (or a word
  of five or more letters of its name) gets one ``ToolCallChunk`` holding
  every call, on the last step, as EXO's tool parser accumulates them;
- a first message containing ``EXO RUNNER MUST FAIL`` (EXO's own test
  trigger) gets one ``ErrorChunk`` with the engine's message;
- ``TaskCancelled`` stops the generation with no further chunk (the runner's
  ``CancelledResponse``), and ``TaskFinished`` deletes the task, as the master
  does (``TaskStatusUpdated`` and ``TaskDeleted``).

The text is words picked by a hash of the model, the messages and the seed, so
a stream and its non-stream twin agree, and the answer of one prompt does not
depend on other requests. A user message that says "long" gets a long answer;
one that asks to "Repeat the code X exactly N times" gets X N times, as an
instruction-following model answers it.

Run it with EXO's source on ``PYTHONPATH`` (``start.sh`` does it all).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import exo.api.main as api_main
from exo.api.main import API
from exo.api.types import (
    CompletionTokensDetails,
    GenerationStats,
    PromptTokensDetails,
    ToolCallItem,
    Usage,
)
from exo.shared.election import ElectionMessage
from exo.shared.models.model_cards import ModelId, card_cache
from exo.shared.types.chunks import (
    ErrorChunk,
    PrefillProgressChunk,
    TokenChunk,
    ToolCallChunk,
)
from exo.shared.types.commands import (
    ForwarderCommand,
    ForwarderDownloadCommand,
    TaskCancelled,
    TaskFinished,
    TextGeneration,
)
from exo.shared.types.common import CommandId, NodeId
from exo.shared.types.events import (
    ChunkGenerated,
    Event,
    IndexedEvent,
    InstanceCreated,
    TaskCreated,
    TaskDeleted,
    TaskStatusUpdated,
)
from exo.shared.types.memory import Memory
from exo.shared.types.tasks import TaskId, TaskStatus
from exo.shared.types.tasks import TextGeneration as TextGenerationTask
from exo.shared.types.text_generation import TextGenerationTaskParams
from exo.shared.types.worker.instances import InstanceId, MlxRingInstance
from exo.shared.types.worker.runners import RunnerId, ShardAssignments
from exo.shared.types.worker.shards import PipelineShardMetadata
from exo.utils.channels import Sender, channel
from hypercorn.config import Config
from loguru import logger

DEFAULT_MODEL = "mlx-community/Llama-3.2-1B-Instruct-4bit"
#: EXO's debug trigger (exo/worker/runner/llm_inference/batch_generator.py).
MUST_FAIL = "EXO RUNNER MUST FAIL"
MUST_FAIL_MESSAGE = "Artificial runner exception - for testing purposes only."
#: EXO's default when a request sets no limit (exo/worker/engines/mlx/constants.py).
DEFAULT_MAX_TOKENS = 32168

WORDS = (
    "the", "river", "stone", "light", "over", "quiet", "north", "field", "and",
    "small", "engine", "runs", "under", "a", "clear", "sky", "while", "seven",
    "birds", "count", "slowly", "toward", "morning", "with", "careful", "hands",
    "every", "signal", "arrives", "in", "order", "bright", "paper", "lamps",
)  # fmt: skip
NATURAL_LENGTH = 24
LONG_LENGTH = 400
_LONG = re.compile(r"\blong\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")
_REPEAT = re.compile(r"\brepeat the code (\S+) exactly (\d+) times", re.IGNORECASE)


class LoopbackConfig(Config):
    """Hypercorn's config with every bind moved to the loopback address.

    EXO binds ``0.0.0.0``; the stand-in keeps the port and serves 127.0.0.1 only.
    """

    @property
    def bind(self) -> list[str]:
        return self._bind

    @bind.setter
    def bind(self, value: list[str] | str) -> None:
        binds = [value] if isinstance(value, str) else value
        self._bind = [f"127.0.0.1:{b.rsplit(':', 1)[1]}" for b in binds]


class Cluster:
    """Master, worker and runner of one model, on the API's two channels."""

    def __init__(self, events: Sender[IndexedEvent], model: str, delay: float) -> None:
        self._events = events
        self._idx = 0
        self._model = ModelId(model)
        self._delay = delay
        self._instance = InstanceId()
        self._tasks: dict[CommandId, TaskId] = {}
        self._cancelled: set[CommandId] = set()

    async def emit(self, event: Event) -> None:
        """Number the event as the master does, and deliver it to the API.

        The channel is unbounded, so a synchronous send keeps numbering and
        delivery in one step: concurrent generations cannot reorder the indices.
        """
        self._events.send_nowait(IndexedEvent(idx=self._idx, event=event))
        self._idx += 1
        await anyio.lowlevel.checkpoint()

    async def start(self) -> None:
        await card_cache.refresh()  # a node loads EXO's built-in model cards
        card = card_cache.get(self._model)
        if card is None:
            raise SystemExit(f"EXO has no model card for {self._model}")
        runner = RunnerId()
        shard = PipelineShardMetadata(
            model_card=card,
            device_rank=0,
            world_size=1,
            start_layer=0,
            end_layer=card.n_layers,
            n_layers=card.n_layers,
        )
        assignments = ShardAssignments(
            model_id=self._model,
            runner_to_shard={runner: shard},
            node_to_runner={NodeId(): runner},
        )
        instance = MlxRingInstance(
            instance_id=self._instance,
            shard_assignments=assignments,
            hosts_by_node={},
            ephemeral_port=50000,
        )
        await self.emit(InstanceCreated(instance=instance))

    async def serve(self, commands: Any, tg: anyio.abc.TaskGroup) -> None:
        with commands as stream:
            async for forwarded in stream:
                await self._command(forwarded.command, tg)

    async def _command(self, command: object, tg: anyio.abc.TaskGroup) -> None:
        logger.info(f"stand-in cluster got {command!r:.200}")
        if isinstance(command, TextGeneration):
            task = TextGenerationTask(
                instance_id=self._instance,
                command_id=command.command_id,
                task_params=command.task_params,
            )
            self._tasks[command.command_id] = task.task_id
            await self.emit(TaskCreated(task_id=task.task_id, task=task))
            tg.start_soon(self._generate, command.command_id, command.task_params)
        elif isinstance(command, TaskCancelled):
            self._cancelled.add(command.cancelled_command_id)
            if task_id := self._tasks.get(command.cancelled_command_id):
                status = TaskStatus.Cancelled
                await self.emit(TaskStatusUpdated(task_id=task_id, task_status=status))
        elif isinstance(command, TaskFinished) and (
            task_id := self._tasks.pop(command.finished_command_id, None)
        ):
            await self.emit(TaskDeleted(task_id=task_id))

    async def _chunk(self, command_id: CommandId, chunk: Any) -> None:
        await self.emit(ChunkGenerated(command_id=command_id, chunk=chunk))

    async def _generate(self, command_id: CommandId, params: TextGenerationTaskParams) -> None:
        prompt = _prompt_tokens(params)
        await self._chunk(command_id, self._progress(0, prompt))
        await anyio.sleep(self._delay)
        await self._chunk(command_id, self._progress(prompt, prompt))
        if params.input and MUST_FAIL in str(params.input[0].content):
            await self._chunk(
                command_id, ErrorChunk(model=self._model, error_message=MUST_FAIL_MESSAGE)
            )
            return
        calls = _tool_calls(params)
        steps = _plan(params, calls)
        started = time.perf_counter()
        for step, (text, finish) in enumerate(steps, start=1):
            await anyio.sleep(self._delay)
            if command_id in self._cancelled:
                return
            usage = stats = None
            if finish is not None:
                usage = _usage(prompt, step)
                stats = _stats(prompt, step, time.perf_counter() - started)
            if calls and finish is None:
                continue  # the tool parser swallows the call's text
            if calls:
                chunk: Any = ToolCallChunk(
                    model=self._model, tool_calls=calls, usage=usage, stats=stats
                )
            else:
                chunk = TokenChunk(
                    model=self._model,
                    text=text,
                    token_id=_token_id(text),
                    usage=usage,
                    finish_reason=finish,
                    stats=stats,
                )
            await self._chunk(command_id, chunk)

    def _progress(self, done: int, total: int) -> PrefillProgressChunk:
        return PrefillProgressChunk(model=self._model, processed_tokens=done, total_tokens=total)


def _messages(params: TextGenerationTaskParams) -> list[tuple[str, str]]:
    return [(m.role, str(m.content)) for m in params.input]


def _last_user(params: TextGenerationTaskParams) -> str:
    users = [text for role, text in _messages(params) if role == "user"]
    return users[-1] if users else ""


def _prompt_tokens(params: TextGenerationTaskParams) -> int:
    words = sum(len(text.split()) for _, text in _messages(params))
    return max(words + len(str(params.instructions or "").split()), 1)


def _draw(key: bytes, position: int) -> int:
    digest = hashlib.blake2b(key + position.to_bytes(4, "big"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _repeated(message: str) -> list[str] | None:
    """An instruction-following answer to "Repeat the code X exactly N times", or None."""
    asked = _REPEAT.search(message)
    if asked is None:
        return None
    code, times = asked.group(1), min(int(asked.group(2)), 64)
    # A tokenizer splits such a code into a few pieces; so does the stand-in.
    pieces = [p for p in re.split(r"(-)", code) if p]
    return [(" " if i == 0 else "") + p for _ in range(times) for i, p in enumerate(pieces)]


def _words(params: TextGenerationTaskParams) -> list[str]:
    """The answer's words: a function of the model, the messages and the seed only."""
    if (repeated := _repeated(_last_user(params))) is not None:
        return repeated
    seed = params.seed if params.seed is not None else 42  # EXO's default seed
    raw = json.dumps([params.model, _messages(params), str(params.instructions), seed])
    key = hashlib.blake2b(raw.encode(), digest_size=16).digest()
    centre = LONG_LENGTH if _LONG.search(_last_user(params)) else NATURAL_LENGTH
    length = centre - 4 + _draw(key, 0xFFFFFFFF) % 9
    return [" " + WORDS[_draw(key, i) % len(WORDS)] for i in range(length)]


def _plan(
    params: TextGenerationTaskParams, calls: list[ToolCallItem]
) -> list[tuple[str, str | None]]:
    """Each decode step's text and finish reason, as batch_generate.py yields them."""
    limit = params.max_output_tokens or DEFAULT_MAX_TOKENS  # EXO: 0 means the default
    if calls:
        # The tool-call text is swallowed by the parser; its steps still count.
        pieces = sum(len(c.arguments) // 4 + 3 for c in calls)
        return [("", None)] * pieces + [("", "stop")]
    words = _words(params)
    steps: list[tuple[str, str | None]] = []
    stops = [params.stop] if isinstance(params.stop, str) else list(params.stop or [])
    seen = ""
    for i, word in enumerate([*words, ""]):
        finish: str | None = "stop" if i == len(words) else None
        if finish is None and i + 1 >= limit:
            finish = "length"
        seen += word
        hit = [seen.find(s) for s in stops if s and s in seen]
        if hit:
            word = seen[: min(hit)][len(seen) - len(word) :]
            finish = "stop"
        steps.append((word, finish))
        if finish is not None:
            break
    return steps


def _mentioned(tool: dict[str, Any], message: str) -> bool:
    function = tool.get("function", tool)
    name = str(function.get("name", ""))
    said = {w.lower() for w in _WORD.findall(message)}
    parts = {p for p in name.lower().split("_") if len(p) >= 5}
    return bool(name) and (name.lower() in message.lower() or bool(parts & said))


def _argument(message: str) -> str:
    capitals = [w for w in _WORD.findall(message)[1:] if w[0].isupper()]
    return capitals[0] if capitals else "text"


def _tool_calls(params: TextGenerationTaskParams) -> list[ToolCallItem]:
    message = _last_user(params)
    calls = []
    for tool in params.tools or []:
        function = tool.get("function", tool)
        if not isinstance(function, dict) or not _mentioned(tool, message):
            continue
        schema = function.get("parameters") or function.get("input_schema") or {}
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        arguments = {key: _argument(message) for key in props}
        calls.append(ToolCallItem(name=str(function["name"]), arguments=json.dumps(arguments)))
    return calls


def _token_id(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=2).digest(), "big")


def _usage(prompt: int, completion: int) -> Usage:
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=0),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=0),
    )


def _stats(prompt: int, steps: int, span: float) -> GenerationStats:
    return GenerationStats(
        prompt_tps=1000.0,
        generation_tps=(steps - 1) / span if steps > 1 and span > 0 else 0.0,
        prompt_tokens=prompt,
        generation_tokens=steps,
        peak_memory_usage=Memory.from_gb(0.5),
    )


async def run(port: int, model: str, delay: float, on_ready: Callable[[], None]) -> None:
    api_main.Config = LoopbackConfig  # type: ignore[misc]
    command_tx, command_rx = channel[ForwarderCommand]()
    event_tx, event_rx = channel[IndexedEvent]()
    download_tx, download_rx = channel[ForwarderDownloadCommand]()
    election_tx, election_rx = channel[ElectionMessage]()
    api = API(
        NodeId(),
        port=port,
        event_receiver=event_rx,
        command_sender=command_tx,
        download_command_sender=download_tx,
        election_receiver=election_rx,
    )
    cluster = Cluster(event_tx, model, delay)
    async with anyio.create_task_group() as tg:
        tg.start_soon(api.run)
        await cluster.start()
        tg.start_soon(cluster.serve, command_rx, tg)
        on_ready()
    # The API's download and election channels stay open (bound above) with nobody
    # on the far side, as on a node whose downloads and elections are idle.
    del download_rx, election_tx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=52415, help="EXO's default API port")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a model card EXO ships")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds per step")
    args = parser.parse_args()

    def ready() -> None:
        print(f"EXO API with stand-in cluster: http://127.0.0.1:{args.port} model {args.model}")

    anyio.run(run, args.port, args.model, args.token_delay, ready)


if __name__ == "__main__":
    main()
