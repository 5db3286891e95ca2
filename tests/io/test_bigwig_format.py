"""bigWig tracks through the format registry: kom.io.read and the CLI's load."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import kratom_omics as kom
from kratom_omics.cli import app
from kratom_omics.errors import InputFormatError, KeyNotFoundError
from kratom_omics.io._registry import FORMATS, detect

pytest.importorskip("pyBigWig")
PROTEIN = Path(__file__).parents[1] / "data" / "proteomics" / "proteinGroups.txt"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    sim = kom.datasets.simulate("tracks", n_features=24, n_per_phase=2, seed=2)
    folder = tmp_path_factory.mktemp("tracks")
    paths = kom.datasets.write_tracks(sim, folder)
    return {**paths, "sim": sim, "folder": folder}


def test_the_record_offers_the_statistics_as_quantities():
    fmt = FORMATS["bigwig"]
    assert fmt.quantity_choices == ["mean", "mean0", "sum", "max", "min", "coverage"]
    assert fmt.modality == "histone"
    assert {"regions", "feature", "upstream", "downstream", "annotation"} <= set(fmt.options)


def test_a_sheet_of_tracks_is_detected_and_read_as_read_bigwig_reads_it(study):
    fmt, det = detect(study["samples"])
    assert (fmt.name, det.kind) == ("bigwig", "sheet")
    a = kom.io.read(study["samples"], regions=study["annotation"])
    ref = kom.io.read_bigwig(study["samples"], study["annotation"])
    assert a.uns["kratom_omics"]["format"] == "bigwig"
    assert a.uns["kratom_omics"]["format_kind"] == "sheet"
    assert list(a.obs_names) == list(ref.obs_names) == list(study["sim"].obs_names)
    np.testing.assert_array_equal(a.X, ref.X)
    np.testing.assert_allclose(a.layers["raw"], study["sim"].layers["raw"], rtol=1e-5)
    assert a.obs["phase"].tolist() == study["sim"].obs["phase"].tolist()
    choices = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])["choices"]
    assert choices["stat"]["value"] == "mean"
    assert choices["format"]["value"] == "bigwig (sheet)"


def test_a_folder_and_a_file_of_tracks(study, tmp_path):
    folder = Path(study["tracks"][0]).parent
    fmt, det = detect(folder)
    assert (fmt.name, det.kind) == ("bigwig", "folder")
    a = kom.io.read(folder, study["samples"], regions=study["annotation"], quantity="max")
    ref = kom.io.read_bigwig(study["samples"], study["annotation"], stat="max")
    np.testing.assert_array_equal(a.X, ref.X)
    one = kom.io.read(study["tracks"][0], regions=study["annotation"])
    assert one.n_obs == 1
    assert detect(study["tracks"][0])[1].kind == "track"
    np.testing.assert_array_equal(
        one.X[0], kom.io.read_bigwig(study["tracks"][:1], study["annotation"]).X[0]
    )
    renamed = tmp_path / "signal.dat"  # recognised by its bytes, not its name
    shutil.copy(study["tracks"][0], renamed)
    assert detect(renamed)[0].name == "bigwig"


def test_quantity_is_the_statistic(study):
    b = kom.io.read(study["samples"], format="bigwig", regions=study["annotation"], stat="sum")
    c = kom.io.read(study["samples"], format="bigwig", regions=study["annotation"], quantity="sum")
    np.testing.assert_array_equal(b.X, c.X)
    ref = kom.io.read_bigwig(study["samples"], study["annotation"], stat="sum")
    np.testing.assert_array_equal(b.X, ref.X)
    with pytest.raises(InputFormatError, match=r"quantity='max' and stat='sum' disagree"):
        kom.io.read(study["samples"], regions=study["annotation"], quantity="max", stat="sum")
    with pytest.raises(
        InputFormatError, match=r"quantity='meen' is not available\. Did you mean 'mean'"
    ):
        kom.io.read(study["samples"], regions=study["annotation"], quantity="meen")


def test_regions_are_required_and_only_tracks_take_them(study):
    with pytest.raises(InputFormatError, match=r"bigWig tracks need regions .*CLI --regions"):
        kom.io.read(study["samples"])
    with pytest.raises(KeyNotFoundError, match=r"\['regions'\] are not options of the MaxQuant"):
        kom.io.read(PROTEIN, regions=study["annotation"])


def test_the_sheet_given_again_as_samples_with_a_phase_column(study, tmp_path):
    sheet = pd.read_csv(study["samples"], sep="\t")
    sheet = sheet.rename(columns={"phase": "condition"})
    sheet["path"] = [str(Path(study["folder"]) / p) for p in sheet["path"]]
    path = tmp_path / "tracks.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    a = kom.io.read(path, path, regions=study["annotation"], phase_column="condition")
    assert a.obs["phase"].tolist() == sheet["condition"].tolist()


def _run(args):
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_cli_load_bigwig(study, tmp_path):
    out = tmp_path / "tracks.h5ad"
    code, output = _run(
        [
            "load", str(study["samples"]), str(out), "--format", "bigwig",
            "--regions", str(study["annotation"]), "--quantity", "max", "--upstream", "500",
            "--downstream", "200",
        ]
    )  # fmt: skip
    assert code == 0, output
    a = ad.read_h5ad(out)
    ref = kom.io.read_bigwig(
        study["samples"], study["annotation"], stat="max", upstream=500, downstream=200
    )
    np.testing.assert_array_equal(a.X, ref.X)
    np.testing.assert_array_equal(a.var["end"] - a.var["start"], 700)
    code, output = _run(
        ["load", str(study["samples"]), str(tmp_path / "x.h5ad"), "--format", "bigwig"]
    )
    assert code == 1
    assert re.search(r"error: .*bigWig tracks need regions", output)
    assert not (tmp_path / "x.h5ad").exists()


def test_cli_simulate_tracks(tmp_path):
    out = tmp_path / "tracks.h5ad"
    code, output = _run(
        ["simulate", str(out), "--modality", "tracks", "--n-features", "20", "--n-per-phase", "2"]
    )
    assert code == 0, output
    a = ad.read_h5ad(out)
    ref = kom.datasets.simulate("tracks", n_features=20, n_per_phase=2)
    np.testing.assert_array_equal(a.X, ref.X)
    assert a.uns["simulation"]["modality"] == "tracks"


def test_the_mark_through_the_registry_and_the_cli(study, tmp_path):
    assert "mark" in FORMATS["bigwig"].options
    a = kom.io.read(study["samples"], regions=study["annotation"])
    assert a.uns["tracks"]["mark"] == "H3K9ac"  # the sheet's mark column
    # the sheet naming the files given as data, another sheet without the column as samples
    other = pd.read_csv(study["samples"], sep="\t").drop(columns=["mark", "path"])
    other.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    b = kom.io.read(study["samples"], tmp_path / "samples.tsv", regions=study["annotation"])
    assert b.uns["tracks"]["mark"] == "H3K9ac"
    sheet = pd.read_csv(study["samples"], sep="\t").drop(columns=["mark"])
    sheet["path"] = [str(Path(study["folder"]) / p) for p in sheet["path"]]
    sheet.to_csv(tmp_path / "tracks.tsv", sep="\t", index=False)
    out = tmp_path / "t.h5ad"
    code, output = _run(
        ["load", str(tmp_path / "tracks.tsv"), str(out), "--format", "bigwig",
         "--regions", str(study["annotation"]), "--mark", "H3K4me3"]
    )  # fmt: skip
    assert code == 0, output
    assert ad.read_h5ad(out).uns["tracks"]["mark"] == "H3K4me3"
    code, output = _run(
        ["load", str(study["samples"]), str(tmp_path / "x.h5ad"), "--format", "bigwig",
         "--regions", str(study["annotation"]), "--mark", "H3K4me3"]
    )  # fmt: skip
    assert code == 1
    assert "--mark H3K4me3 but the 'mark' column says 'H3K9ac'; give one of them." in output


def test_a_study_configuration_passes_the_track_options(study, tmp_path):
    sheet = pd.read_csv(study["samples"], sep="\t").drop(columns=["mark"])
    sheet["path"] = [str(Path(study["folder"]) / p) for p in sheet["path"]]
    sheet.to_csv(tmp_path / "tracks.tsv", sep="\t", index=False)
    entry = {
        "input": str(tmp_path / "tracks.tsv"),
        "format": "bigwig",
        "regions": str(study["annotation"]),
        "upstream": 500,
        "downstream": 0,
        "mark": "H3K27ac",
        "quantity": "max",
    }
    md = kom.io.read_study({"chip": entry}, samples=tmp_path / "tracks.tsv")
    chip = md.mod["chip"]
    assert chip.uns["tracks"]["mark"] == "H3K27ac"
    np.testing.assert_array_equal(chip.var["end"] - chip.var["start"], 500)
    ref = kom.io.read_bigwig(
        tmp_path / "tracks.tsv", study["annotation"], stat="max", upstream=500, downstream=0
    )
    np.testing.assert_array_equal(chip.X, ref.X)
