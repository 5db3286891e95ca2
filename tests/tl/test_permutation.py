"""kom.tl.permutation_fdr: statistic, SAM/Perseus FDR, calibration on null data, s0 curve, speed."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import kratom_omics as kom
from kratom_omics.errors import DesignError, KeyNotFoundError
from kratom_omics.tl._permutation import fdr_from_null, permutation_labels


def _two_groups(
    n_features: int, n_per_group: int, *, seed: int, n_changed: int = 0, effect: float = 2.0
) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    n = 2 * n_per_group
    x = rng.normal(20.0, 0.5, size=(n, n_features))
    x[n_per_group:, :n_changed] += effect
    obs = pd.DataFrame(
        {
            "phase": pd.Categorical(
                ["control"] * n_per_group + ["withdrawal"] * n_per_group,
                categories=["control", "withdrawal"],
                ordered=True,
            ),
            "subject": [f"R{i % n_per_group:02d}" for i in range(n)],
        },
        index=[f"S{i:02d}" for i in range(n)],
    )
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"f{i:04d}" for i in range(n_features)]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:After omitting NaNs")
def test_d_with_s0_zero_is_students_t_on_observed_values() -> None:
    adata = _two_groups(50, 5, seed=1)
    x = adata.X.copy()
    x[[0, 7], 3] = np.nan
    x[:, 4] = np.nan
    x[[1, 2, 3, 4, 5, 6, 7, 8], 5] = np.nan  # one value per group left: not tested
    adata.X = x
    kom.tl.permutation_fdr(adata, s0=0.0, n_permutations=20)
    tab = adata.uns["permutation_fdr"]["table"]
    wd = x[5:].T
    ct = x[:5].T
    ref = stats.ttest_ind(wd, ct, axis=1, nan_policy="omit")
    ok = np.arange(50) != 4
    ok[5] = False
    np.testing.assert_allclose(tab["d"].to_numpy()[ok], np.asarray(ref.statistic)[ok], rtol=1e-10)
    np.testing.assert_allclose(tab["t"].to_numpy()[ok], np.asarray(ref.statistic)[ok], rtol=1e-10)
    np.testing.assert_allclose(tab["pvalue"].to_numpy()[ok], np.asarray(ref.pvalue)[ok], rtol=1e-8)
    np.testing.assert_allclose(
        tab["log2fc"].to_numpy()[ok], (np.nanmean(wd, 1) - np.nanmean(ct, 1))[ok], rtol=1e-10
    )
    assert tab.loc[3, ["n_a", "n_b"]].tolist() == [4, 4]
    assert tab.loc[[4, 5], ["d", "qvalue", "pvalue"]].isna().all().all()
    assert not tab.loc[[4, 5], "significant"].any()


def test_d_with_s0_adds_the_fudge_factor() -> None:
    adata = _two_groups(30, 4, seed=2)
    kom.tl.permutation_fdr(adata, s0=0.1, n_permutations=10, key_added="s0")
    kom.tl.permutation_fdr(adata, s0=0.0, n_permutations=10, key_added="t")
    a = adata.uns["s0"]["table"]
    b = adata.uns["t"]["table"]
    np.testing.assert_allclose(a["d"], a["log2fc"] / (a["s"] + 0.1), rtol=1e-12)
    np.testing.assert_allclose(a["s"], b["log2fc"] / b["t"], rtol=1e-10)
    assert (np.abs(a["d"]) < np.abs(b["d"])).all()


def _reference_q(d_obs: np.ndarray, d_null: np.ndarray, pi0: float) -> np.ndarray:
    """SAM's FDR and q-value written literally: one cut-off at a time."""
    x = np.abs(d_obs)
    null = np.abs(d_null).ravel()
    b = d_null.shape[1]
    fdr = np.array([pi0 * np.sum(null >= c) / b / np.sum(x >= c) for c in x])
    return np.array([min(1.0, min(fdr[x <= c])) for c in x])


