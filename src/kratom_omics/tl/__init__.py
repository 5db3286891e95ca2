"""kratom_omics.tl: statistics (differential abundance, multiple testing)."""

from ._differential import differential
from ._multitest import adjust_pvalues

__all__: list[str] = ["adjust_pvalues", "differential"]
