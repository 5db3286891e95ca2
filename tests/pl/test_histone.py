from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle
from scipy import stats

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError
from kratom_omics.pl._histone import family_fractions


def test_composition_fractions_sum_to_one_and_match(histone):
    fig = kom.pl.histone_composition(histone, families=["H3_9_17", "H4_4_17"])
    assert [a.get_title() for a in fig.axes] == ["H3_9_17", "H4_4_17"]
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    n_forms = int((histone.var["peptide_family"] == "H3_9_17").sum())
    assert len(bars) == 4 * n_forms  # 4 stages x peptidoforms
    tops = np.array([b.get_y() + b.get_height() for b in bars]).reshape(n_forms, 4)
    np.testing.assert_allclose(tops[-1], 1.0)
    # first segment of control = mean over control samples of K9 unmod / family sum
    raw = histone.layers["raw"]
    fam = (histone.var["peptide_family"] == "H3_9_17").to_numpy()
    frac = raw[:, fam] / np.nansum(raw[:, fam], axis=1, keepdims=True)
    ctrl = (histone.obs["phase"] == "control").to_numpy()
    assert bars[0].get_height() == pytest.approx(np.nanmean(frac[ctrl, 0]))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["unmod", "K9me1"]
    # seaborn's tab20 palette, one colour per peptidoform (in the order of the legend)
    import seaborn as sns
    from matplotlib.colors import to_rgb

    palette = [tuple(c) for c in sns.color_palette("tab20", n_forms)]
    assert [to_rgb(bars[4 * k].get_facecolor()) for k in range(n_forms)] == palette
    with pytest.raises(KeyNotFoundError, match=r"families='H3_9_71'.*Did you mean 'H3_9_17'"):
        kom.pl.histone_composition(histone, families="H3_9_71")


def test_tab20_is_seaborns_palette_beyond_20_colours():
    import seaborn as sns

    from kratom_omics.pl._histone import _tab20

    assert _tab20(23) == [tuple(c) for c in sns.color_palette("tab20", 23)]


def test_family_fractions_table(histone):
    table = family_fractions(histone)
    sums = table.groupby(["family", "stage"])["fraction"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert len(table) == 4 * histone.n_vars


def test_mark_heatmap_values_and_stars(histone):
    ax = kom.pl.mark_heatmap(histone, marks=["h3k9ac", "H4K12ac"], fdr=0.05).axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    tokens = histone.var["marks"].str.split(";")
    expected = [
        f for f, t in zip(histone.var_names, tokens, strict=True) if {"H3K9ac", "H4K12ac"} & set(t)
    ]
    assert rows == expected
    table = kom.get.differential(histone)
    wide = table.pivot(index="feature", columns="contrast", values="log2fc").loc[rows]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert cols == ["use - control", "withdrawal - control", "withdrawal - use"]
    values = np.asarray(ax.collections[0].get_array()).reshape(len(rows), 3)
    np.testing.assert_allclose(values, wide[cols].to_numpy())
    padj = table.pivot(index="feature", columns="contrast", values="padj").loc[rows, cols]
    stars = [t.get_text() for t in ax.texts]
    assert stars.count("*") == int((padj.to_numpy() < 0.05).sum())
    assert stars.count("*") >= 1  # H3K9ac is planted down in withdrawal
    with pytest.raises(KeyNotFoundError, match=r"marks=\['H9K3ac'\] match no feature's mark"):
        kom.pl.mark_heatmap(histone, marks=["H9K3ac"])


def _western(seed=0):
    rng = np.random.default_rng(seed)
    phase = np.repeat(["control", "use", "withdrawal"], 5)
    base = {"H3K9ac": [1.0, 0.8, 0.5], "HDAC2": [1.0, 1.1, 1.8]}
    x = np.column_stack([np.repeat(v, 5) * rng.lognormal(0, 0.1, 15) for v in base.values()])
    obs = pd.DataFrame(
        {"phase": pd.Categorical(phase, ["control", "use", "withdrawal"], ordered=True)},
        index=[f"rat{i:02d}" for i in range(15)],
    )
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=list(base)))


def test_western_bars_points_and_welch_tests():
    w = _western()
    fig = kom.pl.western(w, scale="linear")
    assert [a.get_title() for a in fig.axes] == ["H3K9ac", "HDAC2"]
    ax = fig.axes[1]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    y = w[:, "HDAC2"].X.ravel()
    rel = y / y[:5].mean()
    np.testing.assert_allclose(
        [b.get_height() for b in bars], [rel[i : i + 5].mean() for i in (0, 5, 10)]
    )
    pts = sum(len(c.get_offsets()) for c in ax.collections if c.get_gid() == "animals")
    assert pts == 15
    p = stats.ttest_ind(rel[10:], rel[:5], equal_var=False).pvalue
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "test"]
    assert len(texts) == 2
    assert texts[1] == f"{'***' if p < 0.001 else '**' if p < 0.01 else '*'}\np={p:.2g}"
    assert "Welch t-test" in fig.get_suptitle()
    assert ax.get_ylabel() == "relative to control"


def test_western_uses_stored_differential():
    w = _western(1)
    w.X = np.log2(w.X)
    kom.tl.differential(w, "phase")
    fig = kom.pl.western(w, "hdac2", relative_to_reference=False)
    table = kom.get.differential(w, contrast="withdrawal - control").set_index("feature")
    texts = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "test"]
    assert texts[-1].endswith(f"p={table.loc['HDAC2', 'padj']:.2g}")
    assert "moderated t" in fig.get_suptitle()


def test_western_from_densitometry_log2_folds():
    w = kom.datasets.simulate("histone", assay="western", seed=0)
    assert w.uns["kratom_omics"]["x_transform"] == "log2"
    fig = kom.pl.western(w, ["H3K9ac", "rab35"])
    assert [a.get_title() for a in fig.axes] == ["H3K9ac", "Rab35"]
    fold = np.exp2(w[:, "H3K9ac"].X.ravel())
    phase = w.obs["phase"].astype(str).to_numpy()
    ref = np.nanmean(fold[phase == "control"])
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    expected = [np.nanmean(fold[phase == lv]) / ref for lv in ("control", "use", "withdrawal")]
    np.testing.assert_allclose([b.get_height() for b in bars], expected)
    assert bars[2].get_height() < 0.8  # H3K9ac is planted down after withdrawal
    with pytest.raises(InputFormatError, match="scale='log10' is not supported"):
        kom.pl.western(w, scale="log10")  # type: ignore[arg-type]
