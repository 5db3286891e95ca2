from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from scipy import stats

import kratom_omics as kom
from kratom_omics.errors import InputFormatError
from kratom_omics.pl._style import new_axes
from kratom_omics.pl._trajectories import stages


def test_default_rab35_trajectory_with_ci(protein):
    fig = kom.pl.trajectories(protein)
    (ax,) = fig.axes
    assert ax.get_title() == "Rab35"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["control", "use", "withdrawal"]
    y = protein[:, protein.var["gene"] == "Rab35"].X.ravel()
    mean_line = next(ln for ln in ax.lines if ln.get_gid() == "mean-ci")
    for k in range(3):
        v = y[6 * k : 6 * k + 6]
        v = v[np.isfinite(v)]
        assert mean_line.get_ydata()[k] == pytest.approx(v.mean())
    # the 95% interval of withdrawal: mean +- t(0.975, n-1) * sd / sqrt(n)
    v = y[12:18][np.isfinite(y[12:18])]
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    segs = next(c for c in ax.collections if type(c).__name__ == "LineCollection").get_segments()
    np.testing.assert_allclose(segs[2][:, 1], [v.mean() - half, v.mean() + half])
    # animals coloured by phase, no subject lines (independent animals)
    animals = [c for c in ax.collections if c.get_gid() == "animals"]
    assert sum(len(c.get_offsets()) for c in animals) == int(np.isfinite(y).sum())
    assert [to_hex(c.get_facecolor()[0]) for c in animals] == ["#4c72b0", "#dd8452", "#c44e52"]
    assert not [ln for ln in ax.lines if ln.get_gid() == "subject"]


def test_repeated_measures_and_timepoints(histone):
    fig = kom.pl.trajectories(histone, ["h3_9_17 k9ac"])
    (ax,) = fig.axes
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names == ["control", "use", "withdrawal d1", "withdrawal d7"]
    subject_lines = [ln for ln in ax.lines if ln.get_gid() == "subject"]
    y = histone[:, "H3_9_17 K9ac"].X.ravel()
    subj = histone.obs["subject"].astype(str).to_numpy()
    n_obs = {s: int(np.isfinite(y[subj == s]).sum()) for s in np.unique(subj)}
    assert len(subject_lines) == sum(n > 1 for n in n_obs.values())
    assert sorted(len(ln.get_xdata()) for ln in subject_lines) == sorted(
        n for n in n_obs.values() if n > 1
    )
    # each line goes through its animal's values in stage order
    drawn = {tuple(np.round(ln.get_ydata(), 12)) for ln in subject_lines}
    for s in np.unique(subj):
        v = y[subj == s]
        if n_obs[s] > 1:
            assert tuple(np.round(v[np.isfinite(v)], 12)) in drawn


def test_several_features_by_mark_or_gene(histone, protein):
    fig = kom.pl.trajectories(histone, "H3K9ac")  # mark: every peptidoform carrying it
    assert [a.get_title() for a in fig.axes] == ["H3_9_17 K9ac", "H3_9_17 K9acK14ac"]
    fig = kom.pl.trajectories(protein, ["Rab35", "hdac2"], ncols=1)
    assert [a.get_title() for a in fig.axes] == ["Rab35", "Hdac2"]
    ax = new_axes(None, (3, 3))
    assert kom.pl.trajectories(protein, "Rab35", ax=ax) is ax.figure
    with pytest.raises(
        InputFormatError, match=r"ax= draws one feature but features=\['Rab35', 'Hdac2'\]"
    ):
        kom.pl.trajectories(protein, ["Rab35", "Hdac2"], ax=ax)


def test_stages_split_withdrawal_by_time(histone):
    st = stages(histone)
    assert list(st["stage"].cat.categories) == ["control", "use", "withdrawal d1", "withdrawal d7"]
    assert st["position"].value_counts().sort_index().tolist() == [6, 6, 6, 6]
