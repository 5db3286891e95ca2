"""Errors on the command line: in command-line words, one `error:` line, exit 1 (usage: 2)."""

from __future__ import annotations

import anndata as ad
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.cli import main
from kratom_omics.cli._errors import cli_message
from kratom_omics.errors import KratomOmicsError


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert err.rstrip().endswith(lines[0]), err  # the last thing printed
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    sim = kom.datasets.simulate("protein", seed=4, n_features=40, n_per_phase=3)
    sim.write_h5ad(d / "sim.h5ad")
    kom.tl.differential(sim, "phase")
    sim.write_h5ad(d / "diff.h5ad")
    raw = sim.copy()
    raw.X = raw.layers["raw"].copy()
    raw.uns["kratom_omics"] = {}
    raw.write_h5ad(d / "raw.h5ad")
    kom.datasets.write_maxquant(sim, d / "proteinGroups.txt")
    kom.datasets.write_samples(sim, d / "samples.tsv")
    (d / "a_file").write_text("x")
    (d / "a_dir").mkdir()
    return d


def test_result_missing_names_the_command_not_python(files, tmp_path, capsys):
    code, _, err = run(["biomarkers", str(files / "sim.h5ad"), str(tmp_path / "b.h5ad")], capsys)
    assert code == 1
    line = error_line(err)
    assert "Run `kratom-omics differential IN.h5ad OUT.h5ad` first" in line
    assert "kom." not in line
    assert "--key 'differential'" in line


def test_unknown_phase_names_the_phases_flag(files, tmp_path, capsys):
    sheet = pd.read_csv(files / "samples.tsv", sep="\t")
    sheet["phase"] = sheet["phase"].str.replace("withdrawal", "withdrawl")
    sheet.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    code, _, err = run(
        [
            "load",
            str(files / "proteinGroups.txt"),
            str(tmp_path / "x.h5ad"),
            "--samples",
            str(tmp_path / "s.tsv"),
        ],
        capsys,
    )
    assert code == 1
    line = error_line(err)
    assert "--phases 'control,use,withdrawal,withdrawl'" in line
    assert "phases=" not in line
    assert not (tmp_path / "x.h5ad").exists()


def test_second_transform_says_what_to_pass(files, tmp_path, capsys):
    code, _, err = run(["preprocess", str(files / "sim.h5ad"), str(tmp_path / "p.h5ad")], capsys)
    assert code == 1
    line = error_line(err)
    assert "Pass the .h5ad written by `kratom-omics load` (or add --transform none)" in line
    assert "kom.pp" not in line


def test_translation_rules():
    exc = KratomOmicsError(
        "groupby='phse' is not a column. Or run kom.tl.differential(adata, ..., "
        "key_added='x', robust=True) first;\n\x1b[31mphases=['a', 'b c']\x1b[0m"
    )
    text = cli_message(exc, {"groupby": "--groupby", "phases": "--phases"})
    assert text == (
        "--groupby phse is not a column. Or run `kratom-omics differential ... --key-added x "
        "--robust` first; --phases 'a,b c'"
    )


def test_debug_works_in_any_position(tmp_path, capsys):
    code, _, err = run(
        ["simulate", str(tmp_path / "x.h5ad"), "--modality", "rna", "--debug"], capsys
    )
    assert code == 1
    assert "Traceback" in err
    assert (
        err.rstrip().splitlines()[-1]
        == "error: --modality rna; expected 'protein', 'histone' or 'tracks'."
    )


def test_load_of_an_h5ad_says_it_is_anndata_already(files, tmp_path, capsys):
    code, _, err = run(["load", str(files / "sim.h5ad"), str(tmp_path / "x.h5ad")], capsys)
    assert code == 1
    line = error_line(err)
    assert line.startswith("error: ")
    assert "is already an AnnData file (.h5ad)" in line
    assert len(line) < 300


def test_simulate_writes_tool_files_that_load_reads(tmp_path, capsys):
    out = tmp_path / "proteinGroups.txt"
    code, _, err = run(["simulate", str(out), "--format", "maxquant", "--n-features", "60"], capsys)
    assert code == 0, err
    assert (tmp_path / "samples.tsv").exists()
    code, _, err = run(
        ["load", str(out), str(tmp_path / "l.h5ad"), "--samples", str(tmp_path / "samples.tsv")],
        capsys,
    )
    assert code == 0, err
    loaded = ad.read_h5ad(tmp_path / "l.h5ad")
    assert loaded.n_obs == 18
    assert "Rab35" in set(loaded.var["gene"])
    w = tmp_path / "western.tsv"
    code, _, err = run(
        ["simulate", str(w), "--modality", "histone", "--format", "densitometry"], capsys
    )
    assert code == 0, err
    assert kom.io.read(w, tmp_path / "samples.tsv").n_obs == 18
    code, _, err = run(["simulate", str(w), "--format", "epiprofile"], capsys)
    assert code == 1
    assert "use --modality histone" in error_line(err)


def test_differential_refuses_untransformed_intensities(files, tmp_path, capsys):
    code, _, err = run(["differential", str(files / "raw.h5ad"), str(tmp_path / "d.h5ad")], capsys)
    assert code == 1
    line = error_line(err)
    assert "holds values that are not log-transformed" in line
    assert "kratom-omics preprocess" in line
    assert not (tmp_path / "d.h5ad").exists()


