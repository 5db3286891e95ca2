"""Command line interface ``kratom-omics``."""

import sys

from ._app import app, main

__all__ = ["app", "main", "run"]


def run() -> None:  # pragma: no cover - console entry point
    sys.exit(main())
