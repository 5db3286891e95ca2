"""The workflow's configuration checked when it is read, and what each setting passes to its jobs
(dry runs): lint, the SLURM profile, bad configurations and sheets, hostile modality names, the
scheduler, the moderation method, a workbook's sheet, IRS, the cores of a differential job."""

from __future__ import annotations

import json


def test_lint(workflow, tmp_path):
    proc = workflow.run(workflow.project(tmp_path), "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_slurm_profile_dry_run_resolves_resources(workflow, tmp_path):
    work = workflow.project(tmp_path)
    proc = workflow.run(work, "--profile", "workflows/profiles/slurm", "-n", "-p")
    out = proc.stdout + proc.stderr
    assert "This was a dry-run" in out
    assert "slurm_partition=main" in out
    block = out[out.index("rule differential:") :]
    block = block[: block.index("\n\n")]
    assert "cpus_per_task=4" in block
    assert "mem_mb=16000" in block
    for rule, n in {
        "load": 3,
        "differential": 3,
        "report": 1,
    }.items():
        assert any(line.split() == [rule, str(n)] for line in out.splitlines()), rule


def test_bad_config_and_sheet_stop_before_running(workflow, tmp_path):
    work = workflow.project(tmp_path)
    cfg = work / "config/config.yaml"
    cfg.write_text(cfg.read_text().replace("contrasts:", "contrast:"))
    proc = workflow.run(work, "--cores", "1", "-n", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Additional properties are not allowed ('contrast' was unexpected)" in out
    # a misspelt contrast, an unknown covariate and a sample on one side only: all found when the
    # workflow is read, in one message, before any job
    text = (workflow.root / "config/config.yaml").read_text()
    assert "  - withdrawal - use\n" in text
    assert "covariates: [batch]" in text
    cfg.write_text(
        text.replace("  - withdrawal - use\n", "  - withdrawl - use\n").replace(
            "covariates: [batch]", "covariates: [btch]"
        )
    )
    sheet = work / "config/samples.tsv"
    sheet.write_text(sheet.read_text().replace("withdrawal_03", "withdrawal_99"))
    proc = workflow.run(work, "--cores", "1", check=False)
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


def test_bigwig_modality_checked_before_any_job(workflow, tmp_path):
    """A bigWig modality without regions, or naming files that are not there: said in the
    configuration's words when the workflow is read."""
    import kratom_omics as kom

    work = workflow.project(tmp_path)
    tracks = kom.datasets.simulate("tracks", seed=3, n_features=20, n_per_phase=2)
    written = kom.datasets.write_tracks(tracks, work / "chip", flank=0)
    kom.datasets.write_samples(tracks, work / "chip/sheet.tsv")
    config = (
        "samples: chip/sheet.tsv\n"
        "modalities:\n  chip:\n    input: chip/samples.tsv\n    format: bigwig\n{extra}"
    )
    (work / "a.yaml").write_text(config.format(extra=""))
    proc = workflow.run(work, "--configfile", "a.yaml", "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "modalities.chip: format: bigwig needs regions: a GTF/GFF3 gene annotation" in out
    written["tracks"][1].unlink()
    (work / "b.yaml").write_text(config.format(extra="    regions: chip/genes.gtf\n"))
    proc = workflow.run(work, "--configfile", "b.yaml", "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "2 problem(s) in the configuration, found before running any job:" in out
    assert "modalities.chip.regions: 'chip/genes.gtf' does not exist" in out
    assert "modalities.chip: 1 bigWig file(s) named by 'chip/samples.tsv' do not exist" in out
    assert "Traceback" not in out
    assert not (work / "results").exists()


HOSTILE_NAMES = ["../../outside", "..", "a`touch PWNED`", "$(touch PWNED)", "-rf", "a b"]


def test_hostile_modality_names_are_refused_before_any_job(workflow, tmp_path):
    """A modality name is part of output paths and commands: only plain names are accepted, and
    every name that is not is named."""
    work = workflow.project(tmp_path / "project")
    cfg = work / "config/config.yaml"
    text = cfg.read_text()
    assert "\n  western:\n" in text
    west = text[text.index("\n  western:\n") :].split("\n")[2]  # its input line
    hostile = "".join(f"\n  {json.dumps(name)}:\n{west}\n" for name in HOSTILE_NAMES)
    cfg.write_text(text.replace("\n  western:\n", f"{hostile}\n  western:\n"))
    proc = workflow.run(work, "--cores", "1", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    names = ", ".join(repr(name) for name in HOSTILE_NAMES)
    assert f"modalities: the names {names} are not allowed; use letters, digits" in out
    assert "Traceback" not in out
    assert not (work / "results").exists()
    assert not list(tmp_path.rglob("PWNED*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_workflow_passes_scheduler_and_chunk_size(workflow, tmp_path) -> None:
    work = workflow.project(tmp_path)
    cfg = work / "config" / "config.yaml"
    text = cfg.read_text().replace(
        "differential:\n", "differential:\n  scheduler: local:3\n  chunk_size: 5000\n", 1
    )
    cfg.write_text(text)
    if not workflow.has("dask"):  # the workflow's own environment (make run's .venv)
        proc = workflow.run(work, "-n", "--cores", "4", check=False)
        assert proc.returncode != 0
        assert (
            "differential.scheduler / chunk_size: fitting chunk by chunk needs dask, which this "
            "environment does not have; install it (pip install 'kratom-omics[workflow,dask]')"
        ) in proc.stdout + proc.stderr
        # jobs in a conda environment of their own: not this environment's concern
        out = workflow.run(work, "-n", "--cores", "4", "--sdm", "conda", check=False)
        assert "needs dask" not in out.stdout + out.stderr
    out = workflow.run(work, "-n", "-p", "--cores", "4", bin=workflow.dev).stdout
    block = out[out.index("rule differential:") :]
    block = block[: block.index("\n\n")]
    assert "threads: 3" in block
    assert "--scheduler local:3 --chunk-size 5000" in out


def test_workflow_passes_the_moderation_method(workflow, tmp_path) -> None:
    work = workflow.project(tmp_path)
    cfg = work / "config" / "config.yaml"
    text = cfg.read_text()
    assert "  method: limma\n" in text
    deqms = text.replace("  method: limma\n", "  method: deqms\n  n_peptides: peptides\n")
    assert "  robust: true\n" in deqms
    cfg.write_text(deqms.replace("  robust: true\n", "  robust: false\n"))  # limma's estimator
    out = workflow.run(work, "-n", "-p", "--cores", "2").stdout
    assert out.count("--method deqms --n-peptides peptides") == 3  # every modality
    # one modality with its own method: dpc takes no covariates, and the example's design has
    # batch; refused before any job with the package's reason, until the modality sets its own
    own = "    format: maxquant\n    differential:\n      method: dpc\n"
    cfg.write_text(text.replace("    format: maxquant\n", own, 1))
    proc = workflow.run(work, "-n", "--cores", "1", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "1 problem(s) in the configuration, found before running any job:" in out
    assert (
        "modalities.protein: method: dpc estimates group means for the design ~ 0 + groupby and "
        "cannot take covariates (a design beyond the group means); use method: limma"
    ) in out
    assert "(Settings of this modality alone go under modalities.protein.differential.)" in out
    assert "Traceback" not in out
    own += "      covariates: []\n      robust: false\n"
    cfg.write_text(text.replace("    format: maxquant\n", own, 1))
    out = workflow.run(work, "-n", "-p", "--cores", "2").stdout
    assert out.count("--no-robust --fdr bh --method dpc --n-peptides n_peptides") == 1
    assert out.count("--covariate batch --no-trend --robust --fdr bh --method limma") == 2
    # a modality's own covariates are checked against the sheet like the top-level ones
    cfg.write_text(text.replace("    format: maxquant\n", own.replace("[]", "[btch]"), 1))
    proc = workflow.run(work, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert (
        "modalities.protein.differential.covariates: column='btch' is not available. Did you "
        "mean 'batch'?"
    ) in proc.stdout + proc.stderr
    # deqms fits its own prior: limma's robust estimator (the example's) is refused
    own = "    format: maxquant\n    differential:\n      method: deqms\n"
    cfg.write_text(text.replace("    format: maxquant\n", own, 1))
    proc = workflow.run(work, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert (
        "modalities.protein: robust: true chooses limma's prior estimator; method: deqms fits "
        "DEqMS's loess prior instead."
    ) in proc.stdout + proc.stderr
    cfg.write_text(text.replace("  method: limma\n", "  method: edgeR\n"))
    proc = workflow.run(work, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "'edgeR' is not one of ['limma', 'count_trend', 'deqms', 'dpc']" in (
        proc.stdout + proc.stderr
    )


def test_workflow_passes_the_workbook_sheet(workflow, tmp_path) -> None:
    """modalities.<name>.sheet (an EpiProfile table saved as a workbook with several sheets):
    the configuration check reads that sheet, and it reaches `load --sheet`, quoted."""
    from openpyxl import Workbook

    work = workflow.project(tmp_path)
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
    out = workflow.run(work, "-n", "-p", "--cores", "2").stdout
    loads = [step for step in workflow.steps(out) if step[0] == "load"]
    assert len(loads) == 3
    histone = next(step for step in loads if "example_data/histone.xlsx" in step)
    assert histone[histone.index("--sheet") + 1] == "batch 2"
    assert sum("--sheet" in step for step in loads) == 1
    cfg.write_text(text)  # no sheet: the first, whose samples the sample sheet does not have
    proc = workflow.run(work, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "other_01" in proc.stdout + proc.stderr


def test_workflow_normalises_isobaric_plexes_with_irs(workflow, tmp_path) -> None:
    """preprocess.normalize: irs with its reference channel reaches `preprocess --reference`;
    without a reference, or with one the method does not use, the configuration is refused in its
    own words before any job."""
    work = workflow.project(tmp_path)
    cfg = work / "config" / "config.yaml"
    text = cfg.read_text()
    assert "      normalize: median\n" in text
    cfg.write_text(
        text.replace(
            "      normalize: median\n", "      normalize: irs\n      reference: [TMT131, pool 2]\n"
        )
    )
    out = workflow.run(work, "-n", "-p", "--cores", "2").stdout
    pre = {step[1]: step for step in workflow.steps(out) if step[0] == "preprocess"}
    assert len(pre) == 3
    protein = pre["results/protein/loaded.h5ad"]
    assert protein[protein.index("--normalize") + 1] == "irs"
    assert protein[protein.index("--reference") + 1] == "TMT131,pool 2"
    assert sum("--reference" in step for step in pre.values()) == 1
    # both refusals in one message: the protein without its reference, the histone with one
    bad = text.replace("      normalize: median\n", "      normalize: irs\n", 1)
    bad = bad.replace("      normalize: none\n", "      normalize: none\n      reference: 10\n", 1)
    cfg.write_text(bad)
    proc = workflow.run(work, "-n", "--cores", "1", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (
        "modalities.protein.preprocess: normalize: irs needs reference: the reference channel"
        in out
    )
    assert "modalities.histone.preprocess: reference is used by normalize: reference_sample" in out
    assert "Traceback" not in out


def test_differential_jobs_take_one_core_for_small_inputs(workflow, tmp_path) -> None:
    """A differential job of the example data takes one core (the other modalities' jobs use the
    other); the job's thread pool (scheduler: threads) gets two."""
    work = workflow.project(tmp_path)
    out = workflow.run(work, "-n", "-p", "--cores", "2").stdout
    blocks = [b for b in out.split("\n\n") if "rule differential:" in b]
    assert len(blocks) == 3
    assert not any("threads:" in b for b in blocks)  # one core: snakemake prints no threads line
    cfg = work / "config" / "config.yaml"
    cfg.write_text(
        cfg.read_text().replace("differential:\n", "differential:\n  scheduler: threads\n", 1)
    )
    out = workflow.run(work, "-n", "-p", "--cores", "2", bin=workflow.dev).stdout
    blocks = [b for b in out.split("\n\n") if "rule differential:" in b]
    assert len(blocks) == 3
    assert all("threads: 2" in b for b in blocks)