def test_q_values_match_the_literal_definition() -> None:
    rng = np.random.default_rng(3)
    d_obs = np.r_[rng.normal(size=80), rng.normal(4.0, 1.0, size=20)]
    d_obs[5] = d_obs[6]  # a tie
    d_null = rng.normal(size=(100, 30))
    for pi0 in (1.0, 0.8):
        q, p = fdr_from_null(d_obs, d_null, pi0)
        np.testing.assert_allclose(q, _reference_q(d_obs, d_null, pi0), rtol=1e-12)
        n_ge = (np.abs(d_null).ravel()[None, :] >= np.abs(d_obs)[:, None]).sum(axis=1)
        np.testing.assert_allclose(p, (n_ge + 1) / (d_null.size + 1), rtol=1e-12)
    assert q[5] == q[6]


def test_permutations_stay_within_blocks_and_are_seeded() -> None:
    labels = np.array([True, False] * 6)
    blocks = np.repeat(np.arange(6), 2)
    perm = permutation_labels(labels, blocks, 1000, np.random.default_rng(0))
    assert perm.shape == (1000, 12)
    # each block (an animal with one control and one withdrawal sample) keeps one of each
    np.testing.assert_array_equal(perm.reshape(1000, 6, 2).sum(axis=2), np.ones((1000, 6)))
    assert len({p.tobytes() for p in perm}) == 64  # all 2^6 swaps appear in 1000 draws
    again = permutation_labels(labels, blocks, 1000, np.random.default_rng(0))
    np.testing.assert_array_equal(perm, again)
    free = permutation_labels(labels, np.zeros(12, dtype=np.int64), 50, np.random.default_rng(1))
    assert (free.sum(axis=1) == 6).all()
    assert (free.reshape(50, 6, 2).sum(axis=2) != 1).any()


def test_block_restricts_the_permutations_of_a_paired_design() -> None:
    adata = _two_groups(40, 6, seed=4)
    kom.tl.permutation_fdr(adata, block="subject", n_permutations=250)
    params = adata.uns["permutation_fdr"]["params"]
    assert 55 <= params["n_distinct_permutations"] <= 64  # 2^6 possible swaps
    assert params["block"] == "subject"
    kom.tl.permutation_fdr(adata, n_permutations=250, key_added="free")
    assert adata.uns["free"]["params"]["n_distinct_permutations"] > 200


def _mean_fdp(n_sets: int, n_features: int, n_changed: int, alpha: float) -> tuple[float, float]:
    fdp = []
    found = []
    for seed in range(n_sets):
        adata = _two_groups(n_features, 6, seed=100 + seed, n_changed=n_changed, effect=1.2)
        kom.tl.permutation_fdr(adata, s0=0.1, n_permutations=50, fdr=alpha, seed=seed)
        sig = adata.uns["permutation_fdr"]["table"]["significant"].to_numpy()
        false = int(sig[n_changed:].sum())
        fdp.append(false / sig.sum() if sig.sum() else 0.0)
        found.append(sig[:n_changed].mean() if n_changed else 0.0)
    return float(np.mean(fdp)), float(np.mean(found))


def test_fdr_is_calibrated_on_null_data() -> None:
    # all features unchanged: FDP is 1 when anything is called, so mean FDP = P(any call);
    # 40 data sets give a standard error of about 0.05 around alpha = 0.1 (150 sets: 0.11)
    fdr, _ = _mean_fdp(40, 300, 0, 0.1)
    assert fdr <= 0.1 + 0.1


def test_fdr_is_calibrated_on_partly_null_data() -> None:
    # 10% changed: pi0 = 1 makes the estimate conservative (150 data sets: mean FDP 0.075)
    fdr, power = _mean_fdp(15, 1000, 100, 0.1)
    assert fdr <= 0.1 + 0.02
    assert fdr > 0.02
    assert power > 0.5


