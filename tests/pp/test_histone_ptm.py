from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError, KratomOmicsWarning

DATA = Path(__file__).parents[1] / "data" / "histone"


@pytest.fixture
def forms():
    a = kom.io.read_epiprofile(DATA / "histone_ratios.xls")
    a.obs["phase"] = pd.Categorical(
        ["control", "control", "withdrawal"], categories=["control", "withdrawal"]
    )
    return a


def test_histone_sites_totals(forms, tmp_path):
    s = kom.pp.histone_sites(forms)
    x = s.to_df()
    # total H3K9ac = K9ac + K9acK14ac; RatWd01 has no K9ac form detected, only K9acK14ac
    np.testing.assert_allclose(x["H3K9ac"], [0.10 + 0.05, 0.08 + 0.03, 0.02])
    np.testing.assert_allclose(x["H3K14ac"], [0.15, 0.15, 0.12])
    np.testing.assert_allclose(x["H4K12ac"], [0.10, 0.09, 0.05])
    assert s.var.loc["H3K9ac", "n_forms"] == 2
    assert s.var.loc["H3K9ac", "forms"] == "H3_9_17 K9ac;H3_9_17 K9acK14ac"
    assert s.var.loc["H33K27me2", "histone"] == "H3.3"
    assert (s.var.loc["H4K16ac", "residues"], s.var.loc["H4K16ac", "modification"]) == ("K16", "ac")
    area = pd.DataFrame(s.layers["area"], index=s.obs_names, columns=s.var_names)
    assert area.loc["RatCtl01", "H3K9ac"] == pytest.approx(0.15 * 2e9)
    # the same totals as EpiProfile's own single-PTM table
    single = kom.io.read_epiprofile(DATA / "histone_ratios_single_PTMs.xls").to_df()
    for mark in ["H3K9ac", "H3K14ac", "H4K12ac", "H4K16ac", "H3K9me2", "H33K27me2"]:
        np.testing.assert_allclose(x[mark], single[mark], atol=1e-9)
    assert list(s.obs["phase"]) == ["control", "control", "withdrawal"]
    s.write_h5ad(tmp_path / "s.h5ad")
    assert ad.read_h5ad(tmp_path / "s.h5ad").var.loc["H3K9ac", "n_forms"] == 2


def test_histone_sites_merge_and_select(forms):
    s = kom.pp.histone_sites(forms, merge=["H3K9ac/K14ac"])
    assert "H3K9ac" not in s.var_names
    # each form once: K9ac + K14ac + K9acK14ac
    np.testing.assert_allclose(s.to_df()["H3K9ac/K14ac"], [0.25, 0.23, 0.12])
    t = kom.pp.histone_sites(forms, marks=["H4K12ac"], merge=[("H3K9ac", "H3K14ac")])
    assert list(t.var_names) == ["H4K12ac"]
    with pytest.raises(KeyNotFoundError, match=r"marks=\['H3K27ac'\] are not carried by any form"):
        kom.pp.histone_sites(forms, marks=["H3K27ac"])
    with pytest.raises(InputFormatError, match="'K9' is not a mark"):
        kom.pp.histone_sites(forms, merge=["H3K9ac/K9"])


def test_merge_and_sites_after_h5ad(forms, tmp_path):
    forms.write_h5ad(tmp_path / "f.h5ad")  # strings become categoricals
    back = ad.read_h5ad(tmp_path / "f.h5ad")
    m = kom.pp.merge_histone_forms(back, ["H3K9ac/K14ac"], copy=True)
    assert m.var.loc["H3_9_17 K9ac/K14ac", "marks"] == "H3K9ac/K14ac"
    np.testing.assert_allclose(kom.pp.histone_sites(back).to_df()["H3K9ac"], [0.15, 0.11, 0.02])


def test_merge_histone_forms(forms):
    m = kom.pp.merge_histone_forms(forms, ["H3K9ac/K14ac"], copy=True)
    assert m.n_vars == forms.n_vars - 1
    assert "H3_9_17 K9ac/K14ac" in m.var_names
    assert m.var.loc["H3_9_17 K9ac/K14ac", "merged_from"] == "H3_9_17 K9ac;H3_9_17 K14ac"
    assert "H3_9_17 K9acK14ac" in m.var_names  # carries both: not pooled
    x = m.to_df()
    np.testing.assert_allclose(x["H3_9_17 K9ac/K14ac"], [0.20, 0.20, 0.10])
    sums = x.T.groupby(m.var["peptide_family"]).sum().T
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    rt = pd.DataFrame(m.layers["rt"], index=m.obs_names, columns=m.var_names)
    assert rt.loc["RatCtl01", "H3_9_17 K9ac/K14ac"] == pytest.approx((21.5 + 22.0) / 2)
    assert rt.loc["RatWd01", "H3_9_17 K9ac/K14ac"] == pytest.approx(22.02)  # K9ac not detected
    # sites of the pooled forms: the pooled mark becomes the merged site
    s = kom.pp.histone_sites(m)
    assert "H3K9ac" not in s.var_names
    np.testing.assert_allclose(s.to_df()["H3K9ac/K14ac"], [0.25, 0.23, 0.12])
    assert s.var_names.is_unique
    kom.pp.merge_histone_forms(forms, ["H3K9ac/K14ac"])
    assert forms.n_vars == m.n_vars


