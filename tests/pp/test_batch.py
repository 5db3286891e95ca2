from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError, KeyNotFoundError

NAN = np.nan


@pytest.fixture
def batch_data(data_dir) -> ad.AnnData:
    folder = data_dir / "preprocessing"
    x = pd.read_csv(folder / "batch_input.csv", index_col=0, na_values=["NA"])
    obs = pd.read_csv(folder / "batch_samples.csv", index_col=0)
    obs["phase"] = pd.Categorical(
        obs["phase"], categories=["control", "use", "withdrawal"], ordered=True
    )
    adata = ad.AnnData(x.T.to_numpy(), obs=obs.loc[list(x.columns)])
    adata.var_names = list(x.index)
    adata.layers["raw"] = np.exp2(adata.X)
    adata.uns["kratom_omics"] = {"x_transform": "log2"}
    return adata


def _limma(data_dir, name: str) -> np.ndarray:
    out = pd.read_csv(data_dir / "preprocessing" / f"batch_limma_{name}.csv", index_col=0)
    return out.T.to_numpy()


def test_regress_matches_limma_removeBatchEffect(batch_data, data_dir):
    adata = batch_data
    assert np.isnan(adata.X).sum() > 40
    raw = adata.layers["raw"].copy()
    kom.pp.remove_batch(adata, batch="batch", keep="phase")
    expected = _limma(data_dir, "batch")
    np.testing.assert_array_equal(np.isnan(adata.X), np.isnan(expected))
    np.testing.assert_allclose(adata.X, expected, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(adata.layers["raw"], raw)
    step = adata.uns["kratom_omics"]["provenance"]["step_000"]
    assert step["function"] == "kratom_omics.pp.remove_batch"
    assert json.loads(step["parameters"])["keep"] == ["phase"]


def test_regress_with_covariates_matches_limma(batch_data, data_dir):
    # sex is coded like a second batch, age (numeric) is centred
    out = kom.pp.remove_batch(batch_data, covariates=["sex", "age"], copy=True)
    assert out is not None
    np.testing.assert_allclose(out.X, _limma(data_dir, "all"), rtol=0, atol=1e-10)
    assert not np.allclose(np.nan_to_num(out.X), np.nan_to_num(batch_data.X))  # input unchanged


def test_regress_keeps_phase_effect_and_removes_batch():
    rng = np.random.default_rng(0)
    phase = np.repeat(["control", "withdrawal"], 6)
    batch = np.tile(["b1", "b2", "b3"], 4)
    effect = np.where(phase == "withdrawal", 1.0, 0.0)[:, None]
    shift = pd.Series({"b1": 0.0, "b2": 2.0, "b3": -1.0})[batch].to_numpy()[:, None]
    x = 20 + rng.normal(0, 0.1, size=(12, 50)) + effect + shift
    obs = pd.DataFrame({"phase": phase, "batch": batch}, index=[f"S{i}" for i in range(12)])
    adata = ad.AnnData(x, obs=obs)
    kom.pp.remove_batch(adata, key_added="corrected")
    np.testing.assert_array_equal(adata.X, x)  # key_added: X untouched
    y = adata.layers["corrected"]
    batch_means = [y[batch == b].mean() for b in ["b1", "b2", "b3"]]
    assert np.ptp(batch_means) < 0.05
    diff = y[phase == "withdrawal"].mean() - y[phase == "control"].mean()
    assert diff == pytest.approx(1.0, abs=0.05)
    # sum-to-zero batch effects on balanced batches: the overall level is kept exactly
    assert y.mean() == pytest.approx(x.mean(), abs=1e-10)


def test_combat_removes_batch_keeps_phase_and_refuses_nan(batch_data):
    import scanpy as sc

    rng = np.random.default_rng(1)
    phase = np.repeat(["control", "withdrawal"], 6)
    batch = np.tile(["b1", "b2", "b3"], 4)
    shift = rng.normal(0, 1, size=(3, 200))[
        pd.factorize(batch)[0]
    ]  # feature-specific batch effects
    x = 20 + rng.normal(0, 0.2, size=(12, 200)) + np.where(phase == "withdrawal", 1.0, 0.0)[:, None]
    x += shift
    obs = pd.DataFrame({"phase": phase, "batch": batch}, index=[f"S{i}" for i in range(12)])
    adata = ad.AnnData(x, obs=obs)
    out = kom.pp.remove_batch(adata, method="combat", copy=True)
    assert out is not None
    y = out.X
    spread = np.ptp([y[batch == b].mean(axis=0) for b in ["b1", "b2", "b3"]], axis=0)
    assert np.median(spread) < 0.15  # from about 1.7 before
    assert np.median(np.ptp([x[batch == b].mean(axis=0) for b in ["b1", "b2", "b3"]], axis=0)) > 1
    effect = y[phase == "withdrawal"].mean(axis=0) - y[phase == "control"].mean(axis=0)
    assert np.median(effect) == pytest.approx(1.0, abs=0.1)
    # the same numbers as scanpy's ComBat given the phase as a 0/1 column
    ref = ad.AnnData(x.copy(), obs=pd.DataFrame({"batch": pd.Categorical(batch)}, index=obs.index))
    ref.obs["w"] = (phase == "withdrawal").astype(float)
    expected = sc.pp.combat(ref, key="batch", covariates=["w"], inplace=False)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert adata.obs["batch"].dtype == object  # obs not rewritten by scanpy
    with pytest.raises(InputFormatError, match=r"has \d+ missing value\(s\) and ComBat"):
        kom.pp.remove_batch(batch_data, method="combat")


def test_remove_batch_errors(batch_data):
    adata = batch_data
    with pytest.raises(KeyNotFoundError, match=r"batch='bacth'.*Did you mean 'batch'"):
        kom.pp.remove_batch(adata, batch="bacth")
    with pytest.raises(DesignError, match="must name different columns"):
        kom.pp.remove_batch(adata, covariates=["batch"])
    with pytest.raises(DesignError, match="nothing to remove"):
        kom.pp.remove_batch(adata, batch=None)
    with pytest.raises(InputFormatError, match="key_added='raw' would overwrite"):
        kom.pp.remove_batch(adata, key_added="raw")
    holes = adata.copy()
    holes.obs["batch"] = holes.obs["batch"].astype(object)
    holes.obs.iloc[2, holes.obs.columns.get_loc("batch")] = None
    with pytest.raises(
        DesignError, match=r"\['batch'\] have missing values for sample\(s\) \['R03'\]"
    ):
        kom.pp.remove_batch(holes)
    single = adata[:, np.isfinite(adata.X).all(axis=0)].copy()
    single.obs["batch"] = ["b1"] * 11 + ["b9"]
    with pytest.raises(DesignError, match=r"\['b9'\].*single sample"):
        kom.pp.remove_batch(single, method="combat")


def test_confounded_batch(caplog):
    rng = np.random.default_rng(2)
    obs = pd.DataFrame(
        {"phase": np.repeat(["control", "withdrawal"], 4), "batch": np.repeat(["b1", "b2"], 4)},
        index=[f"S{i}" for i in range(8)],
    )
    x = rng.normal(20, 1, size=(8, 30))
    adata = ad.AnnData(x, obs=obs)
    with caplog.at_level("WARNING", logger="kratom_omics"):
        kom.pp.remove_batch(adata)
    assert "['batch'] is confounded with keep=['phase']" in caplog.text
    np.testing.assert_allclose(adata.X, x)  # nothing separable was removed
    with pytest.raises(DesignError, match=r"design of batch 'batch' with \['phase'\] is singular"):
        kom.pp.remove_batch(adata, method="combat")