def test_planted_markers_are_found(protein: ad.AnnData) -> None:
    adata = protein.copy()
    kom.tl.permutation_fdr(adata, s0=0.1, n_permutations=250, fdr=0.05)
    tab = adata.uns["permutation_fdr"]["table"]
    changed = (adata.var["true_log2fc_withdrawal_vs_control"] != 0).to_numpy()
    sig = tab["significant"].to_numpy()
    assert tab.loc[tab["gene"] == "Rab35", "significant"].item()
    assert sig.sum() >= 20
    assert (sig & ~changed).sum() / sig.sum() <= 0.15
    assert tab["contrast"].unique().tolist() == ["withdrawal - control"]
    np.testing.assert_array_equal(tab["padj"], tab["qvalue"])


def test_seed_reproduces_and_changes_the_result() -> None:
    adata = _two_groups(300, 5, seed=5, n_changed=20, effect=1.0)
    kom.tl.permutation_fdr(adata, seed=1, key_added="a")
    kom.tl.permutation_fdr(adata, seed=1, key_added="b")
    kom.tl.permutation_fdr(adata, seed=2, key_added="c")
    a, b, c = (adata.uns[k]["table"] for k in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["qvalue"], c["qvalue"])
    np.testing.assert_array_equal(a["d"], c["d"])


def test_permutations_are_computed_in_batches_not_one_by_one(monkeypatch) -> None:
    """The null statistics of many labellings come from a few matrix products (one batch of
    labellings per call), not from a loop over permutations: 2,000 features x 100 permutations
    take one call for the observed labelling and one for the permutations."""
    from kratom_omics.tl import _permutation

    calls: list[int] = []
    original = _permutation.relative_difference

    def counting(y, in_a, in_b, s0, min_obs):
        calls.append(in_a.shape[0])
        return original(y, in_a, in_b, s0, min_obs)

    monkeypatch.setattr(_permutation, "relative_difference", counting)
    adata = _two_groups(2000, 6, seed=6)
    kom.tl.permutation_fdr(adata, n_permutations=100)
    assert calls == [1, 100]
    assert adata.uns["permutation_fdr"]["params"]["n_permutations"] == 100


def test_s0_curve_is_the_d0_boundary_in_volcano_coordinates() -> None:
    adata = _two_groups(400, 5, seed=7, n_changed=30, effect=1.5)
    kom.tl.permutation_fdr(adata, s0=0.2, n_permutations=100, fdr=0.05)
    res = adata.uns["permutation_fdr"]
    params, tab, curve = res["params"], res["table"], res["s0_curve"]
    d0 = params["d0"]
    assert np.isfinite(d0)
    assert list(curve.columns) == ["contrast", "log2fc", "neg_log10_p"]
    assert set(curve["contrast"]) == {"withdrawal - control"}
    assert (curve["log2fc"] > 0).sum() == (curve["log2fc"] < 0).sum() > 50
    # invert the volcano coordinates: t from p, s = |fc| / t; then |fc| / (s + s0) = d0
    fc = np.abs(curve["log2fc"].to_numpy())
    t = stats.t.isf(10 ** -curve["neg_log10_p"].to_numpy() / 2, params["df"])
    np.testing.assert_allclose(fc / (fc / t + 0.2), d0, rtol=1e-6)
    assert fc.min() > d0 * 0.2
    # significant features are exactly those on or beyond the curve
    complete = (tab["n_a"] == 5) & (tab["n_b"] == 5)
    np.testing.assert_array_equal(
        tab.loc[complete, "significant"], np.abs(tab.loc[complete, "d"]) >= d0
    )
    assert params["n_significant"] == int(tab["significant"].sum()) >= 25
    np.testing.assert_array_equal(tab["significant"], tab["qvalue"] < 0.05)


