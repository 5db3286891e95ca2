"""Report sections read results through the one accessor: parquet results, any biomarker key,
dask-backed data, trajectories chosen from the candidate list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape as markup_escape

import kratom_omics as kom


def test_f_table_of_results_written_to_parquet(tmp_path, study):
    a = study["protein"].copy()
    kom.tl.differential(a, "phase", out=tmp_path / "res")
    assert "f_table" not in a.uns["differential"]  # only its path is stored
    out = kom.report.html({"protein": a}, tmp_path / "r.html", figures=False)
    text = out.read_text()
    assert "F-test over all contrasts" in text
    f_tsv = pd.read_csv(tmp_path / "r_tables" / "protein_differential_F.tsv", sep="\t")
    expected = pd.read_parquet(tmp_path / "res" / "f_table.parquet")
    assert len(f_tsv) == a.n_vars == len(expected)
    np.testing.assert_allclose(
        np.sort(f_tsv["pvalue"].to_numpy()), np.sort(expected["pvalue"].to_numpy())
    )


def test_candidates_found_under_any_key(tmp_path, study):
    a = study["protein"].copy()
    a.uns["markers"] = a.uns.pop("biomarkers")
    out = kom.report.html({"protein": a}, tmp_path / "r.html", figures=False)
    text = out.read_text()
    assert 'id="m0-biomarkers"' in text
    cand = pd.read_csv(tmp_path / "r_tables" / "protein_biomarkers.tsv", sep="\t")
    assert "Rab35" in set(cand["candidate"])


def test_trajectories_default_to_the_candidate_list(tmp_path, monkeypatch):
    a = kom.datasets.simulate("protein", seed=1, n_features=40, n_per_phase=3)
    kom.tl.differential(a, "phase")
    drawn: list[list[str]] = []
    real = kom.pl.trajectories

    def spy(adata, features, **kwargs):
        drawn.append(list(features))
        return real(adata, features, **kwargs)

    monkeypatch.setattr(kom.pl, "trajectories", spy)
    kom.report.html({"protein": a}, tmp_path / "r.html", dpi=30)
    listed = kom.io.read_candidates()
    protein = listed.loc[listed["modality"] == "protein", "candidate"].tolist()
    assert drawn, "no trajectory figure"
    genes = a.var.loc[drawn[0], "gene"].astype(str).str.lower().tolist()
    assert genes[:2] == [c.lower() for c in protein[:2]]  # Rab35, Hdac2 in list order


def test_dask_backed_data_are_summarised_without_loading(tmp_path, study):
    da = pytest.importorskip("dask.array")
    a = study["protein"].copy()
    x = np.asarray(a.X, dtype=float)
    a.X = da.from_array(x, chunks=(x.shape[0], 16))
    out = kom.report.html({"protein": a}, tmp_path / "r.html", dpi=30)
    text = out.read_text()
    assert "figures over the whole matrix are skipped" in text
    samples = pd.read_csv(tmp_path / "r_tables" / "protein_samples.tsv", sep="\t")
    expected = dict(zip(a.obs_names.astype(str), np.isfinite(x).sum(axis=1), strict=True))
    assert samples.set_index("sample")["features_detected"].to_dict() == expected
    assert 'id="m0-results"' in text  # the results section still comes from the stored result


def test_findings_come_first_and_histone_effects_are_named_after_their_scale(tmp_path):
    """A protein and a logit-transformed histone modality: the page opens with every candidate
    across modalities (concordance as the biomarker table defines it, AUC in the expected
    direction) and the histone effects are log2 odds ratios, not log2 fold changes."""
    from kratom_omics.tl._biomarkers import flag_biomarkers

    p = kom.datasets.simulate("protein", seed=3, n_features=60, n_per_phase=4)
    kom.tl.differential(p, "phase")
    flag_biomarkers(p, n_boot=0)
    h = kom.datasets.simulate("histone", seed=4, n_per_phase=4)
    h.X = h.layers["raw"].copy()
    kom.pp.histone_transform(h, "logit")
    kom.tl.differential(h, "phase")
    flag_biomarkers(h, n_boot=0)
    out = kom.report.html({"protein": p, "histone": h}, tmp_path / "r.html", dpi=40)
    text = out.read_text()
    assert text.index('id="findings"') < text.index('id="summary"') < text.index('id="m0"')
    assert 'id="summary-f1"' in text  # the headline figure: top markers' trajectories
    assert text.index('id="summary-f1"') < text.index('id="summary"')
    assert text.count('<details class="samples">') == 2

    summary = pd.read_csv(tmp_path / "r_tables" / "summary_candidates.tsv", sep="\t")
    rows = summary.set_index(["candidate", "modality"])
    assert rows.loc[("Rab35", "protein"), "scale"] == "log2"
    assert rows.loc[("H3K9ac", "histone"), "scale"] == "logit"
    for name, mod, adata in (("Rab35", "protein", p), ("H3K9ac", "histone", h)):
        cand = adata.uns["biomarkers"]["candidates"].set_index("candidate").loc[name]
        row = rows.loc[(name, mod)]
        assert row["effect"] == pytest.approx(cand["log2fc"])
        assert row["padj"] == pytest.approx(cand["padj"])
        assert bool(row["concordant"]) == bool(cand["concordant"])
        assert bool(row["concordant"]) == (cand["status"] == "concordant")
    assert rows.loc[("H3K9ac", "histone"), "observed"] == "down"
    assert rows.loc[("H3K9ac", "histone"), "auc"] > 0.75  # a down-marker, in its direction
    assert rows.loc[("H3K9ac", "histone"), "auc_direction"] == "withdrawal < control"
    n_conc = int((summary["concordant"].astype(str) == "True").sum())
    names = summary.loc[(summary["concordant"].astype(str) == "True"), "candidate"].unique()
    assert f"{len(names)} of {summary['candidate'].nunique()} candidate markers concordant" in text
    assert n_conc >= 2

    hist = pd.read_csv(tmp_path / "r_tables" / "histone_differential.tsv", sep="\t")
    assert {"log2_odds_ratio", "mean_logit"} <= set(hist.columns)
    assert not {"log2fc", "mean_log2"} & set(hist.columns)
    np.testing.assert_allclose(
        hist["log2_odds_ratio"].to_numpy(),
        kom.get.differential(h)["log2fc"].to_numpy(),
        equal_nan=True,
    )
    assert "<th>log2_odds_ratio</th>" in text
    assert "logit values (log2 odds" in text
    prot = pd.read_csv(tmp_path / "r_tables" / "protein_differential.tsv", sep="\t")
    assert "log2fc" in prot.columns


def test_methods_text_names_the_moderation_method(tmp_path):
    a = kom.datasets.simulate("protein", seed=2, n_features=200, n_per_phase=4, n_batches=1)
    kom.pp.recipe(a, transform="none", groupby="phase")
    kom.tl.differential(a, "phase", method="dpc")
    p = a.uns["differential"]["params"]
    out = kom.report.html({"protein": a}, tmp_path / "r.html", figures=False)
    text = out.read_text()
    assert "one linear model per feature with its missing values as evidence" in text
    expected = (
        "group means estimated from a detection probability curve logit P(detected) = "
        f"{p['dpc_beta0']:.3g} + {p['dpc_beta1']:.3g} y, {p['dpc_n_filled']} missing values used"
    )
    assert expected in text
    assert "matching limma" not in text.split('id="methods"')[1]


def test_protein_vs_promoter_mark(tmp_path):
    """Proteins and H3K9ac tracks: the pairs of tl.cross_modality in their own section and TSV,
    the scatter, and the mark at each candidate gene's promoter among the findings."""
    from kratom_omics.tl._biomarkers import flag_biomarkers

    p = kom.datasets.simulate("protein", seed=7, n_features=60, n_per_phase=4)
    t = kom.datasets.simulate("tracks", seed=7, n_features=60, n_per_phase=4)
    for a in (p, t):
        kom.tl.differential(a, "phase")
        flag_biomarkers(a, n_boot=0)
    study = {"protein": p, "tracks": t}
    out = kom.report.html(study, tmp_path / "r.html", dpi=40)
    text = out.read_text()
    assert text.index('id="findings"') < text.index('id="pairs"') < text.index('id="summary"')
    assert "<h2>Protein vs promoter mark</h2>" in text
    assert '<a href="#pairs">Protein vs promoter mark</a>' in text
    assert 'id="pairs-f1"' in text  # the scatter
    # computed as tl.cross_modality computes them (nothing stored yet)
    kom.tl.cross_modality(study, n_boot=0)
    want = kom.get.cross_modality(study)
    got = pd.read_csv(tmp_path / "r_tables" / "cross_modality_pairs.tsv", sep="\t")
    assert len(got) == len(want) == 60 * 2  # the two default contrasts
    np.testing.assert_allclose(got["mark_log2fc"], want["mark_log2fc"])
    assert got["region"].tolist() == want["region"].tolist()
    assert got["candidate"].fillna("").tolist()[:2] == ["Rab35", "Rab35"]
    # the findings: each candidate gene's promoter beside its protein
    summary = pd.read_csv(tmp_path / "r_tables" / "summary_candidates.tsv", sep="\t")
    rab = summary[summary["candidate"] == "Rab35"]
    assert rab["modality"].tolist() == ["protein", "tracks"]
    row = rab.iloc[1]
    pair = want[(want["gene"] == "Rab35") & (want["contrast"] == "withdrawal - control")].iloc[0]
    assert row["feature"] == "H3K9ac at Rab35_promoter"
    assert row["effect"] == pytest.approx(pair["mark_log2fc"])
    assert row["padj"] == pytest.approx(pair["mark_padj"])
    status = (
        ("down" if pair["mark_log2fc"] < 0 else "up")
        if pair["mark_significant"]
        else ("not significant")
    )
    assert row["status"] == status
    headline = f"H3K9ac at the candidate genes' promoters (tracks): Rab35 {status}, Hdac2 "
    assert str(markup_escape(headline)) in text
    assert "H3K9ac at Rab35 (tracks)" not in text  # titles are in the figure, not the page
    # the headline panels: each candidate gene's promoter beside its protein, a region once
    # (the mark's best region may be a candidate gene's promoter)
    from kratom_omics.report._sections import _headline_features, resolve

    mods = [
        resolve(i, n, a, key="differential", fdr=None, lfc=None, dpi=40, draw=False, tables={},
                tables_rel="t")
        for i, (n, a) in enumerate(study.items())
    ]  # fmt: skip
    picks = [(m.name, f, c) for m, f, c in _headline_features(mods, want)]
    assert len(picks) == len({(m, f) for m, f, _ in picks})
    protein_rab = p.var_names[p.var["gene"] == "Rab35"][0]
    rab = [(m, f) for m, f, c in picks if c == "Rab35"]
    assert rab == [("protein", protein_rab), ("tracks", "Rab35_promoter")]
    assert "H3K9ac at each region (titled by its gene)" in text
    # stored pairs are used as they are
    p.uns["cross_modality"]["pairs"] = want.iloc[:3].reset_index(drop=True)
    kom.report.html(study, tmp_path / "s.html", dpi=40, figures=False)
    assert len(pd.read_csv(tmp_path / "s_tables" / "cross_modality_pairs.tsv", sep="\t")) == 3
    # without tracks, no such section
    plain = kom.report.html({"protein": p}, tmp_path / "p.html", dpi=40, figures=False)
    assert 'id="pairs"' not in plain.read_text()
