from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError, ResultNotFoundError
from kratom_omics.pl._style import contrast_table, match_features, sample_order


def test_default_phase_colors_are_stored_and_reused(protein):
    colors = kom.pl.phase_colors(protein)
    assert colors == {"control": "#4c72b0", "use": "#dd8452", "withdrawal": "#c44e52"}
    assert protein.uns["phase_colors"] == ["#4c72b0", "#dd8452", "#c44e52"]
    protein.uns["phase_colors"] = ["black", "green", "#123456"]
    assert kom.pl.phase_colors(protein)["withdrawal"] == "#123456"
    assert kom.pl.phase_colors(protein)["use"] == "#008000"


def test_palette_override_is_stored(protein):
    kom.pl.phase_colors(protein, palette={"withdrawal": "purple"})
    assert protein.uns["phase_colors"][2] == "#800080"
    with pytest.raises(InputFormatError, match=r"palette\['use'\]='notacolour' is not a colour"):
        kom.pl.phase_colors(protein, palette={"use": "notacolour"})
    with pytest.raises(
        KeyNotFoundError, match=r"palette key='withdrawl'.*Did you mean 'withdrawal'"
    ):
        kom.pl.phase_colors(protein, palette={"withdrawl": "red"})


def test_unknown_groupby_suggests(protein):
    with pytest.raises(
        KeyNotFoundError, match=r"groupby='phse' is not a column of adata.obs. Did you mean 'phase'"
    ):
        kom.pl.phase_colors(protein, "phse")


def test_match_features_by_id_and_gene_groups_case_insensitive():
    var = pd.DataFrame({"gene": ["Rab35;Rab35b", "Hdac2", "Gapdh"]}, index=["P1", "P2", "P3"])
    a = ad.AnnData(np.zeros((2, 3)), var=var)
    assert match_features(a, "rab35") == ["P1"]
    assert match_features(a, "RAB35B") == ["P1"]
    assert match_features(a, ["P3", "hdac2"]) == ["P3", "P2"]
    with pytest.raises(
        KeyNotFoundError, match=r"features='Rab3' matches no feature id or gene symbol"
    ):
        match_features(a, "Rab3")


def test_sample_order_follows_phase_then_timepoint(histone):
    order = sample_order(histone)
    names = histone.obs_names[order]
    assert list(histone.obs["phase"].astype(str).iloc[order]) == sorted(
        histone.obs["phase"].astype(str), key=["control", "use", "withdrawal"].index
    )
    tp = histone.obs["timepoint"].iloc[order].to_numpy()
    wd = tp[np.isfinite(tp)]
    assert (np.diff(wd) >= 0).all()
    assert names[-1].endswith("_d7")


def test_result_errors(protein):
    with pytest.raises(
        ResultNotFoundError, match=r"no differential result in adata.uns\['other'\]"
    ):
        contrast_table(protein, "other")
    with pytest.raises(
        KeyNotFoundError,
        match=r"contrast='withdrawal - contrl'.*Did you mean 'withdrawal - control'",
    ):
        contrast_table(protein, "differential", "withdrawal - contrl")
    assert len(contrast_table(protein, "differential")) == protein.n_vars


def test_plots_read_results_back_from_h5ad(protein, tmp_path):
    kom.pl.phase_colors(protein, palette={"use": "gold"})
    protein.write_h5ad(tmp_path / "p.h5ad")
    back = ad.read_h5ad(tmp_path / "p.h5ad")
    assert kom.pl.phase_colors(back)["use"] == "#ffd700"
    ax = kom.pl.volcano(back, "withdrawal - control", label="Rab35").axes[0]
    assert [t.get_text() for t in ax.texts] == ["Rab35"]
    ax = kom.pl.top_heatmap(back, n_top=5).axes[0]
    assert len(ax.get_yticklabels()) == 5
    fig = kom.pl.trajectories(back, "Rab35")
    animals = [c for c in fig.axes[0].collections if c.get_gid() == "animals"]
    assert [c.get_facecolor()[0][:3].round(3).tolist() for c in animals][1] == [1.0, 0.843, 0.0]


def test_invalid_stored_colours_fall_back_with_a_warning(protein, caplog):
    a = protein.copy()
    a.uns["phase_colors"] = ["notacolor", "#zzzzzz", "#123456"]
    with caplog.at_level("WARNING", logger="kratom_omics"):
        colors = kom.pl.phase_colors(a)
    assert colors == {"control": "#4c72b0", "use": "#dd8452", "withdrawal": "#123456"}
    assert "holds values that are not colours ['notacolor', '#zzzzzz']" in caplog.text
    a.uns["phase_colors"] = 7  # not even a list
    assert kom.pl.phase_colors(a)["control"] == "#4c72b0"


@pytest.mark.parametrize("length", [10_000, 100_000])
def test_very_long_names_are_cut_in_figures(protein, length, tmp_path):
    from kratom_omics.pl._style import MAX_LABEL

    a = protein.copy()
    a.obs_names = ["s" * length, *a.obs_names[1:]]
    out = tmp_path / "c.png"
    fig = kom.pl.correlation(a, save=out)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert max(len(t) for t in labels) == MAX_LABEL
    assert any(t.endswith("…") for t in labels)
    from PIL import Image

    w, h = Image.open(out).size
    assert w * h < 20_000_000
