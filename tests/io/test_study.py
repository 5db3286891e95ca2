"""kom.io.read_study: every modality of a study in one MuData with the shared sample sheet."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.cli import main
from kratom_omics.errors import InputFormatError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example(tmp_path, monkeypatch):
    """The example data and configuration in a fresh folder (the working directory)."""
    for name in ("example_data", "config"):
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_config_file_gives_one_anndata_per_modality_and_the_shared_sheet(example):
    mdata = kom.io.read_study("config/config.yaml")
    sheet = pd.read_csv("config/samples.tsv", sep="\t", dtype=str)
    assert list(mdata.mod) == ["protein", "histone", "western"]
    for name, path, reader in [
        ("protein", "example_data/proteinGroups.txt", kom.io.read_maxquant),
        ("histone", "example_data/histone_ratios.xls", kom.io.read_epiprofile),
        ("western", "example_data/western_blot.tsv", kom.io.read_densitometry),
    ]:
        alone = reader(
            path, "config/samples.tsv", **({"quantity": "lfq"} if name == "protein" else {})
        )
        assert mdata[name].shape == alone.shape
        np.testing.assert_array_equal(mdata[name].X, alone.X)
    # the global obs is the sample sheet, one row per sample
    assert sorted(mdata.obs_names) == sorted(sheet["sample"])
    assert mdata.obs.loc[sheet["sample"], "batch"].astype(str).tolist() == sheet["batch"].tolist()
    assert mdata.obs["phase"].cat.ordered
    assert list(mdata.obs["phase"].cat.categories) == ["control", "use", "withdrawal"]
    assert mdata.uns["kratom_omics"]["modalities"]["protein"] == "example_data/proteinGroups.txt"


def test_mapping_of_inputs_with_a_condition_sheet_and_h5mu_roundtrip(example, tmp_path):
    sheet = pd.read_csv("config/samples.tsv", sep="\t")
    sheet = sheet.rename(columns={"phase": "condition"})
    sheet["exclude"] = ["yes" if s == "use_03" else "" for s in sheet["sample"]]
    sheet.to_csv("cond.tsv", sep="\t", index=False)
    histone = kom.io.read("example_data/histone_ratios.xls", "config/samples.tsv")
    histone.write_h5ad("histone.h5ad")
    mdata = kom.io.read_study(
        {
            "protein": {"input": "example_data/proteinGroups.txt", "quantity": "lfq"},
            "histone": "histone.h5ad",
        },
        "cond.tsv",
        phase_column="condition",
    )
    assert "use_03" not in mdata["protein"].obs_names  # excluded in the sheet
    assert "use_03" in mdata["histone"].obs_names  # an .h5ad is taken as it is
    assert mdata.obs.loc["use_03"].isna().all()  # not in the sheet any more
    assert mdata.obs.loc["use_01", "condition"] == "use"
    from kratom_omics.io._study import write_h5mu

    write_h5mu(mdata, tmp_path / "out" / "study.h5mu")
    back = kom.io.read_h5mu(tmp_path / "out" / "study.h5mu")
    assert list(back.mod) == ["protein", "histone"]
    assert back.obs["phase"].astype(str).tolist() == mdata.obs["phase"].astype(str).tolist()
    np.testing.assert_array_equal(back["protein"].X, mdata["protein"].X)
    assert not list((tmp_path / "out").glob(".*"))


def test_bad_study_inputs(example, tmp_path):
    with pytest.raises(InputFormatError, match=r"study configuration 'nope.yaml' does not exist"):
        kom.io.read_study("nope.yaml")
    Path("bad.yaml").write_text("samples: x.tsv\n")
    with pytest.raises(InputFormatError, match=r"has no 'modalities:' section"):
        kom.io.read_study("bad.yaml")
    with pytest.raises(InputFormatError, match=r"modality 'protein' has neither input nor source"):
        kom.io.read_study({"protein": {"format": "maxquant"}}, "config/samples.tsv")
    with pytest.raises(
        InputFormatError,
        match=r"'PXD000001/proteinGroups.txt' is not downloaded .*kratom-omics fetch PXD000001",
    ):
        kom.io.read_study(
            {
                "modalities": {"protein": {"source": "PXD000001/proteinGroups.txt"}},
                "samples": "config/samples.tsv",
            }
        )


def test_cli_study_and_report_of_the_study(example, capsys, monkeypatch):
    code = main(
        [
            "study",
            "histone=example_data/histone_ratios.xls",
            "western=example_data/western_blot.tsv",
            "--samples",
            "config/samples.tsv",
            "--out",
            "results/study.h5mu",
        ]
    )
    _, err = capsys.readouterr()
    assert code == 0, err
    mdata = kom.io.read_h5mu("results/study.h5mu")
    assert list(mdata.mod) == ["histone", "western"]
    assert mdata.n_obs == 18
    # the report command takes the study as kom.report.html takes a MuData (drawing is tested there)
    seen = {}

    def html(data, out, **kwargs):
        seen["data"], seen["out"] = data, out
        return Path(out)

    monkeypatch.setattr(kom.report, "html", html)
    code = main(["report", "results/study.h5mu", "--out", "results/report.html"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert list(seen["data"].mod) == ["histone", "western"]
    assert seen["data"].obs["phase"].astype(str).tolist() == mdata.obs["phase"].astype(str).tolist()
    assert seen["out"] == Path("results/report.html")
