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


# internal reference scaling (IRS) across TMT plexes --------------------------------------------
def _plexes() -> ad.AnnData:
    """Three plexes x 3 channels (channel 3 the pooled reference), 4 proteins, log2 values."""
    x = np.array(
        [
            # p1 c1, c2, ref           p2 c1, c2, ref           p3 c1, c2, ref
            [20.0, 21.0, 20.5, 22.0, 23.0, 22.5, 19.0, 19.5, 19.2],
            [15.0, NAN, 15.5, 16.5, 16.0, 16.1, 14.0, 14.2, 14.4],
            [25.0, 24.0, 24.4, 25.3, 25.1, 25.2, 24.9, 25.0, NAN],  # no reference in plex 3
            [10.0, 11.0, 10.2, 12.0, 12.2, 12.1, 11.0, 11.5, 11.1],
        ]
    ).T
    a = _logged(
        x,
        obs_names=[f"p{p}_{c}" for p in (1, 2, 3) for c in (1, 2, 3)],
        var_names=["Rab35", "Hdac2", "Gapdh", "Actb"],
    )
    a.obs["plex"] = [f"p{p}" for p in (1, 2, 3) for _ in range(3)]
    a.obs["channel"] = [str(c) for _ in range(3) for c in (1, 2, 3)]
    a.obs["label"] = [lab for _ in range(3) for lab in ("TMT126", "TMT127N", "TMT127C")]
    return a


def _irs_by_hand(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    plex = np.repeat([0, 1, 2], 3)
    ref = x[[2, 5, 8]]  # plexes x proteins
    target = np.array([np.mean(ref[np.isfinite(ref[:, g]), g]) for g in range(x.shape[1])])
    offsets = ref - target  # NaN where a plex lacks its reference
    return x - offsets[plex], offsets


@pytest.mark.parametrize("reference", [3, "3", "TMT127C", "tmt 127c", ["p1_3", "p2_3", "p3_3"]])
def test_irs_equals_the_hand_computation(reference):
    a = _plexes()
    expected, offsets = _irs_by_hand(a.X.copy())
    kom.pp.normalize(a, method="irs", reference=reference)
    np.testing.assert_allclose(a.X, expected, rtol=0, atol=1e-12)
    assert np.isnan(a.X[6:, 2]).all()  # Gapdh in plex 3: no reference value to scale by
    np.testing.assert_allclose(a.varm["irs_offset"].to_numpy(), offsets.T, atol=1e-12)
    assert list(a.varm["irs_offset"].columns) == ["p1", "p2", "p3"]
    # the reference channels end equal across plexes, at the geometric mean of the references
    np.testing.assert_allclose(a.X[[2, 5], 0], [np.mean([20.5, 22.5, 19.2])] * 2, atol=1e-12)
    params = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])
    assert params["method"] == "irs"
    assert params["reference_samples"] == {"p1": ["p1_3"], "p2": ["p2_3"], "p3": ["p3_3"]}
    assert params["values_set_missing"] == 2


def test_irs_on_linear_values_multiplies():
    a = _plexes()
    expected, _ = _irs_by_hand(a.X.copy())
    lin = ad.AnnData(np.exp2(a.X), obs=a.obs.copy(), var=pd.DataFrame(index=a.var_names))
    kom.pp.normalize(lin, method="irs", reference="TMT127C", scale="linear")
    np.testing.assert_allclose(lin.X, np.exp2(expected), rtol=1e-12)


def test_irs_two_reference_channels_per_plex_are_averaged():
    a = _plexes()
    x = a.X.copy()
    kom.pp.normalize(a, method="irs", reference=["TMT126", "TMT127C"])
    plex = np.repeat([0, 1, 2], 3)
    with np.errstate(invalid="ignore"):
        ref = np.vstack([np.nanmean(x[[3 * p, 3 * p + 2]], axis=0) for p in range(3)])
    target = np.nanmean(ref, axis=0)
    np.testing.assert_allclose(a.X, x - (ref - target)[plex], atol=1e-12)


def test_irs_removes_simulated_plex_effects(tmp_path):
    sim = kom.datasets.simulate("protein", seed=4, n_features=60, n_per_phase=6)
    layout = kom.datasets.write_maxquant_tmt(sim, tmp_path / "pg.txt", plex_sd=1.0, seed=1)
    a = kom.io.read(tmp_path / "pg.txt")
    a = a[:, ~(a.var["is_contaminant"] | a.var["is_decoy"])].copy()
    kom.pp.log2(a)
    samples = layout.index[~layout["is_reference"]]
    truth = np.log2(np.asarray(sim[list(layout.loc[samples, "sample"])].layers["raw"]))

    def plex_spread(b: ad.AnnData) -> float:
        d = b[list(samples)].X - truth  # per protein, what the plex added
        d = d[:, np.isfinite(d).any(axis=0)]
        return float(np.nanstd(d - np.nanmean(d, axis=0)))

    assert plex_spread(a) > 0.5
    kom.pp.normalize(a, method="irs", reference=10)
    assert plex_spread(a) < 1e-6


def test_irs_errors():
    a = _plexes()
    with pytest.raises(InputFormatError, match=r"method='irs'\) needs reference="):
        kom.pp.normalize(a, method="irs")
    with pytest.raises(KeyNotFoundError, match=r"'TMT131' is neither a sample .* nor a channel"):
        kom.pp.normalize(a, method="irs", reference="TMT131")
    with pytest.raises(KeyNotFoundError, match=r"adata.obs\['batch'\]; the columns are"):
        kom.pp.normalize(a, method="irs", reference=3, plex_key="batch")
    with pytest.raises(DesignError, match=r"plex\(es\) \['p2', 'p3'\] have no reference sample"):
        kom.pp.normalize(a, method="irs", reference=["p1_3"])
