"""Read tool outputs and sample sheets into AnnData (samples x features)."""

from ._anndata import attach_samples, normalize_run_name
from ._epiprofile import read_epiprofile
from ._samples import read_samples
from ._table import read_table

__all__ = ["attach_samples", "normalize_run_name", "read_samples", "read_table"]
__all__ += ["read_epiprofile"]
