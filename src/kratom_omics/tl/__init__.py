"""kratom_omics.tl: statistics (differential abundance, multiple testing).

Each function's module is imported on first use, so that a command needing one of them (e.g.
``flag_biomarkers``) does not load the others (the limma engine, time courses, panels).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ._biomarkers import flag_biomarkers
    from ._cross import cross_modality
    from ._differential import differential
    from ._dupcor import duplicate_correlation
    from ._multitest import adjust_pvalues
    from ._panels import panel_tests
    from ._performance import marker_auc, panel_cv
    from ._permutation import permutation_fdr
    from ._power import power
    from ._timecourse import timecourse

_MODULES: dict[str, str] = {
    "adjust_pvalues": "._multitest",
    "cross_modality": "._cross",
    "differential": "._differential",
    "duplicate_correlation": "._dupcor",
    "flag_biomarkers": "._biomarkers",
    "marker_auc": "._performance",
    "panel_cv": "._performance",
    "panel_tests": "._panels",
    "permutation_fdr": "._permutation",
    "power": "._power",
    "timecourse": "._timecourse",
}

__all__: list[str] = ["adjust_pvalues", "differential"]
__all__ += ["cross_modality", "flag_biomarkers", "marker_auc", "panel_cv"]
__all__ += ["panel_tests", "permutation_fdr", "power"]
__all__ += ["duplicate_correlation", "timecourse"]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = getattr(importlib.import_module(_MODULES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kratom_omics.tl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
