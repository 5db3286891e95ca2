"""The workflow with sample sheets that name their groups otherwise, join: inner, an exclude column,
and a public dataset named by accession (served by a local PRIDE stand-in; no network)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import kratom_omics as kom

NAMES = {"control": "vehicle", "use": "chronic", "withdrawal": "abstinent"}
CONFIG = """\
samples: {{path: config/sheet.tsv, phase_column: condition}}
phases: [vehicle, chronic, abstinent]
join: inner
modalities:
  protein:
    source: PXD000001/proteinGroups.txt
    format: maxquant
    quantity: lfq
contrasts:
  - chronic - vehicle
  - abstinent - vehicle
differential:
  covariates: [batch]
{extra}"""


@pytest.fixture
def study(workflow, tmp_path, repository):
    """A PRIDE project with a MaxQuant table, and a project folder whose sheet says `condition`,
    excludes one sample and lists one the data do not have."""
    sim = kom.datasets.simulate("protein", seed=11, n_features=200, n_per_phase=4)
    kom.datasets.write_maxquant(sim, tmp_path / "proteinGroups.txt")
    served = (tmp_path / "proteinGroups.txt").read_bytes()
    repository.add_pride_project("PXD000001", {"proteinGroups.txt": served, "run.raw": b"0" * 100})
    work = tmp_path / "project"
    work.mkdir()
    shutil.copytree(workflow.root / "workflows", work / "workflows")
    shutil.copytree(workflow.root / "config", work / "config")
    sheet = pd.DataFrame(
        {
            "sample": [*sim.obs_names, "extra_99"],
            "condition": [*sim.obs["phase"].astype(str).map(NAMES), "vehicle"],
            "batch": [*sim.obs["batch"].astype(str), "B1"],
            "exclude": ["yes" if s == "use_02" else "" for s in [*sim.obs_names, "extra_99"]],
        }
    )
    sheet.to_csv(work / "config/sheet.tsv", sep="\t", index=False)
    (work / "config/config.yaml").write_text(CONFIG.format(extra=""))
    return work, sim, served


def test_dry_run_plans_the_download_and_the_study_and_names_a_wrong_column(workflow, study):
    work, _, _ = study
    out = workflow.run(work, "-n").stdout
    jobs = {line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) == 2}
    assert jobs["fetch"] == "1"
    assert jobs["study"] == "1"
    assert jobs["load"] == "1"
    assert not (work / "resources").exists()  # a dry run downloads nothing

    cfg = work / "config/config.yaml"
    cfg.write_text(cfg.read_text().replace("phase_column: condition", "phase_column: conditon"))
    proc = workflow.run(work, "-n", check=False)
    assert proc.returncode != 0
    assert (
        "sample sheet: phase_column='conditon' is not a column of sample sheet"
        in proc.stdout + proc.stderr
    )
    cfg.write_text(CONFIG.format(extra="").replace("join: inner", "join: outer"))
    proc = workflow.run(work, "-n", check=False)
    assert proc.returncode != 0
    assert "'outer' is not one of ['exact', 'inner']" in proc.stdout + proc.stderr


def test_run_downloads_loads_with_condition_inner_join_and_exclusion(workflow, study, repository):
    work, sim, served = study
    workflow.run(work, "--cores", "2")
    assert (work / "resources/public/PXD000001/proteinGroups.txt").read_bytes() == served
    assert (
        "downloaded to resources/public/PXD000001/proteinGroups.txt (sha1 checked)"
        in (work / "logs/fetch/PXD000001/proteinGroups.txt.log").read_text()
    )
    kept = [s for s in sim.obs_names if s != "use_02"]  # excluded; extra_99 is not in the data
    mdata = kom.io.read_h5mu(work / "results/study.h5mu")
    assert list(mdata.mod) == ["protein"]
    assert list(mdata["protein"].obs_names) == kept
    assert mdata.obs.loc[kept, "condition"].tolist() == [
        NAMES[str(sim.obs.loc[s, "phase"])] for s in kept
    ]
    assert list(mdata.obs["phase"].cat.categories) == ["vehicle", "chronic", "abstinent"]
    diff = pd.read_csv(work / "results/tables/protein_differential.tsv", sep="\t")
    assert set(diff["contrast"]) == {"chronic - vehicle", "abstinent - vehicle"}
    assert (work / "results/report.html").stat().st_size > 10_000
    load_log = (work / "logs/load/protein.log").read_text()
    assert "1 sample(s) excluded (exclude column): ['use_02']" in load_log
    assert "not in data: ['extra_99']" in load_log
