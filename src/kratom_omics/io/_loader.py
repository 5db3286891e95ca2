"""The decorator every public reader wears: sample sheet, choices, errors.

``@loader`` on a reader ``read_x(path, *, <its options>)`` gives the public function
``read_x(path, samples=None, *, <its options>, phases=..., join=...)``:

- the sample sheet is joined once here, for every format, by
  :func:`kratom_omics.io.attach_samples` (names matched as given, then without paths and raw-file
  extensions, then in the form R's ``make.names`` gives them); ``samples``, ``phases`` and ``join``
  are added to the signature and documented in the docstring. A reader that needs the sheet while
  it reads (densitometry: the control phase; generic tables: which columns are samples) declares
  ``samples`` itself and the decorator leaves it alone;
- the choices the reader noted (:func:`kratom_omics.io._choices.note_choice`) are written into its
  provenance step (``parameters["choices"]``), with the sample sheet given;
- a :class:`~kratom_omics.io._choices.FormatMismatchError` gets what the file looks like instead
  (``The header looks like a FragPipe table: use format='fragpipe'``), and the errors that mean
  "this file is damaged" from the parsing libraries (``UnicodeDecodeError``, ``csv.Error``, pandas'
  ``ParserError``, damaged archives) become :class:`~kratom_omics.errors.InputFormatError` naming the
  file; every other error passes unchanged.

``@loader(sheet=False)`` is for readers that return no AnnData (``read_peaks``,
``featurecounts_to_zarr``).
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import lzma
import os
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from .._core import DEFAULT_PHASES, UNS_KEY
from ..errors import InputFormatError, KratomOmicsError
from ._anndata import attach_samples
from ._choices import FormatMismatchError, collecting, mismatch_hint

__all__ = ["loader"]

F = TypeVar("F", bound=Callable[..., Any])

_DAMAGED = (UnicodeDecodeError, csv.Error, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)

_SHEET_DOC = """    samples
        Sample sheet (path or DataFrame, see :func:`kratom_omics.io.read_samples`) joined onto
        ``.obs`` by sample name (see :func:`kratom_omics.io.attach_samples`).
"""
_JOIN_DOC = """    phases
        Phase levels of the sample sheet in order (see :func:`kratom_omics.io.read_samples`).
    join
        ``"exact"``: data and sample sheet list the same samples; ``"inner"``: keep the common ones.
"""


def _public_signature(inner: inspect.Signature) -> inspect.Signature:
    params = list(inner.parameters.values())
    kw = inspect.Parameter.KEYWORD_ONLY
    samples = inspect.Parameter(
        "samples",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=None,
        annotation="str | os.PathLike | pd.DataFrame | None",
    )
    tail = [
        inspect.Parameter("phases", kw, default=DEFAULT_PHASES, annotation="Sequence[str] | None"),
        inspect.Parameter("join", kw, default="exact", annotation='Literal["exact", "inner"]'),
    ]
    return inner.replace(parameters=[params[0], samples, *params[1:], *tail])


def _document(doc: str | None) -> str | None:
    """Insert the sample-sheet parameters after ``path`` and before ``Returns``."""
    if not doc or "    Parameters\n    ----------\n" not in doc:
        return doc
    lines = doc.splitlines(keepends=True)
    start = lines.index("    Parameters\n") + 2
    k = start + 1
    while k < len(lines) and lines[k].startswith("        "):
        k += 1  # the end of the `path` entry
    lines.insert(k, _SHEET_DOC)
    text = "".join(lines)
    at = text.find("\n\n    Returns\n    -------\n")
    if at < 0:
        return text
    return text[: at + 1] + _JOIN_DOC + text[at + 1 :]


def loader(func: F | None = None, *, sheet: bool = True) -> Any:
    """Decorate a public reader (see the module docstring)."""
    if func is None:
        return functools.partial(loader, sheet=sheet)
    inner = inspect.signature(func)
    adds = sheet and "samples" not in inner.parameters
    public = _public_signature(inner) if adds else inner

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        path = args[0] if args else kwargs.get("path")
        with collecting() as store:
            try:
                if adds:
                    bound = public.bind(*args, **kwargs)
                    bound.apply_defaults()
                    given = dict(bound.arguments)
                    samples, phases, join = (given.pop(k) for k in ("samples", "phases", "join"))
                    result = func(**given)
                    if samples is not None:
                        result = attach_samples(
                            result, samples, phases=phases, join=join, source=_source(result)
                        )
                    extra = {"samples": _described(samples)}
                else:
                    result = func(*args, **kwargs)
                    extra = {}
            except FormatMismatchError as exc:
                hint = mismatch_hint(path, exc.tool) if store is not None else ""
                if not hint:
                    raise
                raise FormatMismatchError(f"{exc}{hint}", tool=exc.tool) from None
            except KratomOmicsError:
                raise
            except _DAMAGED as exc:
                raise InputFormatError(_damaged_message(path, exc)) from None
            except Exception as exc:
                if type(exc).__name__ == "ParserError":  # pandas.errors.ParserError
                    raise InputFormatError(_damaged_message(path, exc)) from None
                raise
            if store is not None or extra:
                _record(result, {**extra, "choices": store} if store else extra)
            return result

    if adds:
        wrapper.__signature__ = public  # type: ignore[attr-defined]
        wrapper.__doc__ = _document(func.__doc__)
    return wrapper


def _described(samples: Any) -> Any:
    if samples is None or isinstance(samples, (str, os.PathLike)):
        return None if samples is None else str(samples)
    return f"<{type(samples).__name__} shape={getattr(samples, 'shape', '?')}>"


def _damaged_message(path: Any, exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{str(path)!r} could not be read ({type(exc).__name__}: {text}); check the file."


def _last_io_step(adata: Any) -> dict[str, Any] | None:
    uns = getattr(adata, "uns", None)
    steps = uns.get(UNS_KEY, {}).get("provenance", {}) if uns is not None else {}
    if not isinstance(steps, dict):
        return None
    for key in sorted(steps, reverse=True):
        if str(steps[key].get("function", "")).startswith("kratom_omics.io."):
            return steps[key]
    return None


def _source(adata: Any) -> str:
    step = _last_io_step(adata)
    return str(json.loads(step["parameters"]).get("source", "data")) if step else "data"


def _record(adata: Any, extra: dict[str, Any]) -> None:
    """Add ``extra`` (the sample sheet, the choices) to the reader's provenance step."""
    step = _last_io_step(adata)
    if step is None:
        return
    params = json.loads(step.get("parameters") or "{}")
    for key, value in extra.items():
        if key == "choices":
            params["choices"] = {**params.get("choices", {}), **value}
        else:
            params.setdefault(key, value)
    step["parameters"] = json.dumps(params, sort_keys=True, default=str)
