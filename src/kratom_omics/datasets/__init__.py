"""Simulated studies with planted truth, the example data set, and public datasets by accession."""

from ._example import EXAMPLE_FILES, write_example_data
from ._fetch import fetch, remote_files
from ._simulate import simulate, simulate_tracks
from ._tracks import write_tracks
from ._writers import write_diann, write_maxquant, write_samples
from ._writers_histone import (
    write_densitometry,
    write_epiprofile,
    write_featurecounts,
    write_peaks,
)
from ._writers_isobaric import write_maxquant_tmt, write_mztab
from ._writers_proteomics import (
    write_alphadia,
    write_diann_precursors,
    write_fragpipe,
    write_spectronaut,
)
from ._writers_quirks import resave

__all__ = [
    "EXAMPLE_FILES",
    "fetch",
    "remote_files",
    "resave",
    "simulate",
    "write_densitometry",
    "write_diann",
    "write_epiprofile",
    "write_example_data",
    "write_featurecounts",
    "write_maxquant",
    "write_samples",
]
__all__ += ["simulate_tracks", "write_tracks"]
__all__ += ["write_peaks"]
__all__ += ["write_maxquant_tmt", "write_mztab"]
__all__ += ["write_alphadia", "write_diann_precursors", "write_fragpipe", "write_spectronaut"]
