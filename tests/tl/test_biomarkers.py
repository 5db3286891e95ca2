"""flag_biomarkers: feature statuses, candidate matching, on/off markers, FDR control."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError, ResultNotFoundError
from kratom_omics.tl._biomarkers import CANDIDATE_STATUSES, FEATURE_STATUSES, normalize_mark

CONTRASTS = ("withdrawal - control", "withdrawal - use", "use - control")
TABLE_COLUMNS = [
    "feature", "contrast", "log2fc", "se", "ci_low", "ci_high", "mean_log2", "t", "df_total",
    "pvalue", "padj", "B", "s2_post", "df_residual", "n_obs",
]  # fmt: skip


def differential_table(adata, contrasts=CONTRASTS, groupby="phase", key="differential"):
    """Store a result shaped like kom.tl.differential's (pooled-variance t-tests, BH-adjusted)."""
    g = adata.obs[groupby].astype(str).to_numpy()
    x = np.asarray(adata.X, dtype=float)
    frames = []
    for c in contrasts:
        a, b = c.split(" - ")
        xa, xb = x[g == a], x[g == b]
        na, nb = (~np.isnan(xa)).sum(0), (~np.isnan(xb)).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ma, mb = np.nanmean(xa, 0), np.nanmean(xb, 0)
            df = na + nb - 2.0
            s2 = (np.nansum((xa - ma) ** 2, 0) + np.nansum((xb - mb) ** 2, 0)) / df
            se = np.sqrt(s2 * (1 / na + 1 / nb))
            t = (ma - mb) / se
            p = 2 * stats.t.sf(np.abs(t), df)
        ok = np.isfinite(p)
        padj = np.full(p.size, np.nan)
        padj[ok] = stats.false_discovery_control(p[ok])
        q = stats.t.ppf(0.975, np.maximum(df, 1))
        frames.append(
            pd.DataFrame(
                {
                    "feature": adata.var_names,
                    "contrast": c,
                    "log2fc": ma - mb,
                    "se": se,
                    "ci_low": ma - mb - q * se,
                    "ci_high": ma - mb + q * se,
                    "mean_log2": np.nanmean(np.r_[xa, xb], 0),
                    "t": t,
                    "df_total": df,
                    "pvalue": p,
                    "padj": padj,
                    "B": np.nan,
                    "s2_post": s2,
                    "df_residual": df,
                    "n_obs": na + nb,
                }
            )
        )
    adata.uns[key] = {
        "params": {"groupby": groupby, "contrasts": list(contrasts)},
        "contrasts": list(contrasts),
        "table": pd.concat(frames, ignore_index=True)[TABLE_COLUMNS],
    }
    return adata


@pytest.fixture(scope="module")
def protein():
    with np.errstate(all="ignore"):
        return differential_table(kom.datasets.simulate("protein", seed=3, n_features=300))


@pytest.fixture(scope="module")
def histone():
    with np.errstate(all="ignore"):
        return differential_table(kom.datasets.simulate("histone", seed=1))


def cands(rows):
    return pd.DataFrame(
        rows, columns=["candidate", "modality", "contrast", "direction", "evidence"]
    )


def test_planted_protein_markers_are_flagged_up(protein):
    adata = protein.copy()
    kom.tl.flag_biomarkers(adata, n_boot=200)
    res = adata.uns["biomarkers"]
    c = res["candidates"].set_index("candidate")
    assert c.loc["Rab35", "status"] == "concordant"
    assert c.loc["Rab35", "observed"] == "up"
    assert c.loc["Rab35", "label"] == "Rab35"
    assert c.loc["Rab35", "log2fc"] == pytest.approx(1.5, abs=0.5)
    assert c.loc["Rab35", "padj"] < 0.05
    assert c.loc["Rab35", "auc"] > 0.9
    assert c.loc["Rab35", "auc_ci_low"] <= c.loc["Rab35", "auc"] <= c.loc["Rab35", "auc_ci_high"]
    assert c.loc["Hdac2", "observed"] == "up"
    assert bool(c.loc["Hdac2", "concordant"])
    # every sample of each phase measured the planted markers (the simulator keeps them complete)
    assert c.loc[
        "Rab35", ["n_detected_control", "n_detected_use", "n_detected_withdrawal"]
    ].tolist() == [6, 6, 6]
    # histone candidates are kept and reported, not dropped
    assert c.loc["H3K9ac", "status"] == "not measured"
    assert not c.loc["H3K9ac", "found"]
    assert "histone candidate; these data are protein" in c.loc["H3K9ac", "note"]
    assert set(res["candidates"]["status"]) <= set(CANDIDATE_STATUSES)
    assert res["params"]["modality"] == "protein"
    assert res["params"]["alpha"] == 0.05
    steps = adata.uns["kratom_omics"]["provenance"]
    assert steps[sorted(steps)[-1]]["function"] == "kratom_omics.tl.flag_biomarkers"


