from __future__ import annotations

import json
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError, KratomOmicsWarning

NAN = np.nan
# the large random matrices have a few features missing more than half their values by chance
pytestmark = pytest.mark.filterwarnings(
    "ignore:impute.*imputed:kratom_omics.errors.KratomOmicsWarning"
)


def _logged(x, *, phase=None) -> ad.AnnData:
    x = np.asarray(x, dtype=float)
    adata = ad.AnnData(x.copy())
    adata.layers["raw"] = np.exp2(x)
    adata.uns["kratom_omics"] = {"x_transform": "log2"}
    if phase is not None:
        adata.obs["phase"] = pd.Categorical(
            phase, categories=["control", "withdrawal"], ordered=True
        )
    return adata


def _big(seed: int = 0) -> tuple[ad.AnnData, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, p = 20, 2000
    x = rng.normal(25.0, 1.0, size=(n, p)) * rng.uniform(1.0, 2.0, size=(n, 1))
    x += rng.normal(0, 1, size=(n, 1))
    missing = rng.random((n, p)) < 0.2
    x[missing] = NAN
    return _logged(x), missing


def _params(adata: ad.AnnData) -> dict:
    steps = adata.uns["kratom_omics"]["provenance"]
    last = sorted(steps)[-1]
    assert steps[last]["function"] == "kratom_omics.pp.impute"
    return json.loads(steps[last]["parameters"])


def test_downshift_moments_per_sample():
    adata, missing = _big()
    x = adata.X.copy()
    raw = adata.layers["raw"].copy()
    kom.pp.impute(adata, method="downshift")
    mean = np.nanmean(x, axis=1)
    sd = np.nanstd(x, axis=1, ddof=1)
    z = (adata.X - mean[:, None]) / sd[:, None]  # imputed values in units of each sample's SD
    imputed_z = z[missing]
    assert imputed_z.size > 7000
    assert abs(imputed_z.mean() - (-1.8)) < 0.02
    assert abs(imputed_z.std() - 0.3) < 0.01
    for i in range(3):  # and sample by sample
        zi = z[i, missing[i]]
        assert abs(zi.mean() + 1.8) < 0.05
        assert abs(zi.std() - 0.3) < 0.03
    np.testing.assert_array_equal(adata.X[~missing], x[~missing])
    np.testing.assert_array_equal(adata.layers["imputed_mask"], missing)
    assert adata.layers["imputed_mask"].dtype == bool
    np.testing.assert_allclose(adata.var["imputed_fraction"], missing.mean(axis=0))
    np.testing.assert_array_equal(adata.layers["raw"], raw)
    assert _params(adata)["n_imputed"] == int(missing.sum())


def test_downshift_whole_matrix_and_custom_shift():
    adata, missing = _big(1)
    x = adata.X.copy()
    kom.pp.impute(adata, method="downshift", per="matrix", shift=2.5, width=0.5)
    values = adata.X[missing]
    m, s = np.nanmean(x), np.nanstd(x, ddof=1)
    assert abs(values.mean() - (m - 2.5 * s)) < 0.02 * s
    assert abs(values.std() - 0.5 * s) < 0.02 * s


def test_seed_reproduces_and_differs():
    adata, _ = _big(2)
    a = kom.pp.impute(adata, seed=7, copy=True)
    b = kom.pp.impute(adata, seed=7, copy=True)
    c = kom.pp.impute(adata, seed=8, copy=True)
    assert a is not None
    assert b is not None
    assert c is not None
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert np.isnan(adata.X).any()  # copy=True left the input alone
    assert "imputed_mask" not in adata.layers


def test_minprob_parameters_by_hand():
    adata, missing = _big(3)
    x = adata.X.copy()
    kom.pp.impute(adata, method="minprob", q=0.05)
    q = np.nanquantile(x, 0.05, axis=1)
    well = np.isfinite(x).mean(axis=0) > 0.5
    sigma = np.median(np.nanstd(x[:, well], axis=0, ddof=1))
    params = _params(adata)
    assert params["sigma"] == pytest.approx(sigma, rel=1e-12)
    resid = adata.X - q[:, None]
    assert abs(resid[missing].mean()) < 0.05 * sigma
    assert abs(resid[missing].std() - sigma) < 0.03 * sigma


def test_knn_on_features_by_hand():
    # features (columns) f1, f2 are close to f4; f3 is far away
    x = np.array(
        [
            [1.0, 1.1, 10.0, 1.05],
            [2.0, 2.1, 20.0, NAN],
            [3.0, 3.1, 30.0, 3.05],
            [4.0, 4.2, 40.0, 4.1],
        ]
    )
    adata = _logged(x)
    kom.pp.impute(adata, method="knn", n_neighbors=2)
    assert adata.X[1, 3] == pytest.approx((2.0 + 2.1) / 2)
    np.testing.assert_array_equal(adata.X[[0, 2, 3]], x[[0, 2, 3]])


def test_mixed_downshift_for_on_off_features_knn_for_the_rest():
    rng = np.random.default_rng(5)
    base = rng.normal(25, 2, size=(1, 60)) + rng.normal(0, 0.3, size=(8, 60))
    x = base.copy()
    x[4:, 0] = NAN  # feature 0 absent in the whole withdrawal group: on/off
    x[2, 1] = NAN  # feature 1 missing once: at random
    phase = ["control"] * 4 + ["withdrawal"] * 4
    adata = _logged(x, phase=phase)
    kom.pp.impute(adata, method="mixed", n_neighbors=3, seed=1)
    ds = kom.pp.impute(_logged(x, phase=phase), method="downshift", seed=1, copy=True)
    assert ds is not None
    np.testing.assert_array_equal(adata.X[4:, 0], ds.X[4:, 0])
    from sklearn.impute import KNNImputer

    knn = KNNImputer(n_neighbors=3).fit_transform(np.delete(x, 0, axis=1).T).T
    assert adata.X[2, 1] == pytest.approx(knn[2, 0])
    params = _params(adata)
    assert (params["n_features_downshift"], params["n_features_knn"]) == (1, 1)


def test_warning_when_most_values_of_a_feature_are_imputed():
    x = np.array(
        [
            [20.0, 21.0, 22.0, 23.0],
            [20.5, NAN, 22.5, 23.1],
            [20.2, NAN, 22.3, 23.3],
            [19.8, NAN, NAN, 22.9],
        ]
    )
    adata = _logged(x)
    adata.var_names = ["A", "B", "C", "D"]
    with pytest.warns(KratomOmicsWarning, match=r"1 feature\(s\) have more than 50% .*\['B'\]"):
        kom.pp.impute(adata)
    np.testing.assert_allclose(adata.var["imputed_fraction"], [0.0, 0.75, 0.25, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", KratomOmicsWarning)
        kom.pp.impute(_logged(x), warn_fraction=0.8)


def test_mask_accumulates_and_survives_h5ad(tmp_path):
    adata, missing = _big(4)
    kom.pp.impute(adata)
    kom.pp.impute(adata)  # nothing left to impute
    np.testing.assert_array_equal(adata.layers["imputed_mask"], missing)
    adata.write_h5ad(tmp_path / "i.h5ad")
    back = ad.read_h5ad(tmp_path / "i.h5ad")
    np.testing.assert_array_equal(back.layers["imputed_mask"], missing)
    assert back.layers["imputed_mask"].dtype == bool
    np.testing.assert_array_equal(back.X, adata.X)


def test_impute_histone_modality(histone):
    out = kom.pp.impute(histone, method="downshift", copy=True)
    assert out is not None
    assert not np.isnan(out.X).any()
    np.testing.assert_array_equal(out.layers["imputed_mask"], np.isnan(histone.X))


def test_impute_errors():
    adata = _logged([[1.0, NAN, 3.0], [2.0, 3.0, 5.0]])
    with pytest.raises(InputFormatError, match=r"method='knnn'.*Did you mean 'knn'"):
        kom.pp.impute(adata, method="knnn")  # type: ignore[arg-type]
    with pytest.raises(InputFormatError, match=r"n_neighbors=5 but there are only 3 features"):
        kom.pp.impute(adata, method="knn")
    with pytest.raises(InputFormatError, match=r"shift=-1 must lie in"):
        kom.pp.impute(adata, shift=-1)
    with pytest.raises(InputFormatError, match=r"seed=1.5 must be an integer"):
        kom.pp.impute(adata, seed=1.5)  # type: ignore[arg-type]
    lonely = _logged([[1.0, NAN, NAN], [2.0, 3.0, 5.0]])
    lonely.obs_names = ["S1", "S2"]
    with pytest.raises(DesignError, match=r"could not be imputed in sample\(s\) \['S1'\]"):
        kom.pp.impute(lonely)
    assert np.isnan(adata.X).sum() == 1


@pytest.mark.parametrize(("n_neighbors", "fraction"), [(5, 0.2), (3, 0.6)])
def test_knn_equals_scikit_learn_knnimputer_on_features(n_neighbors, fraction):
    from sklearn.impute import KNNImputer

    from kratom_omics.pp._impute import _knn

    rng = np.random.default_rng(11)
    x = rng.normal(20, 1, size=(10, 300)) + rng.normal(0, 2, size=(1, 300))
    x[rng.random(x.shape) < fraction] = NAN
    expected = KNNImputer(n_neighbors=n_neighbors).fit_transform(x.T).T
    np.testing.assert_allclose(_knn(x, n_neighbors), expected, rtol=1e-12)
    # small chunks give the same numbers
    np.testing.assert_allclose(_knn(x, n_neighbors, chunk_bytes=8 * 300 * 7), expected, rtol=1e-12)
