"""What a loader chose, logged and kept in provenance.

Where a reader decides something the user did not say (the quantity, the sheet, a fallback column,
the encoding, the delimiter, rows read with missing values) it calls :func:`note_choice` once::

    note_choice("quantity", "lfq", source=source, why="LFQ columns present")

The choice is logged (INFO unless ``level`` says otherwise) and collected while the public reader
runs; :func:`loader`, the decorator every public reader wears, writes the collected choices into
the reader's provenance step (``parameters["choices"]``, see
:func:`kratom_omics.get.provenance`). Nested readers (``read`` -> ``read_proteomics`` ->
``read_maxquant``) share one collection.

:func:`loader` also turns the errors that mean "this file is damaged" and that come from the
parsing libraries (``UnicodeDecodeError``, ``csv.Error``, pandas' ``ParserError``, damaged archives)
into :class:`~kratom_omics.errors.InputFormatError` naming the file; every other error passes
unchanged.
"""

from __future__ import annotations

import contextvars
import csv
import functools
import json
import logging
import lzma
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from .._core import UNS_KEY
from ..errors import InputFormatError, KratomOmicsError

__all__ = ["FormatMismatchError", "choices_so_far", "loader", "note_choice", "set_mismatch_hint"]

logger = logging.getLogger("kratom_omics")

F = TypeVar("F", bound=Callable[..., Any])


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


_DAMAGED = (UnicodeDecodeError, csv.Error, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


def loader(func: F) -> F:
    """Decorate a public reader: collect its choices into provenance, name the file in parser
    errors (see the module docstring)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = _CHOICES.get() is None
        token = _CHOICES.set({}) if outer else None
        try:
            result = func(*args, **kwargs)
            if outer:
                _attach(result, _CHOICES.get() or {})
            return result
        except FormatMismatchError as exc:
            if not outer or not _HINT:
                raise
            hint = _HINT[0](args[0] if args else kwargs.get("path"), exc.tool)
            if not hint:
                raise
            raise FormatMismatchError(f"{exc}{hint}", tool=exc.tool) from None
        except KratomOmicsError:
            raise
        except _DAMAGED as exc:
            raise InputFormatError(_damaged_message(args, kwargs, exc)) from None
        except Exception as exc:
            if type(exc).__name__ == "ParserError":  # pandas.errors.ParserError
                raise InputFormatError(_damaged_message(args, kwargs, exc)) from None
            raise
        finally:
            if token is not None:
                _CHOICES.reset(token)

    return wrapper  # type: ignore[return-value]


def _damaged_message(args: tuple, kwargs: dict, exc: BaseException) -> str:
    path = args[0] if args else kwargs.get("path", "input")
    text = " ".join(str(exc).split())[:300]
    return f"{str(path)!r} could not be read ({type(exc).__name__}: {text}); check the file."


def _attach(adata: Any, choices: dict[str, Any]) -> None:
    """Add ``choices`` to the last provenance step a reader of this package wrote."""
    uns = getattr(adata, "uns", None)
    if not choices or uns is None:
        return
    steps = uns.get(UNS_KEY, {}).get("provenance", {})
    if not isinstance(steps, dict):
        return
    for key in sorted(steps, reverse=True):
        step = steps[key]
        if str(step.get("function", "")).startswith("kratom_omics.io."):
            params = json.loads(step.get("parameters") or "{}")
            params["choices"] = {**params.get("choices", {}), **_jsonable(choices)}
            step["parameters"] = json.dumps(params, sort_keys=True)
            return


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
