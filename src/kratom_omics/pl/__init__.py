"""Plots of QC, differential results, phase trajectories and histone data (Agg-safe)."""

from ._cross import protein_vs_mark
from ._histone import histone_composition, mark_heatmap, western
from ._qc import correlation, cv, detected, intensity_distributions, missingness, pca
from ._results import ma, pvalue_histogram, top_heatmap, volcano
from ._style import phase_colors
from ._trajectories import trajectories

__all__ = [
    "correlation",
    "cv",
    "detected",
    "histone_composition",
    "intensity_distributions",
    "ma",
    "mark_heatmap",
    "missingness",
    "pca",
    "phase_colors",
    "protein_vs_mark",
    "pvalue_histogram",
    "top_heatmap",
    "trajectories",
    "volcano",
    "western",
]
