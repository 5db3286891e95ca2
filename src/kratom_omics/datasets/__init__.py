"""Simulated studies with planted truth, and the example data set."""

from ._example import EXAMPLE_FILES, write_example_data
from ._simulate import simulate
from ._writers import write_diann, write_maxquant, write_samples
from ._writers_histone import write_densitometry, write_epiprofile, write_featurecounts
from ._writers_quirks import resave

__all__ = [
    "EXAMPLE_FILES",
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
