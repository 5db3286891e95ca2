"""Errors and warnings raised by kratom-omics.

Every error a user can cause is a :class:`KratomOmicsError`. Each subclass also inherits the built-in
exception that fits it (``ValueError``, ``KeyError``, ``ImportError``, ...), so code that already catches
the built-in keeps working. Messages say what was received, what was expected and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "DesignError",
    "DownloadError",
    "InputFormatError",
    "KeyNotFoundError",
    "KratomOmicsError",
    "KratomOmicsWarning",
    "MissingDependencyError",
    "ResultNotFoundError",
    "SampleMismatchError",
    "SampleSheetError",
    "did_you_mean",
]


class KratomOmicsError(Exception):
    """Base class of every error a user of kratom-omics can cause.

    The message speaks Python (``kom.tl.differential(adata, key_added='x')``); where the fix reads
    otherwise on the command line, ``cli=`` gives the same message in command-line words
    (``kratom-omics differential IN OUT --key-added x``), which the ``kratom-omics`` command prints
    instead.
    """

    def __init__(self, *args: object, cli: str | None = None) -> None:
        super().__init__(*args)
        self.cli = cli

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class InputFormatError(KratomOmicsError, ValueError):
    """A file or table is not in the expected format (missing column, bad value, wrong tool)."""


class SampleSheetError(InputFormatError):
    """The sample sheet is invalid (duplicated samples, unknown phase, ...)."""


class SampleMismatchError(KratomOmicsError, ValueError):
    """The samples of a data file and of the sample sheet do not match."""


class KeyNotFoundError(KratomOmicsError, KeyError):
    """A column, layer or key named by the user does not exist."""


class ResultNotFoundError(KeyNotFoundError):
    """A result (e.g. of :func:`kratom_omics.tl.differential`) was asked for but is not stored."""


class DesignError(KratomOmicsError, ValueError):
    """A design, contrast or statistical request that cannot be estimated."""


class DownloadError(KratomOmicsError, OSError):
    """A download failed: repository unreachable, transfer cut off, checksum mismatch."""


class MissingDependencyError(KratomOmicsError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class KratomOmicsWarning(UserWarning):
    """A result may be unreliable (e.g. many imputed values); the message says why."""


def did_you_mean(value: str, choices: Iterable[str], *, what: str = "value") -> str:
    """Return ``"<what> 'x' ... Did you mean 'y'? Available: [...]"`` text for an unknown name."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = sorted(choices)
    listed = repr(shown[:30]) + (f" (and {len(shown) - 30} more)" if len(shown) > 30 else "")
    return f"{what}={value!r} is not available.{hint} Available: {listed}"
