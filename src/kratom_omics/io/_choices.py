"""What a loader chose, logged and kept in provenance.

Where a reader decides something the user did not say (the quantity, the sheet, a fallback column,
the encoding, the delimiter, rows read with missing values) it calls :func:`note_choice` once::

    note_choice("quantity", "lfq", source=source, why="LFQ columns present")

The choice is logged (INFO unless ``level`` says otherwise) and collected while the public reader
runs; :func:`kratom_omics.io._loader.loader`, the decorator every public reader wears, writes the
collected choices into the reader's provenance step (``parameters["choices"]``, see
:func:`kratom_omics.get.provenance`). Nested readers (``read`` -> ``read_proteomics`` ->
``read_maxquant``) share one collection.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import InputFormatError

__all__ = [
    "FormatMismatchError",
    "choices_so_far",
    "collecting",
    "mismatch_hint",
    "note_choice",
    "set_mismatch_hint",
]

logger = logging.getLogger("kratom_omics")


class FormatMismatchError(InputFormatError):
    """The file is not in the format the reader expects; ``tool`` names the expected one.

    The outermost reader call adds what the file looks like (see :func:`set_mismatch_hint`).
    """

    def __init__(self, message: str, *, tool: str = "") -> None:
        super().__init__(message)
        self.tool = tool


_HINT: list[Callable[[Any, str], str]] = []


def set_mismatch_hint(hint: Callable[[Any, str], str]) -> None:
    """Install the function that says what a mismatched file looks like (the registry's
    detection; installed by :mod:`kratom_omics.io._registry`, which this module cannot import)."""
    _HINT[:] = [hint]


_CHOICES: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "kratom_omics_io_choices", default=None
)


def note_choice(
    key: str, value: Any, *, source: str, why: str = "", level: int = logging.INFO
) -> None:
    """Log a choice a loader made and keep it for the provenance of the object being read.

    Parameters
    ----------
    key
        What was chosen (``"quantity"``, ``"encoding"``, ``"sheet"``, ``"delimiter"``, ...).
    value
        The choice (JSON-serialisable: text, number, list).
    source
        The file, as messages name it.
    why
        One clause saying why (``"LFQ columns present"``), logged and stored beside the value.
    level
        Logging level (``logging.WARNING`` for a fallback the user should know about).

    Returns
    -------
    None. Outside a reader call the choice is only logged.
    """
    logger.log(level, "%s: %s %r%s", source, key, value, f" ({why})" if why else "")
    store = _CHOICES.get()
    if store is not None:
        store[key] = {"value": value, "why": why} if why else value


def choices_so_far() -> dict[str, Any]:
    """The choices noted so far in the current reader call (empty outside one)."""
    return dict(_CHOICES.get() or {})


@contextlib.contextmanager
def collecting() -> Iterator[dict[str, Any] | None]:
    """Collect the choices noted inside the block; yields the store when this block is the
    outermost collection (nested readers share their caller's), else ``None``."""
    if _CHOICES.get() is not None:
        yield None
        return
    store: dict[str, Any] = {}
    token = _CHOICES.set(store)
    try:
        yield store
    finally:
        _CHOICES.reset(token)


def mismatch_hint(path: Any, tool: str) -> str:
    """What a file a reader refused looks like (empty when no hint is installed or found)."""
    return _HINT[0](path, tool) if _HINT else ""
