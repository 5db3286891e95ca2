"""Read tool outputs and sample sheets into AnnData (samples x features)."""

from ._alphapept import read_alphadia, read_alphapept
from ._anndata import attach_samples, normalize_run_name
from ._bigwig import bigwig_to_zarr, read_bigwig, track_files
from ._candidates import read_candidates
from ._counts import read_featurecounts, read_featurecounts_summary, read_peaks
from ._densitometry import read_densitometry
from ._diann import read_diann
from ._epiprofile import read_epiprofile
from ._fragpipe import read_fragpipe
from ._maxquant import read_maxquant
from ._mztab import read_mztab
from ._proteomics import PROTEOMICS_FORMATS, detect_proteomics_format, read_proteomics
from ._read import FORMATS, read
from ._regions import genome_bins, read_annotation, read_regions
from ._samples import read_samples
from ._sdrf import validate_sdrf
from ._spectronaut import read_spectronaut
from ._study import read_h5mu, read_study
from ._table import read_table
from ._zarr import featurecounts_to_zarr, read_zarr_lazy

__all__ = ["FORMATS", "attach_samples", "normalize_run_name", "read", "read_samples", "read_table"]
__all__ += ["read_densitometry", "read_epiprofile", "read_featurecounts", "read_peaks"]
__all__ += ["read_featurecounts_summary"]
__all__ += [
    "PROTEOMICS_FORMATS",
    "detect_proteomics_format",
    "read_alphadia",
    "read_alphapept",
    "read_diann",
    "read_fragpipe",
    "read_maxquant",
    "read_mztab",
    "read_proteomics",
    "read_spectronaut",
]
__all__ += ["read_candidates"]
__all__ += ["featurecounts_to_zarr", "read_zarr_lazy"]
__all__ += ["read_h5mu", "read_study", "validate_sdrf"]
__all__ += ["bigwig_to_zarr", "genome_bins", "read_annotation", "read_bigwig", "read_regions"]
__all__ += ["track_files"]
