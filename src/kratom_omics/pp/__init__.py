"""kratom_omics.pp"""

from ._batch import remove_batch
from ._counts import calc_norm_factors, log_cpm, voom
from ._filter import filter_valid, remove_flagged
from ._histone import filter_histone, histone_sites, histone_transform, merge_histone_forms
from ._impute import impute
from ._normalize import normalize
from ._qc import qc_metrics
from ._recipe import recipe
from ._tracks import normalize_tracks
from ._transform import log2

__all__: list[str] = []
__all__ += [
    "filter_valid",
    "impute",
    "log2",
    "normalize",
    "qc_metrics",
    "recipe",
    "remove_batch",
    "remove_flagged",
]
__all__ += ["calc_norm_factors", "log_cpm", "voom"]
__all__ += ["filter_histone", "histone_sites", "histone_transform", "merge_histone_forms"]
__all__ += ["normalize_tracks"]
