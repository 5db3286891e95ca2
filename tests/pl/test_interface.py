"""Every plot of kom.pl returns the Figure it drew on and takes save= and show= (as scanpy's do)."""

from __future__ import annotations

import inspect

import pytest
from matplotlib.figure import Figure

import kratom_omics as kom

PLOTS = [name for name in kom.pl.__all__ if name != "phase_colors"]  # a colour helper


def _call(name, protein, histone, **kw):
    func = getattr(kom.pl, name)
    if name == "protein_vs_mark":
        t = kom.datasets.simulate("tracks", seed=1, n_features=120, n_per_phase=3)
        kom.tl.differential(t, "phase")
        study = {"protein": protein, "tracks": t}
        kom.tl.cross_modality(study, n_boot=0)
        return func(study, "withdrawal - control", **kw)
    if name in ("histone_composition", "mark_heatmap"):
        return func(histone, **kw)
    if name == "western":
        w = kom.datasets.simulate("histone", assay="western", seed=2, n_per_phase=3)
        return func(w, **kw)
    if name in ("volcano", "ma", "pvalue_histogram"):
        return func(protein, "withdrawal - control", **kw)
    if name == "trajectories":
        return func(protein, ["Rab35"], **kw)
    return func(protein, **kw)


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_returns_its_figure_and_saves(name, protein, histone, tmp_path, caplog):
    func = getattr(kom.pl, name)
    params = inspect.signature(func).parameters
    assert params["save"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["show"].kind is inspect.Parameter.KEYWORD_ONLY
    doc = inspect.getdoc(func)
    assert "save\n    Write the figure to this file" in doc.replace("\n        ", "\n    ")
    assert "Returns\n-------\nThe Figure" in doc
    out = tmp_path / f"{name}.svg"
    with caplog.at_level("WARNING", logger="kratom_omics"):
        fig = _call(name, protein, histone, save=out, show=True)
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= 1
    assert out.read_text().lstrip().startswith("<?xml")
    assert "cannot show figures" in caplog.text  # Agg: said, not raised
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.svg"]


def test_plot_into_given_axes_returns_that_figure(protein):
    fig = Figure()
    ax = fig.add_subplot()
    assert kom.pl.volcano(protein, "withdrawal - control", ax=ax) is fig
    sub = Figure().subfigures(1, 2)[1]
    ax2 = sub.add_subplot()
    assert kom.pl.detected(protein, ax=ax2) is sub.figure


def test_save_true_and_bad_extensions(protein, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kom.pl.cv(protein, save=True)
    assert (tmp_path / "figures" / "cv.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(kom.errors.InputFormatError, match="'docx' is not a figure format"):
        kom.pl.cv(protein, save="cv.docx")
    with pytest.raises(kom.errors.InputFormatError, match="give a file name with an extension"):
        kom.pl.cv(protein, save="cv")


def test_axes_name_the_scale_of_the_values():
    h = kom.datasets.simulate("histone", seed=4, n_per_phase=3)
    h.X = h.layers["raw"].copy()
    kom.pp.histone_transform(h, "logit")
    kom.tl.differential(h, "phase")
    fig = kom.pl.volcano(h, "withdrawal - control")
    assert fig.axes[0].get_xlabel() == "log2 odds ratio (withdrawal - control)"
    fig = kom.pl.ma(h, "withdrawal - control")
    assert fig.axes[0].get_xlabel() == "mean logit (log2 odds)"
    fig = kom.pl.trajectories(h, "H3K9ac")
    assert fig.axes[0].get_ylabel() == "logit (log2 odds)"
    p = kom.datasets.simulate("protein", seed=1, n_features=30, n_per_phase=3)
    kom.tl.differential(p, "phase")
    assert (
        kom.pl.volcano(p, "withdrawal - control")
        .axes[0]
        .get_xlabel()
        .startswith("log2 fold change")
    )
