"""kratom_omics.tl: statistics (differential abundance, multiple testing)."""

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

__all__: list[str] = ["adjust_pvalues", "differential"]
__all__ += ["cross_modality", "flag_biomarkers", "marker_auc", "panel_cv"]
__all__ += ["panel_tests", "permutation_fdr", "power"]
__all__ += ["duplicate_correlation", "timecourse"]
