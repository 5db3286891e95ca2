"""MaxLFQ of precursor quantities and FASTA identifiers reduced to accessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kratom_omics.io import _precursors
from kratom_omics.io._precursors import accessions, maxlfq


def test_maxlfq_two_runs_by_hand():
    """diann_maxlfq's documented example: run A 20, 10, 5; run B 25, 12, missing."""
    values = np.array([[20.0, 25.0], [10.0, 12.0], [5.0, np.nan]])
    out = np.log(maxlfq(values, np.zeros(3, dtype=int), 1))[0]
    # pairwise median of log(A/B) over the two shared precursors; a tie of weight 1e-4 (one pair
    # per run) pulls each run towards its most intense precursor (log 20, log 25)
    med = 0.5 * (np.log(20 / 25) + np.log(10 / 12))
    ref_a, ref_b, reg = np.log(20.0), np.log(25.0), 1e-4
    total = ref_a + ref_b  # (1+reg) xA - xB = med + reg ref_a ; -xA + (1+reg) xB = -med + reg ref_b
    diff = (2 * med + reg * (ref_a - ref_b)) / (2 + reg)
    np.testing.assert_allclose(out, [(total + diff) / 2, (total - diff) / 2], rtol=1e-10)


def test_maxlfq_single_precursor_single_run_and_unseen_runs():
    values = np.array(
        [
            [100.0, np.nan, 300.0],  # group 0: one precursor -> its values
            [np.nan, 50.0, np.nan],  # group 1: one run only -> its most intense precursor
            [np.nan, 80.0, np.nan],
            [0.0, np.nan, np.nan],  # group 2: a zero is missing -> nothing seen
        ]
    )
    out = maxlfq(values, np.array([0, 1, 1, 2]), 3)
    np.testing.assert_array_equal(out[0], [100.0, np.nan, 300.0])
    assert out[1, 1] == pytest.approx(80.0, rel=1e-12)
    assert np.isnan(out[1, [0, 2]]).all()
    assert np.isnan(out[2]).all()


def test_maxlfq_recovers_proportional_profiles_and_disconnected_runs():
    # precursors proportional to one protein profile: MaxLFQ gives the profile exactly (up to a
    # common factor); runs 2 and 3 share no precursor with runs 0 and 1
    profile = np.array([1.0, 2.0, 4.0, 8.0])
    factors = np.array([10.0, 3.0, 7.0])
    values = factors[:, None] * profile[None, :]
    values[0, 2:] = np.nan
    values[1, 2:] = np.nan
    values[2, :2] = np.nan
    out = maxlfq(values, np.zeros(3, dtype=int), 1)[0]
    assert out[1] / out[0] == pytest.approx(2.0, rel=1e-9)
    assert out[3] / out[2] == pytest.approx(2.0, rel=1e-9)
    # a component without shared precursors is anchored at its most intense precursor
    assert out[2] == pytest.approx(7.0 * 4.0, rel=1e-3)


def test_maxlfq_blocks_and_run_by_run_path_agree(monkeypatch):
    rng = np.random.default_rng(4)
    values = np.exp(rng.normal(10, 2, (80, 6)))
    values[rng.random(values.shape) < 0.3] = np.nan
    groups = rng.integers(0, 15, 80)
    blocked = maxlfq(values, groups, 15)
    monkeypatch.setattr(_precursors, "_CHUNK_CELLS", 1)  # one run against the others at a time
    np.testing.assert_allclose(maxlfq(values, groups, 15), blocked, rtol=1e-12)
    assert np.isnan(blocked).sum() == np.isnan(maxlfq(values, groups, 15)).sum()


def test_accessions():
    ids = pd.Series(
        [
            "1/sp|O75475|PSIP1_HUMAN",
            "2/sp|P0CX49|RL18A_YEAST/sp|P0CX50|RL18B_YEAST",
            "sp|Q5U316|RAB35_RAT;tr|F1LQ99|F1LQ99_RAT",
            "Q5U316;Q6NYB7",
            "CON__P02769",
            None,
        ]
    )
    assert accessions(ids).tolist()[:5] == [
        "O75475",
        "P0CX49;P0CX50",
        "Q5U316;F1LQ99",
        "Q5U316;Q6NYB7",
        "CON__P02769",
    ]
    assert pd.isna(accessions(ids).iloc[5])