def test_feature_table_flags_follow_thresholds(protein):
    adata = protein.copy()
    kom.tl.flag_biomarkers(adata, alpha=0.1, min_abs_log2fc=0.8, n_boot=0)
    f = adata.uns["biomarkers"]["features"]
    assert len(f) == adata.n_vars * len(CONTRASTS)
    expect = (f["padj"] < 0.1) & (f["log2fc"].abs() >= 0.8)
    assert (f["significant"] == expect).all()
    assert expect.sum() > 5
    assert (f.loc[expect & (f["log2fc"] > 0), "status"] == "up").all()
    assert (f.loc[expect & (f["log2fc"] < 0), "status"] == "down").all()
    assert (f.loc[~expect & f["log2fc"].notna(), "status"] == "not significant").all()
    assert (f.loc[f["log2fc"].isna(), "status"] == "not tested").all()
    assert set(f["status"]) <= set(FEATURE_STATUSES)
    rab = f[(f["label"] == "Rab35") & (f["contrast"] == "withdrawal - control")].iloc[0]
    assert rab["candidates"] == "Rab35"
    # detection counts are the observed values per phase
    g = adata.obs["phase"].astype(str).to_numpy()
    j = int(np.flatnonzero(np.isnan(adata.X).any(0))[0])
    row = f[(f["feature"] == adata.var_names[j])].iloc[0]
    assert row["n_detected_use"] == int((~np.isnan(adata.X[g == "use", j])).sum())


def test_aucs_equal_sklearn(protein):
    adata = protein.copy()
    kom.tl.flag_biomarkers(adata, n_boot=0)
    f = adata.uns["biomarkers"]["features"]
    g = adata.obs["phase"].astype(str).to_numpy()
    for contrast in ("withdrawal - use", "use - control"):
        a, b = contrast.split(" - ")
        sub = f[f["contrast"] == contrast].iloc[:40]
        n_down = 0
        for feat, auc, fc, way in zip(
            sub["feature"], sub["auc"], sub["log2fc"], sub["auc_direction"], strict=True
        ):
            x = adata[:, feat].X.ravel()
            keep = np.isin(g, [a, b]) & ~np.isnan(x)
            y = g[keep] == a
            if 0 < y.sum() < y.size:
                # in the direction of the change: sklearn's AUC of the group where it is higher
                down = fc < 0
                n_down += down
                expected = roc_auc_score(y if not down else ~y, x[keep])
                assert auc == pytest.approx(expected, abs=1e-12)
                assert way == f"{a} {'<' if down else '>'} {b}"
            else:  # a group without values: no AUC
                assert np.isnan(auc)
        assert n_down > 5


def test_planted_histone_marks_are_flagged_down(histone):
    adata = histone.copy()
    kom.tl.flag_biomarkers(adata, n_boot=100)
    c = adata.uns["biomarkers"]["candidates"].set_index("candidate")
    assert adata.uns["biomarkers"]["params"]["modality"] == "histone"
    for mark in ("H3K9ac", "H4K12ac"):
        assert c.loc[mark, "found"]
        assert c.loc[mark, "observed"] == "down", mark
        # one definition: concordant = significant in the expected direction
        assert bool(c.loc[mark, "concordant"]) == (c.loc[mark, "status"] == "concordant"), mark
        assert c.loc[mark, "auc"] > 0.75  # in the expected (down) direction
        assert c.loc[mark, "auc_direction"] == "withdrawal < control"
    assert c.loc["H3K9ac", "status"] == "concordant"
    assert bool(c.loc["H3K9ac", "concordant"])
    assert pd.isna(c.loc["Rab35", "concordant"])
    assert set(c.loc["H3K9ac", "features"].split(";")) == {"H3_9_17 K9ac", "H3_9_17 K9acK14ac"}
    assert c.loc["H4K12ac", "n_features"] == 5
    assert c.loc["Rab35", "status"] == "not measured"