def test_format_help_lists_the_formats(capsys):
    code, out, _ = run(["load", "--help"], capsys)
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    for name in kom.io.FORMATS:
        assert name in text, name


def test_plot_volcano_needs_a_contrast_when_there_are_several(files, tmp_path, capsys):
    code, _, err = run(
        ["plot", "volcano", str(files / "diff.h5ad"), str(tmp_path / "v.png")], capsys
    )
    assert code == 1
    line = error_line(err)
    assert "holds 2 contrasts ['use - control', 'withdrawal - control']" in line
    assert "--contrast 'withdrawal - control'" in line
    assert not (tmp_path / "v.png").exists()


WRITERS = [
    ["simulate", "{out}"],
    ["example-data", "{out}"],
    ["load", "{dir}/proteinGroups.txt", "{out}", "--samples", "{dir}/samples.tsv"],
    ["preprocess", "{dir}/raw.h5ad", "{out}"],
    ["differential", "{dir}/sim.h5ad", "{out}"],
    ["biomarkers", "{dir}/diff.h5ad", "{out}"],
    ["timecourse", "{dir}/sim.h5ad", "{out}"],
    ["permutation-fdr", "{dir}/sim.h5ad", "{out}"],
    ["panel-tests", "{dir}/sim.h5ad", "{out}"],
    ["power", "{dir}/diff.h5ad", "{out}"],
    ["plot", "pca", "{dir}/sim.h5ad", "{out}"],
    ["report", "{dir}/diff.h5ad", "--out", "{out}"],
    ["report-figures", "protein={dir}/diff.h5ad", "--out", "{out}"],
    [
        "study",
        "protein={dir}/proteinGroups.txt",
        "--samples",
        "{dir}/samples.tsv",
        "--out",
        "{out}",
    ],
]
BAD_OUTPUTS = {
    "under a file": ("{dir}/a_file/x", "is a file, not a directory"),
    "a directory": ("{dir}/a_dir", "is a directory"),
    "empty": ("", "is a directory"),  # the shell's '' reaches a Path option as '.'
    "not encodable": ("{dir}/x\udcff.h5ad", "cannot be encoded as a UTF-8 file name"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
@pytest.mark.parametrize("argv", WRITERS, ids=lambda a: a[0])
def test_unusable_output_is_one_error_line(files, argv, case, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if argv[0] == "example-data" and case == "a directory":
        pytest.skip("example-data writes into a directory")
    if argv[0] == "example-data" and case == "empty":
        case, message = "empty", "path is empty"
    else:
        message = BAD_OUTPUTS[case][1]
    out = BAD_OUTPUTS[case][0]
    suffix = {
        "plot": ".png",
        "report": ".html",
        "report-figures": ".json",
        "study": ".h5mu",
        "power": ".tsv",
    }.get(argv[0], "")
    if case in ("under a file", "not encodable") and suffix:
        out = out.removesuffix(".h5ad") + suffix
    args = [a.format(dir=files, out=out.format(dir=files)) for a in argv]
    before = sorted(p.name for p in files.iterdir())
    code, _, err = run(args, capsys)
    assert code == 1, err
    assert message in error_line(err)
    assert sorted(p.name for p in files.iterdir()) == before
    assert list((files / "a_dir").iterdir()) == []
    assert list(tmp_path.iterdir()) == []


def test_bad_numbers_directories_and_formulas(files, tmp_path, capsys):
    code, _, err = run(["simulate", str(tmp_path / "x.h5ad"), "--timepoints", "abc"], capsys)
    assert code == 2
    assert "'abc'; expected numbers separated by commas" in err
    assert "Traceback" not in err
    code, _, err = run(["preprocess", str(files / "a_dir"), str(tmp_path / "p.h5ad")], capsys)
    assert code == 1
    assert (
        error_line(err)
        == f"error: {str(files / 'a_dir')!r} is a directory; expected an .h5ad file."
    )
    code, _, err = run(
        [
            "differential",
            str(files / "sim.h5ad"),
            str(tmp_path / "d.h5ad"),
            "--formula",
            "~ phase +* ((",
        ],
        capsys,
    )
    assert code == 1
    line = error_line(err)
    assert "\x1b" not in line
    assert "formula" in line


def test_error_lines_hold_no_python_advice_for_user_errors(files, tmp_path, capsys):
    cases = [
        ["differential", str(files / "sim.h5ad"), str(tmp_path / "d.h5ad"), "--groupby", "phse"],
        [
            "plot",
            "volcano",
            str(files / "diff.h5ad"),
            str(tmp_path / "v.png"),
            "--contrast",
            "x - y",
        ],
        ["power", str(files / "sim.h5ad"), str(tmp_path / "p.tsv")],
    ]
    for argv in cases:
        code, _, err = run(argv, capsys)
        assert code == 1, argv
        line = error_line(err)
        assert "kom." not in line, line
        assert "groupby=" not in line, line
        assert "key=" not in line, line
    assert "--groupby phse" in error_line(run(cases[0], capsys)[2])
