from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError

WC = "withdrawal - control"


def _by_gid(ax, gid):
    return [c for c in ax.collections if c.get_gid() == gid]


def test_volcano_points_colours_and_labels(protein):
    table = kom.get.differential(protein, contrast=WC)
    ax = kom.pl.volcano(protein, WC, fdr=0.05, lfc=0.5, label=["rab35", "HDAC2"]).axes[0]
    up, down, ns = (_by_gid(ax, g)[0] for g in ("up", "down", "ns"))
    sig = (table["padj"] < 0.05) & (table["log2fc"].abs() >= 0.5)
    assert len(up.get_offsets()) == int((sig & (table["log2fc"] > 0)).sum())
    assert len(down.get_offsets()) == int((sig & (table["log2fc"] < 0)).sum())
    assert len(ns.get_offsets()) == int((~sig).sum())
    assert to_hex(up.get_facecolor()[0]) == "#c44e52"
    # planted markers: Rab35 is up and significant and labelled at its coordinates
    labels = {t.get_text(): t.xy for t in ax.texts}
    assert set(labels) == {"Rab35", "Hdac2"}
    rab = table.loc[table["gene"] == "Rab35"].iloc[0]
    np.testing.assert_allclose(labels["Rab35"], (rab["log2fc"], -np.log10(rab["pvalue"])))
    assert rab["padj"] < 0.05
    assert [ln.get_xdata()[0] for ln in ax.lines if ln.get_gid() == "lfc-line"] == [-0.5, 0.5]
    fdr_y = [ln.get_ydata()[0] for ln in ax.lines if ln.get_gid() == "fdr-line"]
    assert fdr_y == pytest.approx([-np.log10(table.loc[table["padj"] < 0.05, "pvalue"].max())])
    assert ax.get_xlabel() == f"log2 fold change ({WC})"
    assert ax.get_ylabel() == "-log10 p-value"


def test_volcano_default_labels_top_features(protein):
    table = kom.get.differential(protein, contrast=WC)
    ax = kom.pl.volcano(protein, WC, n_top=3).axes[0]
    top = table.sort_values("pvalue")["gene"].head(3).tolist()
    assert [t.get_text() for t in ax.texts] == top


def test_volcano_draws_s0_curve(protein):
    x = np.linspace(0.2, 3, 20)
    curve = pd.DataFrame({"log2fc": np.r_[-x, x], "neg_log10_p": np.r_[1 / x, 1 / x]})
    protein.uns["differential"]["s0_curve"] = curve
    ax = kom.pl.volcano(protein, WC).axes[0]
    lines = [ln for ln in ax.lines if ln.get_gid() == "s0-curve"]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), x)


def test_volcano_errors(protein):
    with pytest.raises(KeyNotFoundError, match=r"contrast='withdrawal-contrl'.*Did you mean"):
        kom.pl.volcano(protein, "withdrawal-contrl")
    # spacing is normalised as in kom.get.differential: the same rows are drawn
    loose = kom.pl.volcano(protein, "withdrawal-control").axes[0]
    exact = kom.pl.volcano(protein, WC).axes[0]
    assert [len(c.get_offsets()) for c in loose.collections] == [
        len(c.get_offsets()) for c in exact.collections
    ]
    assert sum(len(c.get_offsets()) for c in exact.collections) > 0
    with pytest.raises(InputFormatError, match=r"lfc=-1 must be >= 0"):
        kom.pl.volcano(protein, WC, lfc=-1)
    with pytest.raises(InputFormatError, match=r"fdr=5 must be between 0 and 1"):
        kom.pl.volcano(protein, WC, fdr=5)
    with pytest.raises(KeyNotFoundError, match=r"label='Rab99' matches no feature"):
        kom.pl.volcano(protein, WC, label="Rab99")


def test_ma_plot_coordinates(protein):
    table = kom.get.differential(protein, contrast=WC)
    ax = kom.pl.ma(protein, WC, label="Rab35").axes[0]
    pts = np.concatenate(
        [c.get_offsets() for c in ax.collections if c.get_gid() in ("ns", "up", "down")]
    )
    assert pts.shape == (len(table), 2)
    np.testing.assert_allclose(np.sort(pts[:, 0]), np.sort(table["mean_log2"]))
    assert [t.get_text() for t in ax.texts] == ["Rab35"]
    assert ax.get_xlabel() == "mean log2 abundance"


