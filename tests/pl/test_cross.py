"""The protein vs promoter-mark scatter: what is drawn is what the pair table holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError


def _groups(ax):
    return {c.get_gid(): c for c in ax.collections if c.get_gid()}


def _at_edge(values):
    """On/off effects (+-inf) are drawn at 1.1 x the largest finite effect."""
    v = values.to_numpy(dtype=float)
    edge = 1.1 * np.abs(v[np.isfinite(v)]).max()
    return np.where(np.isposinf(v), edge, np.where(np.isneginf(v), -edge, v))


def test_scatter_of_the_pairs_with_candidates_labelled(protein, tracks):
    study = {"protein": protein, "tracks": tracks}
    kom.tl.cross_modality(study, n_boot=0)
    pairs = kom.get.cross_modality(study, contrast="withdrawal - control")
    fig = kom.pl.protein_vs_mark(study, "withdrawal - control", n_top=3)
    ax = fig.axes[0]
    groups = _groups(ax)
    p, m = pairs["protein_significant"].to_numpy(), pairs["mark_significant"].to_numpy()
    x, y = _at_edge(pairs["protein_log2fc"]), _at_edge(pairs["mark_log2fc"])
    assert np.isinf(pairs["protein_log2fc"]).any()  # an on/off protein among them
    for gid, sel in {"both": p & m, "protein": p & ~m, "mark": ~p & m, "neither": ~p & ~m}.items():
        xy = np.asarray(groups[gid].get_offsets())
        assert len(xy) == int(sel.sum()), gid
        np.testing.assert_allclose(np.sort(xy[:, 0]), np.sort(x[sel]))
    assert sum(len(groups[g].get_offsets()) for g in ("both", "protein", "mark", "neither")) == (
        len(pairs)
    )
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "gene-label"]
    cands = pairs.loc[pairs["candidate"] != "", "gene"].tolist()
    top = (
        pairs[pairs["both_significant"] & (pairs["candidate"] == "")]
        .sort_values("protein_padj", kind="stable")["gene"]
        .head(3)
        .tolist()
    )
    assert {"Rab35", "Hdac2"} <= set(cands)
    assert labels == cands + top
    rab = next(t for t in ax.texts if t.get_text() == "Rab35")
    row = pairs.set_index("gene").loc["Rab35"]
    assert rab.xy == pytest.approx((row["protein_log2fc"], row["mark_log2fc"]))
    assert ax.get_xlabel() == "protein log2 fold change (protein)"
    assert ax.get_ylabel() == "H3K9ac at the promoter: log2 fold change"
    assert ax.get_title() == "protein vs H3K9ac: withdrawal - control"
    ok = np.isfinite(x) & np.isfinite(y)  # effects of proteins not tested are left out
    assert 0 < (~ok).sum() < 10
    rho = spearmanr(x[ok], y[ok]).statistic
    corr = next(t.get_text() for t in ax.texts if t.get_gid() == "correlation")
    assert corr == f"Spearman rho = {rho:.2f} ({int(ok.sum())} pairs)"
    # the table itself, genes chosen by name
    fig2 = kom.pl.protein_vs_mark(pairs, label=["RAB35"])
    assert [t.get_text() for t in fig2.axes[0].texts if t.get_gid() == "gene-label"] == ["Rab35"]
    assert fig2.axes[0].get_title().endswith("withdrawal - control")


def test_bad_requests(protein, tracks):
    study = {"protein": protein, "tracks": tracks}
    kom.tl.cross_modality(study, n_boot=0)
    with pytest.raises(KeyNotFoundError, match=r"'withdrawal' is not a contrast of the gene pairs"):
        kom.pl.protein_vs_mark(study, "withdrawal")
    empty = kom.get.cross_modality(study).iloc[:0]
    with pytest.raises(InputFormatError, match=r"no protein-region pairs to draw"):
        kom.pl.protein_vs_mark(empty)
    with pytest.raises(InputFormatError, match=r"the table lacks \['mark_log2fc'\]"):
        kom.pl.protein_vs_mark(pd.DataFrame(columns=["contrast", "gene", "protein_log2fc"]))
