"""The Snakemake workflow: lint, SLURM dry run, a full run on the example data, --report, restart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape as markup_escape

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (BIN / "snakemake").exists(), reason="snakemake not installed")


def env():
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    return e


def project_copy(tmp: Path) -> Path:
    for name in ("workflows", "config", "example_data"):
        shutil.copytree(ROOT / name, tmp / name)
    return tmp


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(BIN / "snakemake"), "-s", "workflows/Snakefile", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


HOSTILE_TITLE = "Withdrawal `touch PWNED1` $(touch PWNED2); touch PWNED3 'x\" <b>"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One complete run of the default configuration on the example data (with a title full of
    shell and HTML syntax, which must reach the report as text)."""
    work = project_copy(tmp_path_factory.mktemp("run"))
    cfg = work / "config/config.yaml"
    title = "  title: Mitragynine use and withdrawal (example data)"
    assert title in cfg.read_text()
    cfg.write_text(cfg.read_text().replace(title, f"  title: {json.dumps(HOSTILE_TITLE)}"))
    snakemake(work, "--cores", "2")
    return work


def test_lint(tmp_path):
    proc = snakemake(project_copy(tmp_path), "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_slurm_profile_dry_run_resolves_resources(tmp_path):
    work = project_copy(tmp_path)
    proc = snakemake(work, "--profile", "workflows/profiles/slurm", "-n", "-p")
    out = proc.stdout + proc.stderr
    assert "This was a dry-run" in out
    assert "slurm_partition=main" in out
    block = out[out.index("rule differential:") :]
    block = block[: block.index("\n\n")]
    assert "cpus_per_task=4" in block
    assert "mem_mb=16000" in block
    for rule, n in {
        "load": 3,
        "preprocess": 3,
        "differential": 3,
        "biomarkers": 3,
        "report": 1,
    }.items():
        assert any(line.split() == [rule, str(n)] for line in out.splitlines()), rule


def test_full_run_holds_the_planted_findings(finished):
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
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "H4K12ac in the histone mass spectrometry is down but not significant" in readme
    # the run log counts concordant candidates as the tables do
    for m in ("protein", "histone", "western"):
        cand = pd.read_csv(res / f"tables/{m}_biomarkers.tsv", sep="\t")
        n = int((cand["concordant"].astype(str) == "True").sum())
        log = (finished / "logs" / "biomarkers" / f"{m}.log").read_text()
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
    snakemake(finished, "--report", "report.zip")
    assert (finished / "report.zip").stat().st_size > 10_000


def test_bad_config_and_sheet_stop_before_running(tmp_path):
    work = project_copy(tmp_path)
    cfg = work / "config/config.yaml"
    cfg.write_text(cfg.read_text().replace("contrasts:", "contrast:"))
    proc = snakemake(work, "--cores", "1", "-n", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Additional properties are not allowed ('contrast' was unexpected)" in out
    # a misspelt contrast, an unknown covariate and a sample on one side only: all found when the
    # workflow is read, in one message, before any job
    text = (ROOT / "config/config.yaml").read_text()
    assert "  - withdrawal - use\n" in text
    assert "covariates: [batch]" in text
    cfg.write_text(
        text.replace("  - withdrawal - use\n", "  - withdrawl - use\n").replace(
            "covariates: [batch]", "covariates: [btch]"
        )
    )
    sheet = work / "config/samples.tsv"
    sheet.write_text(sheet.read_text().replace("withdrawal_03", "withdrawal_99"))
    proc = snakemake(work, "--cores", "1", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "5 problem(s) in the configuration, found before running any job:" in out
    assert (
        "contrasts: contrast 'withdrawl - use': name='withdrawl' is not a level of the groups "
        "or a design column. Did you mean 'withdrawal'?"
    ) in out
    assert "differential.covariates: column='btch' is not available. Did you mean 'batch'?" in out
    for m, path in (
        ("protein", "proteinGroups.txt"),
        ("histone", "histone_ratios.xls"),
        ("western", "western_blot.tsv"),
    ):
        assert (
            f"modalities.{m}: example_data/{path}: samples do not match the sample sheet; "
            "in the data but not the sample sheet: ['withdrawal_03']; "
            "in the sample sheet but not the data: ['withdrawal_99']"
        ) in out
    assert "Traceback" not in out
    assert len(out.splitlines()) < 20
    assert not (work / "results").exists()
    assert not (work / "logs").exists()


def test_killed_run_restarts_to_the_same_results(finished, tmp_path):
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
            str(BIN / "snakemake"),
            "-s",
            "workflows/Snakefile",
            *targets,
            "--cores",
            "2",
            "--forcerun",
            "results/protein/differential.h5ad",
        ],
        cwd=work,
        env=env(),
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
    snakemake(work, "--unlock")
    snakemake(work, "--cores", "2")  # the forced analysis, then the study and report it feeds
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


def test_bigwig_modality_checked_before_any_job(tmp_path):
    """A bigWig modality without regions, or naming files that are not there: said in the
    configuration's words when the workflow is read."""
    import kratom_omics as kom

    work = project_copy(tmp_path)
    tracks = kom.datasets.simulate("tracks", seed=3, n_features=20, n_per_phase=2)
    written = kom.datasets.write_tracks(tracks, work / "chip", flank=0)
    kom.datasets.write_samples(tracks, work / "chip/sheet.tsv")
    config = (
        "samples: chip/sheet.tsv\n"
        "modalities:\n  chip:\n    input: chip/samples.tsv\n    format: bigwig\n{extra}"
    )
    (work / "a.yaml").write_text(config.format(extra=""))
    proc = snakemake(work, "--configfile", "a.yaml", "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "modalities.chip: format: bigwig needs regions: a GTF/GFF3 gene annotation" in out
    written["tracks"][1].unlink()
    (work / "b.yaml").write_text(config.format(extra="    regions: chip/genes.gtf\n"))
    proc = snakemake(work, "--configfile", "b.yaml", "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "2 problem(s) in the configuration, found before running any job:" in out
    assert "modalities.chip.regions: 'chip/genes.gtf' does not exist" in out
    assert "modalities.chip: 1 bigWig file(s) named by 'chip/samples.tsv' do not exist" in out
    assert "Traceback" not in out
    assert not (work / "results").exists()


@pytest.mark.parametrize(
    "name", ["../../outside", "..", "a`touch PWNED`", "$(touch PWNED)", "-rf", "a b"]
)
def test_hostile_modality_names_are_refused_before_any_job(tmp_path, name):
    """A modality name is part of output paths and commands: only plain names are accepted."""
    work = project_copy(tmp_path / "project")
    cfg = work / "config/config.yaml"
    text = cfg.read_text()
    assert "\n  western:\n" in text
    cfg.write_text(text.replace("\n  western:\n", f"\n  {json.dumps(name)}:\n"))
    proc = snakemake(work, "--cores", "1", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"modalities: the name {name!r} is not allowed" in out
    assert not (work / "results").exists()
    assert not list(tmp_path.rglob("PWNED*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_workflow_passes_scheduler_and_chunk_size(tmp_path) -> None:
    root = Path(__file__).resolve().parents[2]
    snakemake = Path(sys.executable).parent / "snakemake"
    if not snakemake.exists():
        pytest.skip("snakemake not installed")
    for name in ("workflows", "config", "example_data"):
        shutil.copytree(root / name, tmp_path / name)
    cfg = tmp_path / "config" / "config.yaml"
    text = cfg.read_text().replace(
        "differential:\n", "differential:\n  scheduler: local:3\n  chunk_size: 5000\n", 1
    )
    cfg.write_text(text)
    proc = subprocess.run(
        [str(snakemake), "-s", "workflows/Snakefile", "-n", "-p", "--cores", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    block = out[out.index("rule differential:") :]
    block = block[: block.index("\n\n")]
    assert "threads: 3" in block
    assert "--scheduler local:3 --chunk-size 5000" in out


def test_workflow_passes_the_moderation_method(tmp_path) -> None:
    work = project_copy(tmp_path)
    cfg = work / "config" / "config.yaml"
    text = cfg.read_text()
    assert "  method: limma\n" in text
    cfg.write_text(text.replace("  method: limma\n", "  method: deqms\n  n_peptides: peptides\n"))
    out = snakemake(work, "-n", "-p", "--cores", "2").stdout
    assert out.count("--method deqms --n-peptides peptides") == 3  # every modality
    # one modality with its own method
    own = "    format: maxquant\n    differential:\n      method: dpc\n"
    cfg.write_text(text.replace("    format: maxquant\n", own, 1))
    out = snakemake(work, "-n", "-p", "--cores", "2").stdout
    assert out.count("--method dpc --n-peptides n_peptides") == 1
    assert out.count("--method limma --n-peptides n_peptides") == 2
    cfg.write_text(text.replace("  method: limma\n", "  method: edgeR\n"))
    proc = snakemake(work, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "'edgeR' is not one of ['limma', 'count_trend', 'deqms', 'dpc']" in (
        proc.stdout + proc.stderr
    )


def test_workflow_passes_the_workbook_sheet(tmp_path) -> None:
    """modalities.<name>.sheet (an EpiProfile table saved as a workbook with several sheets):
    the configuration check reads that sheet, and it reaches `load --sheet`, quoted."""
    from openpyxl import Workbook

    work = project_copy(tmp_path)
    rows = [
        line.split("\t")
        for line in (work / "example_data/histone_ratios.xls").read_text().splitlines()
    ]
    other = [[c.replace("control_01", "other_01") for c in r] for r in rows]
    book = Workbook()
    book.remove(book.active)

    def cell(text: str) -> float | str | None:  # numbers as number cells, as Excel saves them
        try:
            return float(text)
        except ValueError:
            return text or None

    for name, sheet_rows in (("other run", other), ("batch 2", rows)):
        ws = book.create_sheet(name)
        for row in sheet_rows:
            ws.append([cell(c) for c in row])
    book.save(work / "example_data/histone.xlsx")
    cfg = work / "config" / "config.yaml"
    text = cfg.read_text().replace("example_data/histone_ratios.xls", "example_data/histone.xlsx")
    assert "    format: epiprofile\n" in text
    cfg.write_text(
        text.replace("    format: epiprofile\n", "    format: epiprofile\n    sheet: batch 2\n")
    )
    out = snakemake(work, "-n", "-p", "--cores", "2").stdout
    assert out.count("--sheet 'batch 2'") == 1
    cfg.write_text(text)  # no sheet: the first, whose samples the sample sheet does not have
    proc = snakemake(work, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "other_01" in proc.stdout + proc.stderr


def test_workflow_normalises_isobaric_plexes_with_irs(tmp_path) -> None:
    """preprocess.normalize: irs with its reference channel reaches `preprocess --reference`;
    without a reference, or with one the method does not use, the configuration is refused in its
    own words before any job."""
    work = project_copy(tmp_path)
    cfg = work / "config" / "config.yaml"
    text = cfg.read_text()
    assert "      normalize: median\n" in text
    cfg.write_text(
        text.replace(
            "      normalize: median\n", "      normalize: irs\n      reference: [TMT131, pool 2]\n"
        )
    )
    out = snakemake(work, "-n", "-p", "--cores", "2").stdout
    assert (
        out.count(
            "--normalize irs --impute none --track-normalization total --reference 'TMT131,pool 2'"
        )
        == 1
    )
    # both refusals in one message: the protein without its reference, the histone with one
    bad = text.replace("      normalize: median\n", "      normalize: irs\n", 1)
    bad = bad.replace("      normalize: none\n", "      normalize: none\n      reference: 10\n", 1)
    cfg.write_text(bad)
    proc = snakemake(work, "-n", "--cores", "1", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (
        "modalities.protein.preprocess: normalize: irs needs reference: the reference channel"
        in out
    )
    assert "modalities.histone.preprocess: reference is used by normalize: reference_sample" in out
    assert "Traceback" not in out


def test_differential_jobs_take_one_core_for_small_inputs(tmp_path) -> None:
    """A differential job of the example data takes one core (the other modalities' jobs use the
    other); the job's thread pool (scheduler: threads) gets two."""
    work = project_copy(tmp_path)
    out = snakemake(work, "-n", "-p", "--cores", "2").stdout
    blocks = [b for b in out.split("\n\n") if "rule differential:" in b]
    assert len(blocks) == 3
    assert not any("threads:" in b for b in blocks)  # one core: snakemake prints no threads line
    cfg = work / "config" / "config.yaml"
    cfg.write_text(
        cfg.read_text().replace("differential:\n", "differential:\n  scheduler: threads\n", 1)
    )
    out = snakemake(work, "-n", "-p", "--cores", "2").stdout
    blocks = [b for b in out.split("\n\n") if "rule differential:" in b]
    assert len(blocks) == 3
    assert all("threads: 2" in b for b in blocks)
