from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError, KeyNotFoundError
from kratom_omics.pp._normalize import normalize_quantiles

NAN = np.nan


def _read_matrix(path) -> pd.DataFrame:
    return pd.read_csv(path, index_col=0, na_values=["NA"])


def _logged(x, *, obs_names=None, var_names=None, var=None) -> ad.AnnData:
    x = np.asarray(x, dtype=float)
    adata = ad.AnnData(x.copy(), var=var)
    if obs_names is not None:
        adata.obs_names = obs_names
    if var_names is not None:
        adata.var_names = var_names
    adata.layers["raw"] = np.exp2(x)
    adata.uns["kratom_omics"] = {"x_transform": "log2"}
    return adata


def test_quantile_matches_limma_normalizeQuantiles(data_dir):
    x_in = _read_matrix(data_dir / "preprocessing" / "quantile_input.csv")
    expected = _read_matrix(data_dir / "preprocessing" / "quantile_limma.csv")
    assert x_in.isna().sum().tolist() == [8, 3, 2, 3, 6, 9]  # NaN in every sample
    assert x_in["S2"].duplicated().sum() >= 2  # ties
    result = normalize_quantiles(x_in.to_numpy())
    np.testing.assert_array_equal(np.isnan(result), expected.isna().to_numpy())
    np.testing.assert_allclose(result, expected.to_numpy(), rtol=0, atol=1e-12)

    # the same through kom.pp.normalize on a samples x features AnnData
    adata = _logged(x_in.T.to_numpy(), obs_names=list(x_in.columns), var_names=list(x_in.index))
    raw = adata.layers["raw"].copy()
    kom.pp.normalize(adata, method="quantile")
    np.testing.assert_allclose(adata.X, expected.T.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(adata.layers["raw"], raw)
    assert "norm_offset" not in adata.obs


def test_quantile_complete_samples_share_one_distribution_on_the_input_scale():
    rng = np.random.default_rng(3)
    x = rng.normal(25, 2, size=(5, 300)) + np.arange(5)[:, None]
    adata = _logged(x)
    kom.pp.normalize(adata, method="quantile")
    sorted_rows = np.sort(adata.X, axis=1)
    np.testing.assert_allclose(sorted_rows, np.broadcast_to(sorted_rows[0], sorted_rows.shape))
    np.testing.assert_allclose(sorted_rows[0], np.sort(x, axis=1).mean(axis=0))  # scale kept
    # the order within each sample is unchanged
    np.testing.assert_array_equal(np.argsort(adata.X, axis=1), np.argsort(x, axis=1))


def test_median_centring_by_hand():
    adata = _logged([[1.0, 2.0, 3.0, NAN], [2.0, 4.0, 6.0, 8.0]])
    kom.pp.normalize(adata)  # medians 2 and 5, target median 3.5
    np.testing.assert_allclose(adata.X, [[2.5, 3.5, 4.5, NAN], [0.5, 2.5, 4.5, 6.5]])
    np.testing.assert_allclose(adata.obs["norm_offset"], [-1.5, 1.5])
    step = adata.uns["kratom_omics"]["provenance"]["step_000"]
    assert step["function"] == "kratom_omics.pp.normalize"
    params = json.loads(step["parameters"])
    assert params["method"] == "median"
    assert params["target_median"] == 3.5


def test_median_on_linear_values_divides():
    adata = ad.AnnData(np.array([[2.0, 4.0, 8.0], [4.0, 8.0, 16.0]]))
    kom.pp.normalize(adata, scale="linear")  # log2 medians 2 and 3, target 2.5
    np.testing.assert_allclose(adata.X, np.full((2, 3), 2.0**1.5) * [1.0, 2.0, 4.0])
    np.testing.assert_allclose(adata.obs["norm_offset"], [-0.5, 0.5])


def test_reference_sample():
    x = [[10.0, 11.0, 12.0, 13.0], [11.0, 12.0, NAN, 14.5], [9.0, 9.0, 10.0, 11.0]]
    adata = _logged(x, obs_names=["pool", "A", "B"])
    kom.pp.normalize(adata, method="reference_sample", reference="pool")
    # A - pool = [1, 1, ., 1.5] -> median 1; B - pool = [-1, -2, -2, -2] -> median -2
    np.testing.assert_allclose(adata.obs["norm_offset"], [0.0, 1.0, -2.0])
    np.testing.assert_allclose(adata.X[1], [10.0, 11.0, NAN, 13.5])
    np.testing.assert_allclose(adata.X[2], [11.0, 11.0, 12.0, 13.0])

    two = _logged(x, obs_names=["pool", "A", "B"])
    kom.pp.normalize(two, method="reference_sample", reference=["pool", "B"])
    # profile = mean(pool, B) = [9.5, 10, 11, 12]
    np.testing.assert_allclose(two.obs["norm_offset"], [1.0, 2.0, -1.0])


def test_reference_feature_by_name_and_gene():
    x = np.array([[10.0, 5.0, 20.0], [11.0, 6.0, 21.5], [NAN, 7.0, 21.0]])
    var = pd.DataFrame({"gene": ["Actb", "Gapdh", "Rab35"]}, index=["P1", "P2", "P3"])
    adata = _logged(x, var=var)
    kom.pp.normalize(adata, method="reference_feature", reference=["P1", "Gapdh"])
    # centred: P1 [-0.5, 0.5, nan], P2 [-1, 0, 1] -> offsets [-0.75, 0.25, 1]
    np.testing.assert_allclose(adata.obs["norm_offset"], [-0.75, 0.25, 1.0])
    np.testing.assert_allclose(adata.X[:, 2], [20.75, 21.25, 20.0])

    h3 = _logged(np.array([[20.0, 15.0], [21.0, 17.0], [19.0, 13.0]]), var_names=["H3", "H3K9ac"])
    kom.pp.normalize(h3, method="reference_feature", reference="H3")
    np.testing.assert_allclose(h3.X, [[20.0, 15.0], [20.0, 16.0], [20.0, 14.0]])


def test_normalize_histone_and_protein_simulations(protein, histone):
    for data in (protein, histone):
        adata = data.copy()
        out = kom.pp.normalize(adata, copy=True)
        assert out is not None
        medians = np.nanmedian(out.X, axis=1)
        np.testing.assert_allclose(medians, np.median(np.nanmedian(data.X, axis=1)), atol=1e-12)
        np.testing.assert_array_equal(adata.X, data.X, strict=True)  # input unchanged
        np.testing.assert_array_equal(out.layers["raw"], data.layers["raw"])


def test_none_records_decision_and_h5ad_roundtrip(tmp_path):
    adata = _logged([[1.0, 2.0, 3.0], [2.0, 3.0, 5.0]])
    kom.pp.normalize(adata, method="none")
    np.testing.assert_array_equal(adata.X, [[1.0, 2.0, 3.0], [2.0, 3.0, 5.0]])
    kom.pp.normalize(adata)
    adata.write_h5ad(tmp_path / "n.h5ad")
    back = ad.read_h5ad(tmp_path / "n.h5ad")
    np.testing.assert_allclose(back.obs["norm_offset"], [-0.5, 0.5])  # medians 2 and 3
    functions = [s["function"] for _, s in sorted(back.uns["kratom_omics"]["provenance"].items())]
    assert functions == ["kratom_omics.pp.normalize"] * 2


def test_normalize_errors():
    adata = _logged([[1.0, 2.0, 3.0], [2.0, 3.0, 5.0]], obs_names=["pool", "A"])
    with pytest.raises(InputFormatError, match=r"method='quantil'.*Did you mean 'quantile'"):
        kom.pp.normalize(adata, method="quantil")  # type: ignore[arg-type]
    with pytest.raises(InputFormatError, match=r"needs reference= sample name"):
        kom.pp.normalize(adata, method="reference_sample")
    with pytest.raises(InputFormatError, match=r"does not use reference='pool'"):
        kom.pp.normalize(adata, reference="pool")
    with pytest.raises(KeyNotFoundError, match=r"reference='pol'.*Did you mean 'pool'"):
        kom.pp.normalize(adata, method="reference_sample", reference="pol")
    with pytest.raises(KeyNotFoundError, match=r"neither a feature of adata.var_names"):
        kom.pp.normalize(adata, method="reference_feature", reference="Gapdh")
    sparse = _logged([[1.0, NAN, NAN], [2.0, 3.0, 5.0]], obs_names=["S1", "S2"])
    with pytest.raises(InputFormatError, match=r"sample\(s\) \['S1'\] have fewer than 2 observed"):
        kom.pp.normalize(sparse)
    apart = _logged([[1.0, 2.0, NAN, NAN], [NAN, NAN, 3.0, 5.0]], obs_names=["pool", "A"])
    with pytest.raises(DesignError, match=r"\['A'\] share no observed feature with the reference"):
        kom.pp.normalize(apart, method="reference_sample", reference="pool")
    np.testing.assert_array_equal(adata.X, [[1.0, 2.0, 3.0], [2.0, 3.0, 5.0]])
