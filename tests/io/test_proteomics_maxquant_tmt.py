"""MaxQuant isobaric (TMT) proteinGroups: one sample per reporter channel and experiment, the
quantity choice, channel numbering, R-saved headers, and matching an SDRF by data file and channel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError, SampleMismatchError

SDRF_HEADER = [
    "source name",
    "characteristics[organism]",
    "characteristics[disease]",
    "assay name",
    "technology type",
    "comment[data file]",
    "comment[label]",
    "comment[fraction identifier]",
    "comment[technical replicate]",
    "factor value[phase]",
]


@pytest.fixture(scope="module")
def sim():
    return kom.datasets.simulate("protein", seed=11, n_features=30, n_per_phase=6)


@pytest.fixture(scope="module")
def tmt(sim, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tmt")
    layout = kom.datasets.write_maxquant_tmt(
        sim, folder / "proteinGroups.txt", summary=folder / "summary.txt", seed=2
    )
    return folder, layout


def _raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", low_memory=False)


def test_one_sample_per_channel_and_experiment(tmt):
    folder, layout = tmt
    raw = _raw(folder / "proteinGroups.txt")
    a = kom.io.read(folder / "proteinGroups.txt")
    # 18 samples + a pool per plex: 2 plexes x 10 channels, never summed into one sample
    assert a.n_obs == 20
    assert list(a.obs_names) == [f"plex{p}_{c}" for p in (1, 2) for c in range(1, 11)]
    assert a.obs["plex"].tolist() == ["plex1"] * 10 + ["plex2"] * 10
    assert a.obs["channel"].tolist() == list(range(1, 11)) * 2
    for name in ("plex1_1", "plex2_10"):
        column = f"Reporter intensity corrected {name.split('_')[1]} {name.split('_')[0]}"
        assert a.obs.loc[name, "reporter_column"] == column
        expected = raw[column].replace(0, np.nan).to_numpy()
        np.testing.assert_array_equal(a[name].X.ravel(), expected)
    # the layout the writer returns names the same samples
    assert list(layout.index) == list(a.obs_names)
    step = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])
    assert step["quantity"] == "reporter_corrected"
    assert step["choices"]["reporter_summed_columns"]["value"] == 10


def test_summed_and_count_columns_are_never_samples(tmt):
    folder, _ = tmt
    raw = _raw(folder / "proteinGroups.txt")
    assert "Reporter intensity corrected 1" in raw.columns  # summed over experiments
    assert "Reporter intensity count 1 plex1" in raw.columns
    a = kom.io.read_maxquant(folder / "proteinGroups.txt")
    assert not any("count" in c for c in a.obs["reporter_column"])
    assert all(c.endswith(("plex1", "plex2")) for c in a.obs["reporter_column"])
    # the plexes add up to the summed column MaxQuant writes
    summed = raw["Reporter intensity corrected 3"].to_numpy()
    both = np.nansum(a[["plex1_3", "plex2_3"]].X, axis=0)
    np.testing.assert_allclose(both, summed)


@pytest.mark.parametrize(
    ("quantity", "prefix"),
    [
        ("reporter", "Reporter intensity"),
        ("uncorrected", "Reporter intensity"),
        ("corrected", "Reporter intensity corrected"),
    ],
)
def test_quantity_picks_corrected_or_uncorrected(tmt, quantity, prefix):
    folder, _ = tmt
    raw = _raw(folder / "proteinGroups.txt")
    a = kom.io.read_maxquant(folder / "proteinGroups.txt", quantity=quantity)
    assert a.n_obs == 20
    np.testing.assert_array_equal(
        a["plex2_4"].X.ravel(), raw[f"{prefix} 4 plex2"].replace(0, np.nan).to_numpy()
    )


def test_ms1_intensity_of_a_tmt_table_is_per_experiment(tmt):
    folder, _ = tmt
    raw = _raw(folder / "proteinGroups.txt")
    a = kom.io.read_maxquant(folder / "proteinGroups.txt", quantity="intensity")
    assert list(a.obs_names) == ["plex1", "plex2"]
    np.testing.assert_array_equal(a["plex1"].X.ravel(), raw["Intensity plex1"].replace(0, np.nan))


def test_missing_reporter_quantity_and_label(tmp_path, sim):
    path = tmp_path / "proteinGroups.txt"
    kom.datasets.write_maxquant(sim, path)
    with pytest.raises(InputFormatError, match=r"no 'Reporter intensity corrected <channel>"):
        kom.io.read_maxquant(path, quantity="reporter_corrected")
    tmt = tmp_path / "tmt.txt"
    kom.datasets.write_maxquant_tmt(sim, tmt)
    with pytest.raises(InputFormatError, match=r"label='H' selects a SILAC channel"):
        kom.io.read_maxquant(tmt, label="H")
    with pytest.raises(KeyNotFoundError, match=r"quantity='count' is not a MaxQuant quantity"):
        kom.io.read_maxquant(tmt, quantity="count")


def test_single_experiment_and_zero_based_channels(tmp_path, sim):
    small = sim[:9].copy()
    one = tmp_path / "one.txt"
    layout = kom.datasets.write_maxquant_tmt(small, one, single_experiment=True)
    a = kom.io.read_maxquant(one)
    assert list(a.obs_names) == [f"channel_{c}" for c in range(1, 11)]
    assert "experiment" not in a.obs
    assert set(a.obs["plex"]) == {"1"}
    raw = _raw(one)
    np.testing.assert_array_equal(
        a["channel_10"].X.ravel(), raw["Reporter intensity corrected 10"].replace(0, np.nan)
    )
    assert list(layout.index) == list(a.obs_names)
    # MaxQuant 1.x: channels 0..9 in the header; named and numbered from 1
    zero = tmp_path / "zero.txt"
    kom.datasets.write_maxquant_tmt(small, zero, single_experiment=True, zero_based=True)
    z = kom.io.read_maxquant(zero)
    assert "Reporter intensity corrected 0" in _raw(zero).columns
    assert list(z.obs_names) == list(a.obs_names)
    assert z.obs.loc["channel_1", "reporter_column"] == "Reporter intensity corrected 0"
    np.testing.assert_array_equal(z.X, a.X)
    choices = json.loads(z.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])["choices"]
    assert choices["reporter_channels"]["value"] == "0-based"


def test_r_saved_reporter_columns(tmp_path, sim):
    path = tmp_path / "pg_R.txt"
    kom.datasets.write_maxquant_tmt(sim, path, r_names=True)
    raw = _raw(path)
    assert "Reporter.intensity.corrected.7.plex2" in raw.columns
    a = kom.io.read(path)
    assert a.n_obs == 20
    np.testing.assert_array_equal(
        a["plex2_7"].X.ravel(), raw["Reporter.intensity.corrected.7.plex2"].replace(0, np.nan)
    )
    assert a.var["is_contaminant"].sum() == 2


def _sdrf(path: Path, layout: pd.DataFrame, sim, *, fractions: bool = False) -> Path:
    rows = []
    for _, r in layout.iterrows():
        phase = "pool" if r["is_reference"] else str(sim.obs.loc[r["sample"], "phase"])
        files = r["data_file"].split(";")
        for k, f in enumerate(files, start=1):
            rows.append(
                [
                    r["sample"] if not r["is_reference"] else f"pool{r['plex']}",
                    "Rattus norvegicus",
                    "normal",
                    f"run{r['plex']}",
                    "proteomic profiling by mass spectrometry",
                    f,
                    r["label"],
                    str(k) if fractions else "1",
                    "1",
                    phase,
                ]
            )
    text = "\n".join("\t".join(map(str, x)) for x in [SDRF_HEADER, *rows]) + "\n"
    path.write_text(text)
    return path


def test_sdrf_matched_by_experiment_files_and_channel(tmt, sim, tmp_path):
    folder, layout = tmt
    sdrf = _sdrf(tmp_path / "study.sdrf.tsv", layout, sim)
    pg = folder / "proteinGroups.txt"
    # experiments 'plex1', 'plex2' are not the raw files 'tmt_plex1.raw': the option is named
    with pytest.raises(
        SampleMismatchError,
        match=r"cannot tell which data files .* MaxQuant experiment\(s\) \['plex1', 'plex2'\].*"
        r"Pass experiments=",
    ):
        kom.io.read(pg, sdrf, phases=None)
    raw = _raw(pg)
    for experiments in (
        folder / "summary.txt",
        {"plex1": "tmt_plex1.raw", "plex2": ["tmt_plex2.raw"]},
    ):
        a = kom.io.read(pg, sdrf, phases=None, experiments=experiments)
        assert a.n_obs == 20
        # SDRF names: <data file stem>_<label>; the table's names kept in obs['run']
        assert a.obs.loc["tmt_plex2_TMT127N", "run"] == "plex2_2"
        assert a.obs.loc["tmt_plex1_TMT131", "phase"] == "pool"
        first = layout.index[0]
        sample = layout.loc[first, "sample"]
        assert a.obs.loc[f"tmt_plex1_{layout.loc[first, 'label']}", "source_name"] == sample
        assert a.obs.loc["tmt_plex1_TMT126", "phase"] == sim.obs.loc[sample, "phase"]
        np.testing.assert_array_equal(
            a["tmt_plex2_TMT130C"].X.ravel(),
            raw["Reporter intensity corrected 9 plex2"].replace(0, np.nan),
        )
        assert a.obs.loc["tmt_plex2_TMT130C", "data_file"] == "tmt_plex2.raw"
    with pytest.raises(KeyNotFoundError, match=r"experiments= gives no raw file for .*\['plex2'\]"):
        kom.io.read(pg, sdrf, phases=None, experiments={"plex1": "tmt_plex1.raw"})


def test_sdrf_experiment_named_after_its_raw_file(sim, tmp_path):
    """MaxQuant names each experiment after its raw file when each file is its own experiment."""
    path = tmp_path / "proteinGroups.txt"
    layout = kom.datasets.write_maxquant_tmt(sim, path)
    text = path.read_text().replace(" plex1", " tmt_plex1").replace(" plex2", " tmt_plex2")
    path.write_text(text)
    sdrf = _sdrf(tmp_path / "s.sdrf.tsv", layout, sim)
    a = kom.io.read(path, sdrf, phases=None)
    assert a.n_obs == 20
    assert a.obs.loc["tmt_plex2_TMT126", "run"] == "tmt_plex2_1"


def test_sdrf_fractions_of_a_plex(sim, tmp_path):
    path = tmp_path / "proteinGroups.txt"
    layout = kom.datasets.write_maxquant_tmt(
        sim, path, fractions=2, summary=tmp_path / "summary.txt"
    )
    assert layout["data_file"].iloc[0] == "tmt_plex1_F1.raw;tmt_plex1_F2.raw"
    sdrf = _sdrf(tmp_path / "s.sdrf.tsv", layout, sim, fractions=True)
    sheet = kom.io.read_samples(sdrf, phases=None)
    assert len(sheet) == 20  # fractions merged into one sample per source and label
    a = kom.io.read(path, sdrf, phases=None, experiments=tmp_path / "summary.txt")
    assert a.n_obs == 20
    first = layout.iloc[0]
    assert a.obs.loc[f"{first['sample']}_TMT126", "run"] == "plex1_1"


def test_single_experiment_table_and_sdrf_of_two_plexes(sim, tmp_path):
    one = tmp_path / "one.txt"
    kom.datasets.write_maxquant_tmt(sim[:9].copy(), one, single_experiment=True)
    two = kom.datasets.write_maxquant_tmt(sim, tmp_path / "two.txt")
    sdrf = _sdrf(tmp_path / "s.sdrf.tsv", two, sim)
    with pytest.raises(
        SampleMismatchError, match=r"one set of reporter columns \(one plex\) but the sample sheet"
    ):
        kom.io.read(one, sdrf, phases=None)


def test_cli_load_tmt_with_sdrf_and_experiments(tmt, sim, tmp_path):
    from kratom_omics.cli import app

    folder, layout = tmt
    sdrf = _sdrf(tmp_path / "study.sdrf.tsv", layout, sim)
    out = tmp_path / "tmt.h5ad"
    runner = CliRunner()
    args = ["load", str(folder / "proteinGroups.txt"), str(out), "--samples", str(sdrf)]
    failed = runner.invoke(app, [*args, "--phases", ""])
    assert failed.exit_code == 1
    assert "--experiments" in failed.output
    result = runner.invoke(
        app, [*args, "--phases", "", "--experiments", str(folder / "summary.txt")]
    )
    assert result.exit_code == 0, result.output
    import anndata as ad

    back = ad.read_h5ad(out)
    assert back.n_obs == 20
    assert set(back.obs["plex"]) == {"plex1", "plex2"}
    assert back.obs.loc["tmt_plex1_TMT131", "phase"] == "pool"


def test_experiments_option_only_for_reporter_tables(tmp_path, sim):
    path = tmp_path / "proteinGroups.txt"
    kom.datasets.write_maxquant(sim, path)
    with pytest.raises(InputFormatError, match=r"experiments= maps isobaric experiments"):
        kom.io.read_maxquant(path, experiments={"a": "a.raw"})
    bad = tmp_path / "design.txt"
    bad.write_text("File\tGroup\na.raw\tx\n")
    tmt = tmp_path / "tmt.txt"
    kom.datasets.write_maxquant_tmt(sim, tmt)
    with pytest.raises(InputFormatError, match=r"needs a table with an 'Experiment' column"):
        kom.io.read_maxquant(tmt, experiments=bad)
