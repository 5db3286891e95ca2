from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError


def test_detected_bar_heights_and_colours(protein):
    ax = kom.pl.detected(protein).axes[0]
    bars = ax.patches
    assert len(bars) == protein.n_obs
    expected = np.isfinite(protein.X).sum(axis=1)  # samples are already in phase order
    np.testing.assert_array_equal([b.get_height() for b in bars], expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(protein.obs_names)
    colors = [to_hex(b.get_facecolor()) for b in bars]
    assert [colors[0], colors[6], colors[-1]] == ["#4c72b0", "#dd8452", "#c44e52"]
    assert ax.get_ylabel() == "features detected"


def test_missingness_points_and_trend(protein):
    ax = kom.pl.missingness(protein, n_bins=10).axes[0]
    pts = np.asarray(ax.collections[0].get_offsets())
    observed = np.isfinite(protein.X)
    keep = observed.any(axis=0)
    assert pts.shape == (keep.sum(), 2)
    np.testing.assert_allclose(np.sort(pts[:, 1]), np.sort(1 - observed[:, keep].mean(axis=0)))
    assert ax.get_ylabel() == "fraction of samples missing"
    # MNAR simulation: the low-intensity half misses more than the high half
    x, y = pts[:, 0], pts[:, 1]
    assert y[x < np.median(x)].mean() > y[x >= np.median(x)].mean()


def test_intensity_distributions_before_after(protein):
    ax = kom.pl.intensity_distributions(protein, before="raw").axes[0]
    boxes = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(boxes) == protein.n_obs
    solid = [p for p in ax.patches if not p.get_hatch()]
    assert len(solid) == protein.n_obs
    assert "log2(raw)" in ax.get_title()
    # medians of the solid boxes are the per-sample medians of X
    medians = [ln.get_ydata()[0] for ln in ax.lines if ln.get_gid() == "median"][protein.n_obs :]
    np.testing.assert_allclose(medians, np.nanmedian(protein.X, axis=1))
    with pytest.raises(
        KeyNotFoundError, match=r"layer='rw' is not a layer of adata\. Did you mean 'raw'"
    ):
        kom.pl.intensity_distributions(protein, before="rw")


def test_correlation_matrix_values(protein):
    ax = kom.pl.correlation(protein).axes[0]
    mesh = ax.collections[0]
    values = np.asarray(mesh.get_array()).reshape(protein.n_obs, protein.n_obs)
    expected = pd.DataFrame(protein.X.T).corr().to_numpy()
    np.testing.assert_allclose(values, expected, atol=1e-12)
    assert to_hex(ax.get_xticklabels()[-1].get_color()) == "#c44e52"
    with pytest.raises(InputFormatError, match="method='kendal' is not supported"):
        kom.pl.correlation(protein, method="kendal")


def test_pca_matches_svd_of_complete_features(protein):
    fig = kom.pl.pca(protein, ["phase", "batch"], min_complete=5)
    assert [a.get_title() for a in fig.axes] == ["phase", "batch"]
    x = protein.X[:, np.isfinite(protein.X).all(axis=0)]
    xc = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    pc1 = u[:, 0] * s[0]
    ax = fig.axes[0]
    coords = np.concatenate([c.get_offsets() for c in ax.collections])
    # phase panel draws control, use, withdrawal in order: the same order as the samples
    np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(pc1), rtol=1e-6)
    ratio = s[0] ** 2 / (s**2).sum()
    assert ax.get_xlabel() == f"PC1 ({100 * ratio:.1f}%)"
    assert [to_hex(c.get_facecolor()[0]) for c in ax.collections] == [
        "#4c72b0",
        "#dd8452",
        "#c44e52",
    ]
    assert len(fig.axes[1].collections) == protein.obs["batch"].nunique()


@pytest.mark.parametrize("components", [(1, 2), (2, 3)])
@pytest.mark.parametrize("min_complete", [5, 10_000])
def test_pca_draws_the_coordinates_of_scanpy(protein, components, min_complete):
    """The same points as scanpy's sc.pp.pca (signs included), for both of its solvers."""
    import anndata as ad
    import scanpy as sc

    from kratom_omics.pl._qc import _pca_input

    fig = kom.pl.pca(protein, "phase", components=components, min_complete=min_complete)
    ax = fig.axes[0]
    x, _ = _pca_input(protein.X, "complete", min_complete)
    n = max(components)
    ref = ad.AnnData(x.astype(np.float64))
    sc.pp.pca(ref, n_comps=n, zero_center=True, svd_solver="arpack")
    order = np.concatenate(
        [
            np.flatnonzero(protein.obs["phase"].astype(str) == p)
            for p in ("control", "use", "withdrawal")
        ]
    )
    drawn = np.concatenate([c.get_offsets() for c in ax.collections])
    expected = ref.obsm["X_pca"][order][:, [components[0] - 1, components[1] - 1]]
    np.testing.assert_allclose(drawn, expected, atol=1e-8)
    ratio = ref.uns["pca"]["variance_ratio"][components[0] - 1]
    assert ax.get_xlabel() == f"PC{components[0]} ({100 * ratio:.1f}%)"


def test_pca_imputes_when_too_few_complete(protein):
    fig = kom.pl.pca(protein, "phase", min_complete=10_000)
    assert "missing set to the feature mean" in fig.get_suptitle()
    with pytest.raises(InputFormatError, match="missing='zero' is not supported"):
        kom.pl.pca(protein, "phase", missing="zero")  # type: ignore[arg-type]


def test_cv_per_phase(protein):
    ax = kom.pl.cv(protein).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["control", "use", "withdrawal"]
    lin = np.exp2(protein.X[:6])
    ok = np.isfinite(lin).sum(axis=0) >= 2
    cv = 100 * np.nanstd(lin[:, ok], axis=0, ddof=1) / np.nanmean(lin[:, ok], axis=0)
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == f"{np.median(cv):.1f}%"
    assert ax.get_ylabel().startswith("CV (%)")
