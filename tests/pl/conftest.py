"""Fixtures: simulated studies with results of ``kom.tl.differential`` (all pairs of phases)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

import kratom_omics as kom

PAIRS = ["use - control", "withdrawal - control", "withdrawal - use"]


@pytest.fixture(scope="session")
def _protein():
    a = kom.datasets.simulate("protein", seed=1, n_features=120)
    kom.tl.differential(a, "phase", PAIRS)
    return a


@pytest.fixture
def protein(_protein):
    return _protein.copy()


@pytest.fixture(scope="session")
def _histone():
    h = kom.datasets.simulate("histone", seed=2, timepoints=[1, 7], repeated=True)
    kom.tl.differential(h, "phase", PAIRS)
    return h


@pytest.fixture
def histone(_histone):
    return _histone.copy()
