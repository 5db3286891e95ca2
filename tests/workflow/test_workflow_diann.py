"""The workflow on a user's own DIA-NN export and bigWig tracks: a full run of its own (in its own file, so that it
can run on another worker than the example-data run of test_workflow.py)."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest


def test_own_diann_export_and_bigwig_tracks_with_own_configfile(workflow, tmp_path):
    """A user points their own config (--configfile) at a DIA-NN pg_matrix (raw-file paths as
    columns), H3K9ac bigWig tracks with a gene annotation, and a sample sheet: it replaces
    config/config.yaml as a whole, so only their two modalities run (the example's histone and
    western inputs are not mixed in), and the report pairs each protein with the mark at its
    gene's promoter."""
    import kratom_omics as kom

    work = workflow.project(tmp_path)
    example_config = (work / "config/config.yaml").read_text()
    sim = kom.datasets.simulate("protein", seed=21, n_features=150)
    runs = [f"D:\\DIA\\2026\\{s}.raw" for s in sim.obs_names]
    matrix = pd.DataFrame(sim.layers["raw"].T, columns=runs)
    matrix.insert(0, "First.Protein.Description", "")
    matrix.insert(0, "Genes", sim.var["gene"].to_numpy())
    matrix.insert(0, "Protein.Names", [f"{g.upper()}_RAT" for g in sim.var["gene"]])
    matrix.insert(0, "Protein.Ids", sim.var["protein_ids"].to_numpy())
    matrix.insert(0, "Protein.Group", sim.var["protein_ids"].to_numpy())
    (work / "mine").mkdir()
    matrix.to_csv(work / "mine/report.pg_matrix.tsv", sep="\t", index=False, na_rep="")
    kom.datasets.write_samples(sim, work / "mine/samples.tsv")
    # H3K9ac lost at the promoters of the proteins that change (same seed and genes)
    tracks = kom.datasets.simulate("tracks", seed=21, n_features=150)
    written = kom.datasets.write_tracks(tracks, work / "mine/chip")
    sheet = pd.read_csv(written["samples"], sep="\t")
    sheet.drop(columns=["mark"]).to_csv(written["samples"], sep="\t", index=False)  # mark: says it
    (work / "mine/study.yaml").write_text(
        "samples: mine/samples.tsv\n"
        "modalities:\n  protein:\n    input: mine/report.pg_matrix.tsv\n    format: diann\n"
        "    preprocess:\n      remove_flagged: false\n"
        "  chip:\n    input: mine/chip/samples.tsv\n    format: bigwig\n"
        "    regions: mine/chip/genes.gtf.gz\n    mark: H3K9ac\n"
        "differential:\n  covariates: [batch]\n"
    )
    args = ("--configfile", "mine/study.yaml")
    out = workflow.run(work, *args, "-n").stdout
    jobs = {line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) == 2}
    assert jobs["load"] == jobs["differential"] == jobs["figures"] == "2"
    workflow.run(work, *args, "--cores", "2")
    assert (work / "config/config.yaml").read_text() == example_config
    assert sorted(p.name for p in (work / "results").iterdir()) == [
        "chip",
        "figures",
        "protein",
        "report.html",
        "study.h5mu",
        "tables",
    ]
    assert sorted(p.name for p in (work / "logs/load").iterdir()) == ["chip.log", "protein.log"]
    tables = work / "results/tables"
    prot = pd.read_csv(tables / "protein_biomarkers.tsv", sep="\t").set_index("candidate")
    assert prot.loc["Rab35", "status"] == "concordant"
    assert prot.loc["H3K9ac", "status"] == "not measured"
    chip = pd.read_csv(tables / "chip_biomarkers.tsv", sep="\t").set_index("candidate")
    assert chip.loc["H3K9ac", "n_features"] == 150  # matched by the mark, at every promoter
    assert chip.loc["H3K9ac", "status"] == "concordant"
    diff = pd.read_csv(tables / "protein_differential.tsv", sep="\t")
    # the contrasts the user left out are the schema's defaults
    assert set(diff["contrast"]) == {"use - control", "withdrawal - control", "withdrawal - use"}
    # each protein beside H3K9ac at its gene's promoter, as the two results say
    pairs = pd.read_csv(tables / "cross_modality_pairs.tsv", sep="\t")
    chip_diff = pd.read_csv(tables / "chip_differential.tsv", sep="\t")
    wc = "withdrawal - control"
    rab = pairs[(pairs["gene"] == "Rab35") & (pairs["contrast"] == wc)].iloc[0]
    p_row = diff[(diff["gene"] == "Rab35") & (diff["contrast"] == wc)].iloc[0]
    m_row = chip_diff[(chip_diff["feature"] == "Rab35_promoter") & (chip_diff["contrast"] == wc)]
    assert rab["protein_log2fc"] == pytest.approx(p_row["log2fc"])
    assert rab["mark_log2fc"] == pytest.approx(m_row["log2fc"].iloc[0])
    assert (rab["mark"], rab["region"], rab["candidate"]) == ("H3K9ac", "Rab35_promoter", "Rab35")
    assert rab["protein_log2fc"] > 0 > rab["mark_log2fc"]
    assert len(pairs) == diff["feature"].nunique() * 3  # every protein kept, every contrast
    summary = pd.read_csv(tables / "summary_candidates.tsv", sep="\t")
    assert summary.loc[summary["candidate"] == "Rab35", "modality"].tolist() == ["protein", "chip"]
    html = (work / "results/report.html").read_text()
    assert "<h2>Protein vs promoter mark</h2>" in html
    assert "H3K9ac at the candidate genes&#39; promoters (chip): Rab35" in html
    assert ">histone</a>" not in html
    assert "Mitragynine use and withdrawal (example data)" not in html  # the example's title
    # every bigWig is an input of the load job: a changed track reruns it (and what follows)
    written["tracks"][3].write_bytes(written["tracks"][0].read_bytes())
    later = time.time() + 60
    os.utime(written["tracks"][3], (later, later))
    out = workflow.run(work, *args, "-n").stdout
    jobs = {line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) == 2}
    assert jobs["load"] == "1"
    assert "chip/loaded.h5ad" in out
    assert "protein/loaded.h5ad" not in out
