"""Inputs that used to crash the statistics end in a result or a one-line KratomOmicsError."""

from __future__ import annotations

import time

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError


@pytest.fixture(scope="module")
def small():
    return kom.datasets.simulate("protein", seed=1, n_features=30, n_per_phase=3)


def test_robust_prior_with_every_feature_constant(small):
    """Every residual variance equal (zero): R's fitFDistRobustly takes log(0) = -Inf and an
    infinite prior df; so does the engine, instead of a math domain error."""
    a = small.copy()
    a.X = np.full(a.shape, 5.0)
    kom.tl.differential(a, "phase", robust=True)
    assert np.isinf(a.uns["differential"]["prior"]["df_prior"]).all()  # robust: per feature
    table = kom.get.differential(a)
    assert len(table) == 2 * a.n_vars  # default contrasts: each phase against the first
    np.testing.assert_allclose(table["log2fc"].to_numpy(), 0.0, atol=1e-12)


def test_block_with_one_level_is_refused(small):
    a = small.copy()
    a.obs["cage"] = "c1"
    with pytest.raises(DesignError, match=r"block='cage' has 1 level\(s\) \['c1'\]"):
        kom.tl.differential(a, "phase", block="cage")


def test_unknown_scheduler_protocol_fails_at_once(small):
    pytest.importorskip("distributed")
    a = small.copy()
    start = time.monotonic()
    with pytest.raises(DesignError, match=r"scheduler='bogus://x' is not a dask scheduler address"):
        kom.tl.differential(a, "phase", scheduler="bogus://x")
    assert time.monotonic() - start < 5


def test_candidate_list_without_rows_or_a_directory(small, tmp_path):
    a = small.copy()
    kom.tl.differential(a, "phase")
    header = tmp_path / "c.tsv"
    header.write_text("candidate\tmodality\tcontrast\tdirection\tevidence\n")
    with pytest.raises(InputFormatError, match="has a header but no candidate"):
        kom.tl.flag_biomarkers(a, candidates=header, n_boot=0)
    with pytest.raises(InputFormatError, match="is a directory; pass the path of a candidates"):
        kom.tl.flag_biomarkers(a, candidates=tmp_path, n_boot=0)
    assert "biomarkers" not in a.uns
