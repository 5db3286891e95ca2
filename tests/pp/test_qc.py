from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import KeyNotFoundError
from kratom_omics.pp._qc import cv_from_log2

NAN = np.nan


def _data() -> ad.AnnData:
    x = np.array(
        [
            [10.0, 20.0, NAN],
            [11.0, 22.0, 5.0],
            [12.0, NAN, NAN],
            [14.0, 21.0, 6.0],
        ]
    )
    obs = pd.DataFrame(
        {"phase": pd.Categorical(["control", "control", "withdrawal", "withdrawal"])},
        index=["S1", "S2", "S3", "S4"],
    )
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=["A", "B", "C"]))
    adata.layers["raw"] = np.exp2(x)
    adata.uns["kratom_omics"] = {"x_transform": "log2"}
    return adata


def test_cv_from_log2_formula():
    s = np.array([0.0, 0.1, 0.5, 1.0])
    np.testing.assert_allclose(cv_from_log2(s), np.sqrt(2.0 ** (np.log(2) * s**2) - 1.0))
    assert cv_from_log2(np.array([0.01]))[0] == pytest.approx(np.log(2) * 0.01, rel=1e-4)
    # agrees with sd/mean of a large log-normal sample
    rng = np.random.default_rng(0)
    linear = np.exp2(rng.normal(20, 0.4, size=400_000))
    assert cv_from_log2(np.array([0.4]))[0] == pytest.approx(linear.std() / linear.mean(), rel=0.01)


def test_qc_metrics_by_hand():
    adata = _data()
    kom.pp.qc_metrics(adata)
    np.testing.assert_array_equal(adata.obs["n_detected"], [2, 3, 1, 3])
    np.testing.assert_allclose(adata.obs["missing_fraction"], [1 / 3, 0.0, 2 / 3, 0.0])
    np.testing.assert_allclose(adata.obs["median_intensity"], [15.0, 11.0, 12.0, 14.0])
    np.testing.assert_allclose(adata.var["valid_fraction"], [1.0, 0.75, 0.5])
    np.testing.assert_allclose(adata.var["mean_intensity"], [11.75, 21.0, 5.5])
    np.testing.assert_allclose(adata.var["valid_fraction_control"], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(adata.var["valid_fraction_withdrawal"], [1.0, 0.5, 0.5])
    sd_a_control = np.std([10.0, 11.0], ddof=1)
    sd_b_control = np.std([20.0, 22.0], ddof=1)
    np.testing.assert_allclose(
        adata.var["cv_control"], [cv_from_log2(sd_a_control), cv_from_log2(sd_b_control), NAN]
    )
    np.testing.assert_allclose(
        adata.var["cv_withdrawal"], [cv_from_log2(np.std([12.0, 14.0], ddof=1)), NAN, NAN]
    )
    assert adata.uns["kratom_omics"]["provenance"]["step_000"]["function"] == (
        "kratom_omics.pp.qc_metrics"
    )


def test_qc_metrics_on_raw_layer_uses_linear_cv():
    adata = _data()
    out = kom.pp.qc_metrics(adata, layer="raw", groupby=None, copy=True)
    assert out is not None
    lin = np.array([2.0**10, 2.0**11])
    assert "cv_control" not in out.var  # groupby=None: no group columns
    np.testing.assert_allclose(
        out.obs["median_intensity"], [(2.0**10 + 2.0**20) / 2, 2.0**11, 2.0**12, 2.0**14]
    )
    with_groups = kom.pp.qc_metrics(adata, layer="raw", copy=True)
    assert with_groups is not None
    assert with_groups.var["cv_control"].iloc[0] == pytest.approx(lin.std(ddof=1) / lin.mean())
    assert "n_detected" not in adata.obs  # copy=True left the input alone


def test_qc_metrics_both_modalities_and_h5ad(protein, histone, tmp_path):
    for data in (protein, histone):
        adata = data.copy()
        kom.pp.qc_metrics(adata)  # simulated X is log2 (judged from the values)
        x = data.X
        np.testing.assert_array_equal(adata.obs["n_detected"], np.isfinite(x).sum(axis=1))
        for phase in ("control", "use", "withdrawal"):
            rows = (data.obs["phase"] == phase).to_numpy()
            with warnings.catch_warnings():  # features with < 2 values: NaN SD
                warnings.simplefilter("ignore", RuntimeWarning)
                sd = np.nanstd(x[rows], axis=0, ddof=1)
            n = np.isfinite(x[rows]).sum(axis=0)
            expected = np.where(n >= 2, cv_from_log2(sd), NAN)
            np.testing.assert_allclose(adata.var[f"cv_{phase}"], expected)
        adata.write_h5ad(tmp_path / "qc.h5ad")
        back = ad.read_h5ad(tmp_path / "qc.h5ad")
        pd.testing.assert_frame_equal(back.var, adata.var)
        pd.testing.assert_frame_equal(back.obs, adata.obs)


def test_qc_metrics_errors():
    with pytest.raises(KeyNotFoundError, match=r"groupby='phse'.*Did you mean 'phase'"):
        kom.pp.qc_metrics(_data(), groupby="phse")
    with pytest.raises(KeyNotFoundError, match=r"layer='counts' is not a layer"):
        kom.pp.qc_metrics(_data(), layer="counts")
