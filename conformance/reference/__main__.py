"""Entry point of ``python -m conformance.reference``."""

from .cli import main

raise SystemExit(main())
