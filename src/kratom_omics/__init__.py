"""kratom-omics: molecular markers of drug withdrawal in proteomics and histone-mark data.

Namespaces follow scanpy: ``io`` (read), ``pp`` (preprocess), ``tl`` (statistics), ``get`` (results as
tables), ``pl`` (plots), ``report`` (HTML report), ``datasets`` (simulated and example data) and ``errors``.
Submodules are imported on first use so that ``import kratom_omics`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets, get, io, pl, pp, report, tl

__all__ = ["__version__", "datasets", "errors", "get", "io", "pl", "pp", "report", "tl"]

_LAZY = frozenset({"datasets", "get", "io", "pl", "pp", "report", "tl"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'kratom_omics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