def test_filter_histone(forms):
    f = kom.pp.filter_histone(forms, min_presence=1.0, sentinels=["H33K27me2"], copy=True)
    assert "H3_9_17 K9ac" not in f.var_names  # missing in one run
    assert f.n_vars == forms.n_vars - 1
    assert f.uns["filter_histone"]["n_removed_presence"] == 1
    g = kom.pp.filter_histone(
        forms, min_presence=1.0, groupby="phase", sentinels=["H33K27me2"], copy=True
    )
    # absent from the withdrawal run but detected in every control: kept
    assert "H3_9_17 K9ac" in g.var_names
    h = kom.pp.filter_histone(
        forms, min_presence=0.5, groupby="phase", sentinels=["H33K27me2"], copy=True
    )
    assert "H3_9_17 K9ac" in h.var_names
    assert h.var.loc["H3_9_17 K9ac", "presence"] == 1.0
    # within-group CV of the controls (ddof=1), median over groups with >= 2 samples
    v = np.array([0.06, 0.05])
    assert h.var.loc["H4_4_17 K12ac", "cv"] == pytest.approx(v.std(ddof=1) / v.mean())
    c = kom.pp.filter_histone(
        forms, groupby="phase", max_cv=0.2, sentinels=["H33K27me2"], copy=True
    )
    assert "H3_9_17 K9acK14ac" not in c.var_names  # 0.05, 0.03: CV 0.35
    assert "H4_4_17 K12ac" in c.var_names  # CV 0.13
    # minimum area: 0.03 * 1e9 = 3e7 in RatWd01 for K12ac goes missing
    a = kom.pp.filter_histone(
        forms, min_area=3.5e7, min_presence=0.0, sentinels=["H33K27me2"], copy=True
    )
    assert np.isnan(a.to_df().loc["RatWd01", "H4_4_17 K12ac"])
    assert a.to_df().loc["RatCtl01", "H4_4_17 K12ac"] == pytest.approx(0.06)
    assert not np.isnan(a.layers["raw"]).sum() > np.isnan(forms.layers["raw"]).sum()


def test_filter_histone_sentinels(forms):
    x = forms.X.copy()
    x[1, list(forms.var_names).index("H33_27_40 K27me2")] = np.nan
    forms.X = x
    f = kom.pp.filter_histone(forms, min_presence=0.0, sentinels=["H33K27me2"], copy=True)
    assert list(f.obs["histone_qc_pass"]) == [True, False, True]
    assert f.uns["filter_histone"]["failed_samples"] == ["RatCtl02"]
    r = kom.pp.filter_histone(
        forms, min_presence=0.0, sentinels=["H33K27me2"], remove_failed_samples=True, copy=True
    )
    assert list(r.obs_names) == ["RatCtl01", "RatWd01"]
    with pytest.warns(KratomOmicsWarning, match="is not a feature or a form's marks") as rec:
        kom.pp.filter_histone(forms, copy=True)
    assert [str(w.message).split("'")[1] for w in rec] == ["H3K27me2", "H4K20me2"]


def test_histone_transform(forms):
    p = forms.to_df()
    lg = kom.pp.histone_transform(forms, "logit", copy=True).to_df()
    assert lg.loc["RatCtl01", "H4_4_17 K16ac"] == pytest.approx(np.log2(0.2 / 0.8))
    assert np.isnan(lg.loc["RatWd01", "H3_9_17 K9ac"])
    clr = kom.pp.histone_transform(forms, "clr", copy=True)
    c = clr.to_df()
    fam = forms.var["peptide_family"]
    np.testing.assert_allclose(c.T.groupby(fam).sum().T.to_numpy(), 0.0, atol=1e-12)
    h4 = np.log2(p.loc["RatCtl01", fam == "H4_4_17"].to_numpy())
    assert c.loc["RatCtl01", "H4_4_17 K12ac"] == pytest.approx(np.log2(0.06) - h4.mean())
    assert clr.uns["kratom_omics"]["x_transform"] == "clr"
    l2 = kom.pp.histone_transform(forms, "log2", copy=True).to_df()
    assert l2.loc["RatCtl02", "H3_9_17 K9ac"] == pytest.approx(np.log2(0.08))
    np.testing.assert_array_equal(forms.layers["raw"], p.to_numpy())
    with pytest.raises(InputFormatError, match="expected ratios in"):
        kom.pp.histone_transform(forms, "logit", layer="area")
    with pytest.raises(InputFormatError, match="method='ilr'"):
        kom.pp.histone_transform(forms, "ilr")
