"""The workflow on a user's own DIA-NN export: a full run of its own (in its own file, so that it
can run on another worker than the example-data run of test_workflow.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (BIN / "snakemake").exists(), reason="snakemake not installed")


def project_copy(tmp: Path) -> Path:
    for name in ("workflows", "config", "example_data"):
        shutil.copytree(ROOT / name, tmp / name)
    return tmp


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        [str(BIN / "snakemake"), "-s", "workflows/Snakefile", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def test_own_diann_export_runs_through_the_same_outputs(tmp_path):
    """A user points the config at a DIA-NN pg_matrix (raw-file paths as columns) and a sample sheet."""
    import kratom_omics as kom

    work = project_copy(tmp_path)
    sim = kom.datasets.simulate("protein", seed=21, n_features=150)
    runs = [f"D:\\DIA\\2026\\{s}.raw" for s in sim.obs_names]
    matrix = pd.DataFrame(sim.layers["raw"].T, columns=runs)
    matrix.insert(0, "First.Protein.Description", "")
    matrix.insert(0, "Genes", sim.var["gene"].to_numpy())
    matrix.insert(0, "Protein.Names", [f"{g.upper()}_RAT" for g in sim.var["gene"]])
    matrix.insert(0, "Protein.Ids", sim.var["protein_ids"].to_numpy())
    matrix.insert(0, "Protein.Group", sim.var["protein_ids"].to_numpy())
    matrix.to_csv(work / "report.pg_matrix.tsv", sep="\t", index=False, na_rep="")
    kom.datasets.write_samples(sim, work / "config/samples.tsv")
    cfg = (work / "config/config.yaml").read_text()
    head, rest = cfg.split("modalities:", 1)
    tail = rest[rest.index("\n# Contrasts") :]
    cfg = (
        head
        + "modalities:\n  protein:\n    input: report.pg_matrix.tsv\n    format: diann\n"
        + "    preprocess:\n      remove_flagged: false\n"
        + tail
    )
    (work / "config/config.yaml").write_text(cfg)
    snakemake(work, "--cores", "2")
    prot = pd.read_csv(work / "results/tables/protein_biomarkers.tsv", sep="\t").set_index(
        "candidate"
    )
    assert prot.loc["Rab35", "status"] == "concordant"
    assert prot.loc["H3K9ac", "status"] == "not measured"
    diff = pd.read_csv(work / "results/tables/protein_differential.tsv", sep="\t")
    assert set(diff["contrast"]) == {"use - control", "withdrawal - control", "withdrawal - use"}
    assert (work / "results/report.html").exists()