def test_pvalue_histogram_counts(protein):
    table = kom.get.differential(protein, contrast="use - control")
    ax = kom.pl.pvalue_histogram(protein, "use - control", bins=10).axes[0]
    heights = [p.get_height() for p in ax.patches]
    pv = table["pvalue"].dropna()
    assert len(pv) < len(table)  # features missing in a whole group have no p-value
    expected, _ = np.histogram(pv, bins=np.linspace(0, 1, 11))
    np.testing.assert_array_equal(heights, expected)
    level = [ln.get_ydata()[0] for ln in ax.lines if ln.get_gid() == "uniform-level"]
    assert level == [len(pv) / 10]


def test_top_heatmap_ranks_by_f_test_and_orders_samples(histone):
    ax = kom.pl.top_heatmap(histone, n_top=8, scale="zscore").axes[0]
    f = kom.get.differential_f(histone).sort_values("pvalue")
    top = f["feature"].head(8).tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == top
    mesh = ax.collections[0]
    values = np.ma.masked_invalid(np.asarray(mesh.get_array())).reshape(8, histone.n_obs)
    x = histone[:, top].X.T
    z = (x - np.nanmean(x, 1, keepdims=True)) / np.nanstd(x, 1, ddof=1, keepdims=True)
    np.testing.assert_allclose(values.filled(np.nan), z, equal_nan=True)  # samples already ordered
    xt = [t.get_text() for t in ax.get_xticklabels()]
    assert xt[:6] == [f"R0{i}_control" for i in range(1, 7)]
    assert xt[-1] == "R06_withdrawal_d7"
    bar = next(c for c in ax.child_axes if c.get_gid() == "phase-bar")
    assert bar.images[0].get_array().shape == (1, histone.n_obs)


def test_top_heatmap_by_contrast(protein):
    table = kom.get.differential(protein, contrast=WC).sort_values("pvalue")
    ax = kom.pl.top_heatmap(protein, WC, n_top=5).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == table["gene"].head(5).tolist()
    with pytest.raises(InputFormatError, match="n_top=0 must be a positive integer"):
        kom.pl.top_heatmap(protein, n_top=0)


def test_volcano_takes_the_treat_threshold_of_the_analysis():
    a = kom.datasets.simulate("protein", seed=7, n_features=60)
    kom.tl.differential(a, "phase", lfc=0.5)
    ax = kom.pl.volcano(a, WC).axes[0]
    assert [ln.get_xdata()[0] for ln in ax.lines if ln.get_gid() == "lfc-line"] == [-0.5, 0.5]
    table = kom.get.differential(a, contrast=WC)
    sig = (table["padj"] < 0.05) & (table["log2fc"].abs() >= 0.5)
    up = next(c for c in ax.collections if c.get_gid() == "up")
    assert len(up.get_offsets()) == int((sig & (table["log2fc"] > 0)).sum())
    ax = kom.pl.volcano(a, WC, lfc=0).axes[0]
    assert not [ln for ln in ax.lines if ln.get_gid() == "lfc-line"]


def test_on_off_features_drawn_at_the_edge(protein):
    res = protein.uns["differential"]
    table = res["table"].copy()
    rows = np.flatnonzero((table["contrast"] == WC).to_numpy())
    table.loc[rows[0], ["log2fc", "pvalue", "padj"]] = [np.inf, 1e-6, 1e-4]
    table.loc[rows[1], ["log2fc", "pvalue", "padj"]] = [-np.inf, 1e-5, 1e-3]
    res["table"] = table
    ax = kom.pl.volcano(protein, WC, n_top=0).axes[0]
    pts = np.concatenate(
        [c.get_offsets() for c in ax.collections if c.get_gid() in ("ns", "up", "down")]
    )
    assert len(pts) == len(rows)
    finite = table.loc[rows, "log2fc"].to_numpy()
    edge = 1.1 * np.nanmax(np.abs(finite[np.isfinite(finite)]))
    assert np.nanmax(pts[:, 0]) == pytest.approx(edge)
    assert np.nanmin(pts[:, 0]) == pytest.approx(-edge)
