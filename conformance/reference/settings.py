"""What one reference server or proxy is told to be."""

from __future__ import annotations

from dataclasses import dataclass

from .faults import Fault, FaultOptions, get_fault

__all__ = ["DEFAULT_HOLD_OPEN", "DEFAULT_TOKEN_DELAY", "Settings"]

DEFAULT_TOKEN_DELAY = 0.02
# Long enough for a client's "the body ends soon after [DONE]" deadline to notice.
DEFAULT_HOLD_OPEN = 5.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Options of ``python -m conformance.reference``, as data.

    ``fault`` is validated on construction: an unknown name raises
    :class:`~conformance.reference.faults.UnknownFault`, ``seed-bug``
    needs ``proxy_to``, and a fault that shows only with a key (``auth-ignored``)
    needs ``api_key``.
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

    def __post_init__(self) -> None:
        fault = get_fault(self.fault)
        if fault.scope == "proxy" and self.proxy_to is None:
            raise ValueError(f"fault {fault.name!r} is a proxy code path: it needs --proxy-to")
        if fault.scope == "server" and self.proxy_to is not None:
            raise ValueError(f"fault {fault.name!r} exists in the server only, not with --proxy-to")
        if fault.needs_key and self.api_key is None:
            raise ValueError(f"fault {fault.name!r} shows only with a key: it needs --api-key")
        if self.token_delay < 0 or self.hold_open < 0:
            raise ValueError("--token-delay and --hold-open must not be negative")

    @property
    def fault_entry(self) -> Fault:
        return get_fault(self.fault)

    @property
    def fault_options(self) -> FaultOptions:
        return FaultOptions(hold_open=self.hold_open, break_after=self.break_after)
