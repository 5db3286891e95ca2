from __future__ import annotations

import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.cli import app, main


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"kratom-omics {kom.__version__}"


def all_commands():
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", all_commands())
def test_every_command_has_help(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0
    assert "Usage" in out
    assert command in out


def test_simulate_writes_h5ad(tmp_path, capsys):
    out = tmp_path / "sim.h5ad"
    code, _, err = run(
        ["simulate", str(out), "--seed", "3", "--n-features", "50", "--timepoints", "1,7"], capsys
    )
    assert code == 0, err
    adata = ad.read_h5ad(out)
    ref = kom.datasets.simulate(seed=3, n_features=50, timepoints=(1, 7))
    np.testing.assert_array_equal(adata.X, ref.X)
    assert sorted(adata.obs["timepoint"].dropna().unique()) == [1.0, 7.0]
    assert "wrote" in err  # logs go to stderr
    assert not list(tmp_path.glob(".*tmp"))


def test_user_error_is_one_line_exit_1(tmp_path, capsys):
    code, _out, err = run(["simulate", str(tmp_path / "x.h5ad"), "--modality", "rna"], capsys)
    assert code == 1
    assert err.strip() == "error: --modality rna; expected 'protein', 'histone' or 'tracks'."
    assert not (tmp_path / "x.h5ad").exists()


def test_debug_shows_traceback(tmp_path, capsys):
    code, _, err = run(
        ["--debug", "simulate", str(tmp_path / "x.h5ad"), "--modality", "rna"], capsys
    )
    assert code == 1
    assert "Traceback" in err
    assert "InputFormatError" in err


def test_usage_error_exit_2(capsys):
    code, _, err = run(["simulate"], capsys)
    assert code == 2
    assert "Missing argument" in err


def test_console_script_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "kratom_omics", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("kratom-omics ")


@pytest.fixture(scope="module")
def western_h5ad(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "western.h5ad"
    kom.datasets.simulate("histone", assay="western", seed=2).write_h5ad(path)
    return path


def test_panel_tests_writes_one_table_per_test(western_h5ad, tmp_path, capsys):
    out = tmp_path / "panel.h5ad"
    code, _, err = run(
        ["panel-tests", str(western_h5ad), str(out), "--table-dir", str(tmp_path / "t")], capsys
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "anova.tsv",
        "dunnett.tsv",
        "tukey.tsv",
    ]
    anova = pd.read_csv(tmp_path / "t/anova.tsv", sep="\t").set_index("feature")
    assert anova.loc["Rab35", "pvalue"] < 1e-3
    assert set(ad.read_h5ad(out).uns["panel_tests"]) >= {"anova", "tukey", "dunnett"}


def test_differential_then_power_and_permutation_fdr(western_h5ad, tmp_path, capsys):
    diff = tmp_path / "d.h5ad"
    code, _, err = run(
        ["differential", str(western_h5ad), str(diff), "--contrast", "withdrawal - control"], capsys
    )
    assert code == 0, err
    code, _, err = run(["power", str(diff), str(tmp_path / "power.tsv"), "--max-n", "6"], capsys)
    assert code == 0, err
    power = pd.read_csv(tmp_path / "power.tsv", sep="\t")
    assert power["n_per_group"].tolist() == [3, 4, 5, 6]
    assert power["power"].is_monotonic_increasing
    table = tmp_path / "perm.tsv"
    code, _, err = run(
        ["permutation-fdr", str(western_h5ad), str(tmp_path / "p.h5ad"), "--table", str(table)],
        capsys,
    )
    assert code == 0, err
    perm = pd.read_csv(table, sep="\t").set_index("feature")
    assert perm.loc["Rab35", "log2fc"] > 0.5
    assert perm.loc["H3K9ac", "log2fc"] < -0.5


def test_timecourse_and_blocked_differential(tmp_path, capsys):
    data = tmp_path / "tc.h5ad"
    kom.datasets.simulate(seed=5, n_features=120, timepoints=(1, 3, 7), repeated=True).write_h5ad(
        data
    )
    rec = tmp_path / "recovery.tsv"
    code, _, err = run(
        [
            "timecourse",
            str(data),
            str(tmp_path / "o.h5ad"),
            "--block",
            "subject",
            "--recovery-table",
            str(rec),
            "--table",
            str(tmp_path / "t.tsv"),
        ],
        capsys,
    )
    assert code == 0, err
    recovery = pd.read_csv(rec, sep="\t")
    assert len(recovery) == 120
    assert {"pattern"} <= set(recovery.columns)
    code, _, err = run(
        [
            "differential",
            str(data),
            str(tmp_path / "b.h5ad"),
            "--contrast",
            "withdrawal - control",
            "--block",
            "subject",
            "--lfc",
            "0.5",
        ],
        capsys,
    )
    assert code == 0, err
    params = ad.read_h5ad(tmp_path / "b.h5ad").uns["differential"]["params"]
    assert -1 < params["correlation"] < 1
    assert params["lfc"] == 0.5


def test_plot_writes_png_svg_pdf_by_extension(western_h5ad, tmp_path, capsys):
    diff = tmp_path / "d.h5ad"
    assert main(["differential", str(western_h5ad), str(diff)]) == 0
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}
    for ext, head in magic.items():
        out = tmp_path / f"volcano{ext}"
        code, _, err = run(
            ["plot", "volcano", str(diff), str(out), "--contrast", "withdrawal - control"], capsys
        )
        assert code == 0, err
        assert out.read_bytes().startswith(head)
    out = tmp_path / "rab35.svg"
    code, _, err = run(["plot", "trajectories", str(diff), str(out), "--feature", "Rab35"], capsys)
    assert code == 0, err
    assert "Rab35" in out.read_text()
    code, _, err = run(["plot", "vulcano", str(diff), str(tmp_path / "x.png")], capsys)
    assert code == 1
    assert "plot='vulcano' is not available. Did you mean 'volcano'?" in err
    code, _, err = run(["plot", "volcano", str(diff), str(tmp_path / "x.jpg")], capsys)
    assert code == 1
    assert "expected a .png, .svg or .pdf file name" in err


def test_differential_method_dpc_and_count_errors(tmp_path, capsys):
    data = tmp_path / "p.h5ad"
    a = kom.datasets.simulate(seed=6, n_features=150, n_per_phase=4, n_batches=1)
    a.write_h5ad(data)
    table = tmp_path / "t.tsv"
    code, _, err = run(
        ["differential", str(data), str(tmp_path / "d.h5ad"), "--method", "dpc", "--table",
         str(table)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    params = ad.read_h5ad(tmp_path / "d.h5ad").uns["differential"]["params"]
    assert params["method"] == "dpc"
    assert params["dpc_n_filled"] > 0
    assert pd.read_csv(table, sep="\t")["pvalue"].notna().sum() > 0
    code, _, err = run(
        ["differential", str(data), str(tmp_path / "c.h5ad"), "--method", "count_trend",
         "--n-peptides", "peptides"],
        capsys,
    )  # fmt: skip
    assert code == 1
    assert err.startswith("error: --method count_trend needs peptide counts per feature in ")
    assert "adata.var['peptides']" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.h5ad").exists()
    code, _, err = run(
        ["differential", str(data), str(tmp_path / "c.h5ad"), "--method", "limmma"], capsys
    )
    assert code == 1
    assert "--method limmma is not available. Did you mean 'limma'? Available: [" in err
