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


@pytest.fixture(scope="session")
def _tracks():
    """H3K9ac at the promoters of the genes of the protein fixture (same seed and genes)."""
    t = kom.datasets.simulate("tracks", seed=1, n_features=120)
    kom.tl.differential(t, "phase", PAIRS)
    return t


@pytest.fixture
def tracks(_tracks):
    return _tracks.copy()