def _symbols_adata(genes, names=None):
    n = len(genes)
    rng = np.random.default_rng(0)
    obs = pd.DataFrame(
        {"phase": pd.Categorical(["control"] * 4 + ["withdrawal"] * 4, ["control", "withdrawal"])},
        index=[f"s{i}" for i in range(8)],
    )
    var = pd.DataFrame({"gene": genes}, index=names or [f"P{i:05d}" for i in range(n)])
    x = rng.normal(20, 1, (8, n))
    return ad.AnnData(x, obs=obs, var=var)


def test_symbols_match_across_spellings_and_protein_groups():
    adata = _symbols_adata(["RAB35", "Rab1a;Rab35", "rab35", "Rab350", "Rab3a", None])
    differential_table(adata, contrasts=("withdrawal - control",))
    cand = cands([["Rab35", "protein", "withdrawal - control", "up", "x"]])
    kom.tl.flag_biomarkers(adata, candidates=cand, n_boot=0)
    c = adata.uns["biomarkers"]["candidates"].iloc[0]
    assert c["found"]
    assert c["features"].split(";") == ["P00000", "P00001", "P00002"]
    assert c["n_features"] == 3
    f = adata.uns["biomarkers"]["features"]
    assert f["candidates"].tolist() == ["Rab35", "Rab35", "Rab35", "", "", ""]


def test_uniprot_entry_names_give_symbols():
    ids = ["sp|Q5U316|RAB35_RAT", "tr|A0A0G2K|A0A0G2K_RAT", "sp|P56524|HDAC4_HUMAN"]
    adata = _symbols_adata([None, None, None], names=ids)
    differential_table(adata, contrasts=("withdrawal - control",))
    cand = cands(
        [
            ["Rab35", "protein", "withdrawal - control", "up", "x"],
            ["Hdac4", "protein", "withdrawal - control", "up", "x"],
        ]
    )
    kom.tl.flag_biomarkers(adata, candidates=cand, n_boot=0)
    found = adata.uns["biomarkers"]["candidates"]["best_feature"].tolist()
    assert found == ["sp|Q5U316|RAB35_RAT", "sp|P56524|HDAC4_HUMAN"]


def test_aliases_match_other_symbols():
    adata = _symbols_adata(["Dlg4", "Gapdh"])
    differential_table(adata, contrasts=("withdrawal - control",))
    cand = cands([["PSD95", "protein", "withdrawal - control", "up", "x"]])
    cand["aliases"] = "DLG4"
    kom.tl.flag_biomarkers(adata, candidates=cand, n_boot=0)
    assert adata.uns["biomarkers"]["candidates"]["best_feature"].tolist() == ["P00000"]


def test_histone_marks_match_by_name_and_marks_column():
    names = [
        "H3_9_17 K9ac", "H3_9_17 K9acK14ac", "H3_9_17 K9me1", "H3_18_26 K18ac", "H3K9ac",
        "H4K12ac", "H33_27_40 K27ac", "H3.3K9ac", "H4_4_17 K12acK16ac",
    ]  # fmt: skip
    adata = _symbols_adata([None] * len(names), names=names)
    adata.var = adata.var.drop(columns="gene")
    differential_table(adata, contrasts=("withdrawal - control",))
    marks = cands(
        [
            ["H3K9ac", "histone", "withdrawal - control", "down", "x"],
            ["H4K12ac", "histone", "withdrawal - control", "down", "x"],
            ["H3K27ac", "histone", "withdrawal - control", "down", "x"],
            ["H3K4me3", "histone", "withdrawal - control", "down", "x"],
        ]
    )
    kom.tl.flag_biomarkers(adata, candidates=marks, modality="histone", n_boot=0)
    c = adata.uns["biomarkers"]["candidates"].set_index("candidate")
    assert c.loc["H3K9ac", "features"].split(";") == [
        "H3_9_17 K9ac", "H3_9_17 K9acK14ac", "H3K9ac", "H3.3K9ac",
    ]  # fmt: skip
    assert c.loc["H4K12ac", "features"].split(";") == ["H4K12ac", "H4_4_17 K12acK16ac"]
    assert c.loc["H3K27ac", "features"] == "H33_27_40 K27ac"
    assert c.loc["H3K4me3", "status"] == "not measured"
    assert c.loc["H3K4me3", "note"] == "no feature matches this candidate"
    # a marks column (as a western-blot or site table would carry) is matched too
    other = _symbols_adata([None, None], names=["band1", "band2"])
    other.var = pd.DataFrame({"mark": ["H3K9Ac", "H3K14ac"]}, index=["band1", "band2"])
    differential_table(other, contrasts=("withdrawal - control",))
    kom.tl.flag_biomarkers(other, candidates=marks, modality="histone", n_boot=0)
    assert other.uns["biomarkers"]["candidates"]["features"].tolist()[0] == "band1"


