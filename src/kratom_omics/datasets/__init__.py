"""Simulated studies with planted truth, and the example data set."""

from ._simulate import simulate

__all__ = ["simulate"]