def test_volcano_draws_the_s0_curve() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adata = _two_groups(300, 5, seed=8, n_changed=30, effect=1.5)
    kom.tl.permutation_fdr(adata, n_permutations=50)
    ax = kom.pl.volcano(adata, key="permutation_fdr").axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_gid() == "s0-curve"]
    assert len(lines) == 2
    up = next(c for c in ax.collections if c.get_gid() == "up")
    assert len(up.get_offsets()) == int(
        (adata.uns["permutation_fdr"]["table"].query("significant")["log2fc"] > 0).sum()
    )
    plt.close(ax.figure)


def test_nothing_significant_gives_an_empty_curve() -> None:
    adata = _two_groups(200, 4, seed=9)
    kom.tl.permutation_fdr(adata, n_permutations=50, fdr=0.01)
    res = adata.uns["permutation_fdr"]
    assert res["params"]["n_significant"] == 0
    assert np.isnan(res["params"]["d0"])
    assert res["s0_curve"].shape == (0, 3)


def test_sam_pi0_is_below_one_with_many_changes() -> None:
    adata = _two_groups(500, 6, seed=10, n_changed=200, effect=1.5)
    kom.tl.permutation_fdr(adata, pi0="sam", n_permutations=50, key_added="sam")
    kom.tl.permutation_fdr(adata, n_permutations=50, key_added="one")
    pi0 = adata.uns["sam"]["params"]["pi0_used"]
    assert 0.4 < pi0 < 0.9
    q_sam = adata.uns["sam"]["table"]["qvalue"].to_numpy()
    q_one = adata.uns["one"]["table"]["qvalue"].to_numpy()
    np.testing.assert_allclose(q_sam, np.minimum(q_one * pi0, 1.0), rtol=1e-12)


def test_bad_arguments_raise_clear_errors() -> None:
    adata = _two_groups(20, 3, seed=11)
    with pytest.raises(
        DesignError,
        match=r"contrast='withdrawal - baseline' is not a difference of two levels of 'phase'",
    ):
        kom.tl.permutation_fdr(adata, contrast="withdrawal - baseline")
    with pytest.raises(
        DesignError, match=r"s0 must be a finite number >= 0 \(e.g. 0.1\); got s0=-1"
    ):
        kom.tl.permutation_fdr(adata, s0=-1)
    with pytest.raises(KeyNotFoundError, match=r"block='animal' is not a column of adata.obs"):
        kom.tl.permutation_fdr(adata, block="animal")
    with pytest.raises(
        KeyNotFoundError, match=r"groupby='phse' is not a column of adata.obs. Did you mean 'phase'"
    ):
        kom.tl.permutation_fdr(adata, "phse")
    with pytest.raises(DesignError, match=r"pi0='storey' is not available"):
        kom.tl.permutation_fdr(adata, pi0="storey")
    small = adata[[0, 1, 3]].copy()
    with pytest.raises(
        DesignError,
        match=r"contrast 'withdrawal - control': 1 sample\(s\) of 'withdrawal' and 2 of 'control'; each group needs at least min_obs=2\.",
    ):
        kom.tl.permutation_fdr(small)


def test_reversed_contrast_and_h5ad_round_trip(tmp_path: Path) -> None:
    adata = _two_groups(100, 4, seed=12, n_changed=10)
    kom.tl.permutation_fdr(adata, contrast="control-withdrawal", n_permutations=30)
    res = adata.uns["permutation_fdr"]
    assert res["contrasts"] == ["control - withdrawal"]
    assert (res["table"]["log2fc"].iloc[:10] < 0).all()
    path = tmp_path / "perm.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(
        back.uns["permutation_fdr"]["table"], res["table"], check_dtype=False
    )
    pd.testing.assert_frame_equal(
        back.uns["permutation_fdr"]["s0_curve"], res["s0_curve"], check_dtype=False
    )
    assert back.uns["permutation_fdr"]["params"]["s0"] == 0.1
    # the engine's getter reads the table too
    top = kom.get.differential(back, key="permutation_fdr", sort_by="pvalue")
    assert top.shape == (100, len(res["table"].columns))
    assert top["pvalue"].is_monotonic_increasing
