"""kratom_omics.get"""

from ._biomarkers import biomarkers
from ._cross import cross_modality
from ._differential import differential, differential_f
from ._panels import panel_tests

__all__: list[str] = []
__all__ += ["biomarkers", "cross_modality"]
__all__ += ["differential", "differential_f"]
__all__ += ["panel_tests"]
