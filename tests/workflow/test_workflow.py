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
            f"tables/{m}_biomarkers.tsv",
            f"figures/{m}_volcano.png",
        ):
            assert (res / name).stat().st_size > 0, name
        assert (finished / "logs" / "load" / f"{m}.log").exists()
    prot = pd.read_csv(res / "tables/protein_biomarkers.tsv", sep="\t").set_index("candidate")
    assert prot.loc["Rab35", "status"] == "concordant"
    assert prot.loc["Rab35", "contrast"] == "withdrawal - control"
    assert prot.loc["Rab35", "log2fc"] > 1
    assert bool(prot.loc["Rab35", "significant"])
    hist = pd.read_csv(res / "tables/histone_differential.tsv", sep="\t")
    k9 = hist[
        (hist["feature"] == "H3_9_17 K9ac") & (hist["contrast"] == "withdrawal - control")
    ].iloc[0]
    assert k9["log2fc"] < 0
    assert k9["padj"] < 0.05
    west = pd.read_csv(res / "tables/western_biomarkers.tsv", sep="\t").set_index("candidate")
    assert west.loc["Hdac2", "status"] == "concordant"
    assert west.loc["H3K9ac", "status"] == "concordant"
    html = (res / "report.html").read_text()
    assert "Rab35" in html
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
    shutil.copy(ROOT / "config/config.yaml", cfg)
    sheet = work / "config/samples.tsv"
    sheet.write_text(sheet.read_text().replace("withdrawal_03", "withdrawal_99"))
    proc = snakemake(work, "--cores", "1", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr  # the profile shows the failed job's log
    assert "in the sample sheet but not the data: ['withdrawal_99']" in out
    assert "in the data but not the sample sheet: ['withdrawal_03']" in out


def test_killed_run_restarts_to_the_same_results(finished, tmp_path):
    """A run killed with SIGKILL while it rewrites results (no clean-up at all), unlocked and run
    again, ends with the results of an uninterrupted run. The project of the full run is the
    starting point: the protein analysis is forced to run again (differential, then biomarkers
    and the volcano plot; the report is checked by the full run) and the run is killed as soon as
    the first output of the forced job lands."""
    work = tmp_path / "work"
    shutil.copytree(finished, work, symlinks=True)
    targets = ["results/tables/protein_biomarkers.tsv", "results/figures/protein_volcano.png"]
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
    os.killpg(proc.pid, signal.SIGKILL)  # the hardest stop: no clean-up at all
    proc.wait()
    assert rewritten(target, before)  # killed after the forced job wrote its output ...
    assert not rewritten(last, last_before)  # ... and before the run finished
    snakemake(work, "--unlock")
    snakemake(work, *targets, "--cores", "2")
    assert rewritten(last, last_before)
    for table in sorted((finished / "results/tables").glob("*.tsv")):
        pd.testing.assert_frame_equal(
            pd.read_csv(work / "results/tables" / table.name, sep="\t"),
            pd.read_csv(table, sep="\t"),
        )


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
