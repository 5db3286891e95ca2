"""kratom_omics.get"""

from ._biomarkers import biomarkers
from ._differential import differential, differential_f
from ._panels import panel_tests

__all__: list[str] = []
__all__ += ["biomarkers"]
__all__ += ["differential", "differential_f"]
__all__ += ["panel_tests"]
