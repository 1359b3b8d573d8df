"""The reference server, the reference proxy, the fault catalog that breaks them,
and the catalog of valid variants that make them unusual but still correct.

``serve_in_thread(Settings(...))`` runs either on a real loopback socket in a
background thread; ``python -m conformance.reference`` runs it as a process.
"""

from __future__ import annotations

from .faults import FAULTS, NO_FAULT, Fault, FaultOptions, UnknownFault, fault_names, get_fault
from .models import MODELS
from .serving import ServerHandle, build_app, serve_in_thread
from .settings import DEFAULT_TOKEN_DELAY, Settings
from .text import Completion, plan_completion
from .variants import VARIANTS, UnknownVariant, Variant, get_variant, variant_names

__all__ = [
    "DEFAULT_TOKEN_DELAY",
    "FAULTS",
    "MODELS",
    "NO_FAULT",
    "VARIANTS",
    "Completion",
    "Fault",
    "FaultOptions",
    "ServerHandle",
    "Settings",
    "UnknownFault",
    "UnknownVariant",
    "Variant",
    "build_app",
    "fault_names",
    "get_fault",
    "get_variant",
    "plan_completion",
    "serve_in_thread",
    "variant_names",
]
