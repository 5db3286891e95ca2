"""The Snakemake workflow on the example data: a full run (its findings, tables, report and
--report archive) and a run killed and restarted. Dry runs of other configurations:
test_config_checks.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape as markup_escape

HOSTILE_TITLE = "Withdrawal `touch PWNED1` $(touch PWNED2); touch PWNED3 'x\" <b>"


@pytest.fixture(scope="module")
def finished(workflow, tmp_path_factory):
    """One complete run of the default configuration on the example data (with a title full of
    shell and HTML syntax, which must reach the report as text)."""
    work = workflow.project(tmp_path_factory.mktemp("run"))
    cfg = work / "config/config.yaml"
    title = "  title: Mitragynine use and withdrawal (example data)"
    assert title in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(title, f"  title: {json.dumps(HOSTILE_TITLE)}"))
    workflow.run(work, "--cores", "2")
    return work


def test_full_run_holds_the_planted_findings(workflow, finished):
    res = finished / "results"
    for m in ("protein", "histone", "western"):
        for name in (
            f"tables/{m}_differential.tsv",
            f"tables/{m}_differential_F.tsv",
            f"tables/{m}_biomarkers.tsv",
            f"tables/{m}_samples.tsv",
            f"figures/{m}_volcano.png",
        ):
            assert (res / name).stat().st_size > 0, name
        assert (finished / "logs" / "load" / f"{m}.log").exists()
    # one table folder
    assert sorted(p.name for p in res.iterdir() if p.is_dir()) == [
        "figures",
        "histone",
        "protein",
        "tables",
        "western",
    ]
    prot = pd.read_csv(res / "tables/protein_biomarkers.tsv", sep="\t").set_index("candidate")
    assert prot.loc["Rab35", "status"] == "concordant"
    assert prot.loc["Rab35", "contrast"] == "withdrawal - control"
    assert prot.loc["Rab35", "log2fc"] > 1
    assert bool(prot.loc["Rab35", "significant"])
    hist = pd.read_csv(res / "tables/histone_differential.tsv", sep="\t")
    k9 = hist[
        (hist["feature"] == "H3_9_17 K9ac") & (hist["contrast"] == "withdrawal - control")
    ].iloc[0]
    assert k9["log2_odds_ratio"] < 0  # logit-transformed ratios: named after their scale
    assert "log2fc" not in hist.columns
    assert k9["padj"] < 0.05
    # what the README says of the example data: H4K12ac is down in the histone mass spec but
    # not significant with 6 rats per phase, and concordant in the western blot
    hcand = pd.read_csv(res / "tables/histone_biomarkers.tsv", sep="\t").set_index("candidate")
    assert hcand.loc["H3K9ac", "status"] == "concordant"
    assert hcand.loc["H4K12ac", "observed"] == "down"
    assert hcand.loc["H4K12ac", "status"] == "not significant"
    assert not hcand.loc["H4K12ac", "concordant"]
    assert 0.1 < hcand.loc["H4K12ac", "padj"] < 0.5
    readme = " ".join((workflow.root / "README.md").read_text().split())
    assert "H4K12ac in the histone mass spectrometry is down but not significant" in readme
    # the run log counts concordant candidates as the tables do
    for m in ("protein", "histone", "western"):
        cand = pd.read_csv(res / f"tables/{m}_biomarkers.tsv", sep="\t")
        n = int((cand["concordant"].astype(str) == "True").sum())
        log = (finished / "logs" / "differential" / f"{m}.log").read_text()
        assert f"; {n} of {len(cand)} candidates concordant" in log, m
    summary = pd.read_csv(res / "tables/summary_candidates.tsv", sep="\t")
    west = summary[summary["modality"] == "western"].set_index("candidate")
    assert west.loc["H4K12ac", "auc"] == 1.0  # a perfect down-marker, in its direction
    assert west.loc["H4K12ac", "auc_direction"] == "withdrawal < control"
    west = pd.read_csv(res / "tables/western_biomarkers.tsv", sep="\t").set_index("candidate")
    assert west.loc["Hdac2", "status"] == "concordant"
    assert west.loc["H3K9ac", "status"] == "concordant"
    html = (res / "report.html").read_text()
    assert "Rab35" in html
    assert html.index('id="findings"') < html.index('id="summary"')
    assert "Tables as TSV in <code>tables</code>" in html
    assert f"<h1>{markup_escape(HOSTILE_TITLE)}</h1>" in html
    assert not list(finished.rglob("PWNED*"))
    assert 'src="http' not in html
    assert 'href="http' not in html
    # snakemake's own report with the captions
    workflow.run(finished, "--report", "report.zip")
    assert (finished / "report.zip").stat().st_size > 10_000


def test_killed_run_restarts_to_the_same_results(workflow, finished, tmp_path):
    """A run killed with SIGKILL while it rewrites results (no clean-up at all), unlocked and run
    again, ends with the results of an uninterrupted run. The project of the full run is the
    starting point: the protein analysis is forced to run again (differential, then biomarkers
    and the volcano plot) and the run is killed as soon as the first output of the forced job
    lands; the restart completes it and remakes the tables the report writes."""
    work = tmp_path / "work"
    shutil.copytree(finished, work, symlinks=True)
    targets = ["results/protein/biomarkers.h5ad", "results/figures/protein_volcano.png"]
    target = work / "results/protein/differential.h5ad"
    last = work / targets[0]
    before, last_before = target.stat().st_mtime_ns, last.stat().st_mtime_ns
    proc = subprocess.Popen(
        [
            str(workflow.bin / "snakemake"),
            "-s",
            "workflows/Snakefile",
            *targets,
            "--cores",
            "2",
            "--forcerun",
            "results/protein/differential.h5ad",
        ],
        cwd=work,
        env=workflow.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def rewritten(path: Path, mtime: int) -> bool:  # snakemake removes an output before its job
        try:
            return path.stat().st_mtime_ns != mtime
        except FileNotFoundError:
            return False

    deadline = time.time() + 240
    while not rewritten(target, before) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    finished_early = proc.poll() is not None
    if not finished_early:
        os.killpg(proc.pid, signal.SIGKILL)  # the hardest stop: no clean-up at all
    proc.wait()
    assert not finished_early, f"the forced run ended (exit {proc.returncode}) before the kill"
    assert rewritten(target, before)  # killed after the forced job wrote its output ...
    assert not rewritten(last, last_before)  # ... and before the run finished
    workflow.run(work, "--unlock")
    workflow.run(work, "--cores", "2")  # the forced analysis, then the study and report it feeds
    assert rewritten(last, last_before)
    tables = sorted((finished / "results/tables").glob("*.tsv"))
    assert len(tables) == 18
    for table in tables:
        if table.name.endswith("_provenance.tsv"):  # the steps' times differ, by nature
            continue
        pd.testing.assert_frame_equal(
            pd.read_csv(work / "results/tables" / table.name, sep="\t"),
            pd.read_csv(table, sep="\t"),
        )