def test_normalize_mark():
    assert normalize_mark("H3K9ac") == "h3k9ac"
    assert normalize_mark("H3.3 K27me3") == "h3k27me3"
    assert normalize_mark("h4-K12Ac") == "h4k12ac"
    assert normalize_mark("Rab35") == ""


def test_absent_candidate_is_reported_not_measured(protein):
    adata = protein.copy()
    cand = cands(
        [
            ["Rab35", "protein", "withdrawal - control", "up", "a"],
            ["Npas4", "protein", "withdrawal - control", "up", "b"],
            ["Rab35", "protein", "control - withdrawal", "down", "c"],
            ["Rab35", "protein", "withdrawal - relapse", "up", "d"],
        ]
    )
    assert "Npas4" not in set(adata.var["gene"])
    kom.tl.flag_biomarkers(adata, candidates=cand, n_boot=0)
    c = adata.uns["biomarkers"]["candidates"]
    assert c["candidate"].tolist() == ["Rab35", "Npas4", "Rab35", "Rab35"]
    assert c["status"].tolist() == ["concordant", "not measured", "concordant", "not tested"]
    assert not c["found"][1]
    assert np.isnan(c["log2fc"][1])
    # the reversed contrast is read with the sign flipped
    assert c["log2fc"][2] == pytest.approx(-c["log2fc"][0])
    # each in its expected direction: the same separation, stated both ways
    assert c["auc"][2] == pytest.approx(c["auc"][0])
    assert c["auc"][0] > 0.9
    assert c["auc_direction"][0] == "withdrawal > control"
    assert c["auc_direction"][2] == "control < withdrawal"
    assert "sign flipped" in c["note"][2]
    assert "contrast 'withdrawal - relapse' not in the differential results" in c["note"][3]


def test_infinite_log2fc_is_an_on_off_marker(protein):
    adata = protein.copy()
    table = adata.uns["differential"]["table"].copy()
    rab = adata.var_names[adata.var["gene"] == "Rab35"][0]
    row = (table["feature"] == rab) & (table["contrast"] == "withdrawal - control")
    table.loc[row, ["log2fc", "padj"]] = [np.inf, 0.01]
    other = (table["feature"] == adata.var_names[0]) & (table["contrast"] == "withdrawal - use")
    table.loc[other, ["log2fc", "padj"]] = [-np.inf, np.nan]
    adata.uns["differential"] = {**adata.uns["differential"], "table": table}
    kom.tl.flag_biomarkers(adata, n_boot=0)
    f = adata.uns["biomarkers"]["features"]
    assert f.loc[row.to_numpy(), "status"].item() == "on/off"
    assert f.loc[row.to_numpy(), "direction"].item() == "up"
    assert f.loc[other.to_numpy(), "status"].item() == "on/off"
    assert f.loc[other.to_numpy(), "direction"].item() == "down"
    c = adata.uns["biomarkers"]["candidates"].set_index("candidate")
    assert c.loc["Rab35", "status"] == "on/off"
    assert bool(c.loc["Rab35", "concordant"])
    assert "detected in one group only" in c.loc["Rab35", "note"]


def test_false_discovery_proportion_is_controlled_across_seeds():
    alpha, fdp, power = 0.05, [], []
    for seed in range(10):
        with np.errstate(all="ignore"):
            adata = differential_table(
                kom.datasets.simulate("protein", seed=100 + seed, n_features=200),
                contrasts=("withdrawal - control",),
            )
        kom.tl.flag_biomarkers(adata, alpha=alpha, min_abs_log2fc=0.0, n_boot=0)
        f = adata.uns["biomarkers"]["features"]
        truth = adata.var["true_log2fc_withdrawal_vs_control"].reindex(f["feature"]).to_numpy() != 0
        sig = f["significant"].to_numpy()
        fdp.append((sig & ~truth).sum() / max(sig.sum(), 1))
        power.append((sig & truth).sum() / truth.sum())
        c = adata.uns["biomarkers"]["candidates"].set_index("candidate")
        assert c.loc["Rab35", "status"] == "concordant", seed
    assert np.mean(fdp) <= alpha + 0.03
    assert np.mean(power) > 0.2


