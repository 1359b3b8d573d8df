"""What one reference server or proxy is told to be."""

from __future__ import annotations

from dataclasses import dataclass

from .entries import NO_FAULT, Fault, FaultOptions, combine
from .faults import get_fault
from .variants import get_variant

__all__ = [
    "DEFAULT_FIRST_TOKEN_DELAY",
    "DEFAULT_HOLD_OPEN",
    "DEFAULT_STALL_CAP",
    "DEFAULT_TOKEN_DELAY",
    "Settings",
]

DEFAULT_TOKEN_DELAY = 0.02
# Long enough for a client's "the body ends soon after [DONE]" deadline to notice.
DEFAULT_HOLD_OPEN = 5.0
# The prefill pause of slow-first-token and prefill-keepalive.
DEFAULT_FIRST_TOKEN_DELAY = 1.5
# How long dead-runner-keepalive keeps a stalled body open before the server ends it.
DEFAULT_STALL_CAP = 60.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Options of ``python -m conformance.reference``, as data.

    ``fault`` and ``variant`` are validated on construction: an unknown name
    raises :class:`~conformance.reference.faults.UnknownFault` (or
    :class:`~conformance.reference.variants.UnknownVariant`), ``seed-bug``
    needs ``proxy_to``, a server-only entry refuses it, and a fault that shows
    only with a key (``auth-ignored``) needs ``api_key``.  ``fault`` may also
    name a valid variant (the older spelling of ``variant``); then ``variant``
    must be left unset.
    """

    host: str = "127.0.0.1"
    port: int = 0
    fault: str | None = None
    proxy_to: str | None = None
    token_delay: float = DEFAULT_TOKEN_DELAY
    api_key: str | None = None
    nondeterministic: bool = False
    hold_open: float = DEFAULT_HOLD_OPEN
    break_after: int = 3
    variant: str | None = None
    first_token_delay: float = DEFAULT_FIRST_TOKEN_DELAY
    stall_cap: float = DEFAULT_STALL_CAP

    def __post_init__(self) -> None:
        fault, variant = get_fault(self.fault), get_variant(self.variant)
        if variant is not None and fault.kind == "valid-variant" and fault is not NO_FAULT:
            raise ValueError(
                f"--fault {fault.name} is a valid variant (the older spelling of --variant): "
                f"it cannot run with --variant {variant.name}"
            )
        entry = self.fault_entry
        for part in (fault, variant or NO_FAULT):
            if part.scope == "proxy" and self.proxy_to is None:
                raise ValueError(f"fault {part.name!r} is a proxy code path: it needs --proxy-to")
            if part.scope == "server" and self.proxy_to is not None:
                what = "fault" if part.kind == "fault" else "variant"
                raise ValueError(
                    f"{what} {part.name!r} exists in the server only, not with --proxy-to"
                )
        if entry.needs_key and self.api_key is None:
            raise ValueError(f"fault {fault.name!r} shows only with a key: it needs --api-key")
        if min(self.token_delay, self.hold_open, self.first_token_delay, self.stall_cap) < 0:
            raise ValueError(
                "--token-delay, --hold-open, --first-token-delay and --stall-cap "
                "must not be negative"
            )

    @property
    def fault_entry(self) -> Fault:
        """The one entry the server applies: the variant's hooks, then the fault's."""
        return combine(get_variant(self.variant) or NO_FAULT, get_fault(self.fault))

    @property
    def fault_options(self) -> FaultOptions:
        return FaultOptions(
            hold_open=self.hold_open,
            break_after=self.break_after,
            pause=self.first_token_delay,
            stall_cap=self.stall_cap,
        )
