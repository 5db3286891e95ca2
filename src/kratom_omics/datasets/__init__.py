"""Simulated studies with planted truth, and the example data set."""

from ._example import write_example_data
from ._simulate import simulate
from ._writers import write_maxquant, write_samples

__all__ = ["simulate", "write_example_data", "write_maxquant", "write_samples"]