def test_result_survives_h5ad(protein, tmp_path):
    adata = protein.copy()
    kom.tl.flag_biomarkers(adata, n_boot=50)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    for name in ("candidates", "features"):
        pd.testing.assert_frame_equal(
            back.uns["biomarkers"][name], adata.uns["biomarkers"][name], check_dtype=False
        )
    assert back.uns["biomarkers"]["params"]["min_abs_log2fc"] == 0.58


def test_bad_input_messages(protein):
    bare = protein.copy()
    del bare.uns["differential"]
    with pytest.raises(ResultNotFoundError, match=r"key='differential': no differential result"):
        kom.tl.flag_biomarkers(bare)
    with pytest.raises(DesignError, match=r"alpha=1.5; expected an FDR level between 0 and 1"):
        kom.tl.flag_biomarkers(protein.copy(), alpha=1.5)
    with pytest.raises(DesignError, match=r"modality='rna'"):
        kom.tl.flag_biomarkers(protein.copy(), modality="rna")
    sub = protein[:, 10:].copy()
    with pytest.raises(InputFormatError, match=r"not in adata.var_names \(\d+ rows\)"):
        kom.tl.flag_biomarkers(sub)
    broken = protein.copy()
    broken.uns["differential"] = {"table": pd.DataFrame({"feature": [], "contrast": []})}
    with pytest.raises(InputFormatError, match=r"lacks column\(s\) \['log2fc', 'padj'\]"):
        kom.tl.flag_biomarkers(broken)


def test_cross_modality_puts_both_modalities_side_by_side(protein, histone):
    p, h = protein.copy(), histone.copy()
    table = kom.tl.cross_modality({"protein": p, "histone": h}, n_boot=0)
    assert "biomarkers" in p.uns
    assert "biomarkers" in h.uns
    assert table[["modality", "candidate"]].values.tolist()[:4] == [
        ["protein", "Rab35"], ["protein", "Hdac2"], ["histone", "H3K9ac"], ["histone", "H4K12ac"],
    ]  # fmt: skip
    assert (table.loc[:3, "contrast"] == "withdrawal - control").all()
    assert table.loc[:3, "dataset"].tolist() == ["protein", "protein", "histone", "histone"]
    assert table.loc[0, "status"] == "concordant"
    assert table.loc[2, "observed"] == "down"
    assert len(table) == 5  # each candidate once, from the dataset of its modality


def test_marks_match_on_epiprofile_loader_output(data_dir):
    from kratom_omics.tl._biomarkers import match_candidates

    adata = kom.io.read_epiprofile(data_dir / "histone" / "histone_ratios.xls")
    cand = kom.io.read_candidates()
    hits = match_candidates(adata.var, cand, "histone")
    found = {cand["candidate"][i]: list(adata.var_names[j]) for i, j in hits.items()}
    assert found == {
        "H3K9ac": ["H3_9_17 K9ac", "H3_9_17 K9acK14ac"],
        "H4K12ac": ["H4_4_17 K12ac", "H4_4_17 K12acK16ac"],
    }


def test_log_line_counts_concordant_candidates_as_the_table_does(histone, caplog):
    """One definition: a not-significant candidate in the expected direction is not concordant,
    neither in the table nor in the run log."""
    adata = histone.copy()
    with caplog.at_level("INFO", logger="kratom_omics"):
        kom.tl.flag_biomarkers(adata, n_boot=0, alpha=1e-6)
    c = adata.uns["biomarkers"]["candidates"].set_index("candidate")
    assert c.loc["H4K12ac", "observed"] == "down"
    assert c.loc["H4K12ac", "status"] == "not significant"
    assert not c.loc["H4K12ac", "concordant"]
    n = int(c["concordant"].fillna(False).sum())
    line = next(r.getMessage() for r in caplog.records if "candidates concordant" in r.getMessage())
    assert f"; {n} of {len(c)} candidates concordant" in line
    from kratom_omics.tl._biomarkers import is_concordant

    assert is_concordant(True, "down", "down")
    assert not is_concordant(False, "down", "down")
    assert not is_concordant(True, "up", "down")
