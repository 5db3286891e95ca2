"""MaxQuant proteinGroups.txt: columns, flags, gene fallback, R-written names, SILAC, errors."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError, SampleMismatchError

DATA = Path(__file__).parent.parent / "data" / "proteomics"
PG = DATA / "proteinGroups.txt"
SAMPLES = ["CTRL_1", "CTRL_2", "USE_1", "USE_2", "WD_1", "WD_2"]
IDS = ["Q5U316", "Q6P6W3", "P63018", "Q9Z1B2", "CON__P00761", "REV__Q5U317", "P62260"]


@pytest.fixture(scope="module")
def adata():
    return kom.io.read_maxquant(PG, DATA / "samples.tsv")


def test_shape_ids_and_lfq_values(adata):
    assert adata.shape == (6, 7)
    assert list(adata.obs_names) == SAMPLES
    assert list(adata.var_names) == IDS
    assert adata.X.dtype == np.float64
    # LFQ intensity (default when present), not Intensity or iBAQ
    np.testing.assert_array_equal(
        adata[:, "Q5U316"].X.ravel(), [1.0e8, 1.2e8, 1.5e8, 1.4e8, 3.1e8, 2.9e8]
    )
    np.testing.assert_array_equal(adata.X, adata.layers["raw"])


def test_zeros_become_missing(adata):
    hdac2 = adata[:, "Q6P6W3"].X.ravel()
    assert np.isnan(hdac2[3])
    assert np.isnan(hdac2).sum() == 1
    assert np.isnan(adata[:, "REV__Q5U317"].X).all()
    assert int(np.isnan(adata.X).sum()) == 9


def test_flags_and_counts(adata):
    var = adata.var
    assert var["is_contaminant"].tolist() == [False, False, False, False, True, False, False]
    assert var["is_decoy"].tolist() == [False, False, False, False, False, True, False]
    assert var["only_by_site"].tolist() == [False] * 6 + [True]
    assert var["is_decoy"].dtype == bool
    # n_peptides: 'Razor + unique peptides' (what the protein group is quantified from)
    assert var["n_peptides"].tolist() == [10, 9, 31, 2, 5, 1, 3]
    assert var["n_peptides"].dtype == np.int64
    assert var["n_peptides_all"].tolist() == [12, 9, 31, 2, 5, 1, 3]
    assert var.loc["Q5U316", "n_peptides_unique"] == 8


def test_protein_groups_stay_one_feature_with_all_symbols(adata):
    rab = adata.var.loc["Q5U316"]
    assert rab["gene"] == "Rab35;Rab1a"
    assert rab["gene_leading"] == "Rab35"
    assert rab["protein_ids"] == "Q5U316;Q6NYB7;F1LQ99"
    assert rab["majority_protein_ids"] == "Q5U316;Q6NYB7"
    assert rab["protein_leading"] == "Q5U316"
    # a symbol search for Rab1a finds the Rab35 group
    hits = adata.var_names[adata.var["gene"].str.split(";").apply(lambda g: "Rab1a" in g)]
    assert list(hits) == ["Q5U316"]


def test_gene_fallbacks(adata, caplog):
    # empty "Gene names": GN= of the FASTA header, else the leading protein id
    assert adata.var.loc["P63018", "gene"] == "Hspa8"
    assert adata.var.loc["Q9Z1B2", "gene"] == "Q9Z1B2"
    assert adata.var.loc["CON__P00761", "gene_leading"] == "CON__P00761"
    with caplog.at_level("INFO", logger="kratom_omics"):
        kom.io.read_maxquant(PG)
    assert "3 of 7 protein groups have no gene name" in caplog.text


def test_sample_sheet_and_provenance(adata):
    assert adata.obs["phase"].cat.categories.tolist() == ["control", "use", "withdrawal"]
    assert adata.obs["phase"].tolist() == ["control"] * 2 + ["use"] * 2 + ["withdrawal"] * 2
    step = adata.uns["kratom_omics"]["provenance"]["step_000"]
    assert step["function"] == "kratom_omics.io.read_maxquant"
    params = json.loads(step["parameters"])
    assert params["quantity"] == "lfq"
    assert params["columns"][0] == "LFQ intensity CTRL_1"


@pytest.mark.parametrize(
    ("quantity", "ctrl1"),
    [("intensity", 210000000.0), ("ibaq", 210000000.0 / 20), ("LFQ", 1.0e8)],
)
def test_quantity_choice_uses_exact_prefix(quantity, ctrl1):
    a = kom.io.read_maxquant(PG, quantity=quantity)
    assert list(a.obs_names) == SAMPLES  # 'iBAQ peptides' and bare 'Intensity' are not samples
    assert a[:, "Q5U316"].X[0, 0] == pytest.approx(ctrl1)


def test_unknown_quantity():
    with pytest.raises(KeyNotFoundError, match=r"quantity='razor' is not a MaxQuant quantity"):
        kom.io.read_maxquant(PG, quantity="razor")
    # the other tools' name for LFQ is accepted
    np.testing.assert_array_equal(
        kom.io.read_maxquant(PG, quantity="maxlfq").X, kom.io.read_maxquant(PG).X
    )


def test_silac_channels_not_confused():
    path = DATA / "proteinGroups_silac.txt"
    summed = kom.io.read_maxquant(path)  # no LFQ columns: falls back to Intensity <sample>
    assert list(summed.obs_names) == ["S1", "S2"]
    np.testing.assert_array_equal(summed.X, [[550.0, 50.0], [450.0, 40.0]])
    heavy = kom.io.read_maxquant(path, label="H")
    np.testing.assert_array_equal(heavy.X, [[350.0, 20.0], [250.0, 10.0]])
    light = kom.io.read_maxquant(path, label="l")
    np.testing.assert_array_equal(light.X, [[200.0, 30.0], [200.0, 30.0]])
    # older MaxQuant: 'Contaminant' instead of 'Potential contaminant'
    assert summed.var["is_contaminant"].tolist() == [False, True]
    with pytest.raises(InputFormatError, match="label='X'"):
        kom.io.read_maxquant(path, label="X")
    with pytest.raises(
        InputFormatError, match=r"no 'LFQ intensity <sample>' columns.*\['intensity'\]"
    ):
        kom.io.read_maxquant(path, quantity="lfq")


def test_r_written_table_matches_sheet_by_r_names():
    sheet = pd.DataFrame({"sample": ["WD-1", "CTRL-1"], "phase": ["withdrawal", "control"]})
    a = kom.io.read_maxquant(DATA / "proteinGroups_R.txt", sheet)
    assert list(a.obs_names) == ["WD-1", "CTRL-1"]  # sheet order
    assert a.obs["run"].tolist() == ["WD.1", "CTRL.1"]
    np.testing.assert_array_equal(a[:, "Q5U316"].X.ravel(), [3.1e8, 1.0e8])
    assert np.isnan(a[:, "Q6P6W3"].X[0, 0])  # 0 -> NaN
    assert a.var["gene"].tolist() == ["Rab35;Rab1a", "Q6P6W3", "CON__P00761"]  # "NA" is missing
    assert a.var["is_contaminant"].tolist() == [False, False, True]


def test_h5ad_round_trip(adata, tmp_path):
    adata.write_h5ad(tmp_path / "pg.h5ad")
    back = ad.read_h5ad(tmp_path / "pg.h5ad")
    np.testing.assert_array_equal(back.X, adata.X)
    assert back.var["gene"].tolist() == adata.var["gene"].tolist()
    assert back.var["only_by_site"].dtype == bool


def test_sample_sheet_mismatch_lists_every_sample(tmp_path):
    sheet = pd.DataFrame(
        {"sample": ["CTRL_1", "CTRL_2", "USE_1", "USE_2", "WD_1", "WD_3"], "phase": ["control"] * 6}
    )
    with pytest.raises(SampleMismatchError, match=r"not the sample sheet: \['WD_2'\]") as err:
        kom.io.read_maxquant(PG, sheet)
    msg = str(err.value)
    assert "in the data but not the sample sheet: ['WD_2']" in msg
    assert "in the sample sheet but not the data: ['WD_3']" in msg
    assert str(PG) in msg


def _rewrite(tmp_path: Path, edit) -> Path:
    lines = PG.read_text().splitlines()
    out = tmp_path / "proteinGroups.txt"
    out.write_text("\n".join(edit(lines)) + "\n")
    return out


def test_truncated_file(tmp_path):
    text = PG.read_text()
    cut = tmp_path / "proteinGroups.txt"
    cut.write_text(text[: text.rindex("\t", 0, len(text) - 40)])
    with pytest.raises(
        InputFormatError, match=r"looks truncated: its last line \(8\) has 38 of the 51 fields"
    ):
        kom.io.read_maxquant(cut)


def test_non_numeric_intensity(tmp_path):
    def edit(lines):
        fields = lines[2].split("\t")
        header = lines[0].split("\t")
        fields[header.index("LFQ intensity WD_1")] = "4,1E+07x"
        return [lines[0], lines[1], "\t".join(fields), *lines[3:]]

    path = _rewrite(tmp_path, edit)
    with pytest.raises(InputFormatError, match=r"non-numeric value '4,1E\+07x'") as err:
        kom.io.read_maxquant(path)
    msg = str(err.value)
    assert (
        "column 'LFQ intensity WD_1' has a non-numeric value '4,1E+07x' at feature 'Q6P6W3'" in msg
    )
    assert str(path) in msg


def test_duplicated_sample_column(tmp_path):
    def edit(lines):
        return [
            f"{line}\t{line.split(chr(9))[-2]}" if i else f"{line}\tLFQ intensity WD_1"
            for i, line in enumerate(lines)
        ]

    path = _rewrite(tmp_path, edit)
    with pytest.raises(InputFormatError, match=r"\['LFQ intensity WD_1'\] appear more than once"):
        kom.io.read_maxquant(path)


def test_empty_and_header_only(tmp_path):
    empty = tmp_path / "proteinGroups.txt"
    empty.write_text("")
    with pytest.raises(InputFormatError, match="is empty"):
        kom.io.read_maxquant(empty)
    header_only = tmp_path / "header.txt"
    header_only.write_text(PG.read_text().splitlines()[0] + "\n")
    with pytest.raises(InputFormatError, match="no data rows"):
        kom.io.read_maxquant(header_only)


def test_wrong_tool_names_the_right_one():
    with pytest.raises(InputFormatError, match="not a MaxQuant proteinGroups table") as err:
        kom.io.read_maxquant(DATA / "combined_protein.tsv")
    msg = str(err.value)
    missing = "missing column(s) ['Protein IDs']"
    assert f"not a MaxQuant proteinGroups table: {missing}" in msg
    assert "looks like a FragPipe table: use format='fragpipe'" in msg


EXAMPLE = Path(__file__).parent.parent.parent / "example_data"


@pytest.mark.skipif(
    not (EXAMPLE / "proteinGroups.txt").exists() or not (EXAMPLE / "samples.tsv").exists(),
    reason="example data not present",
)
def test_example_data_loads():
    sheet = kom.io.read_samples(EXAMPLE / "samples.tsv")
    a = kom.io.read_proteomics(EXAMPLE / "proteinGroups.txt", EXAMPLE / "samples.tsv")
    assert list(a.obs_names) == list(sheet.index)  # every sample, in the sheet's order
    assert a.obs["phase"].tolist() == sheet["phase"].tolist()
    assert a.n_vars >= 100
    assert a.var_names.is_unique
    assert a.var["is_contaminant"].any()
    assert a.var["is_decoy"].any()
    assert np.nanmin(a.X) > 0
    assert a.var["gene"].notna().all()


def test_gzipped_table(tmp_path):
    import gzip

    path = tmp_path / "proteinGroups.txt.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(PG.read_text())
    a = kom.io.read_proteomics(path)
    assert a.shape == (6, 7)
    assert a["WD_2", "Q5U316"].X[0, 0] == 2.9e8


def test_gene_from_several_fasta_headers_listed_once(tmp_path):
    header = (
        "sp|P63018|HSP7C_RAT Heat shock cognate 71 kDa protein "
        "OS=Rattus norvegicus OX=10116 GN=Hspa8"
    )
    isoform = "sp|P63018-2|HSP7C_RAT Isoform 2 OS=Rattus norvegicus OX=10116 GN=Hspa8 PE=1 SV=1"
    other = (
        "tr|F1M953|F1M953_RAT Heat shock 70 kDa protein 2 OS=Rattus norvegicus OX=10116 GN=Hspa2"
    )
    path = tmp_path / "proteinGroups.txt"
    path.write_text(PG.read_text().replace(header, f"{header};{isoform};{other}"))
    a = kom.io.read_maxquant(path)
    assert a.var.loc["P63018", "gene"] == "Hspa8;Hspa2"
    assert a.var.loc["P63018", "gene_leading"] == "Hspa8"
    assert a.var.loc["Q5U316", "gene"] == "Rab35;Rab1a"  # reported gene names are kept as they are


def test_trimmed_table_without_experiment_columns(tmp_path):
    """Without 'Peptides <s>' columns samples come from the prefix, minus SILAC and summaries."""
    path = tmp_path / "proteinGroups.txt"
    path.write_text(
        "Protein IDs\tMajority protein IDs\tIntensity\tIntensity L\tIntensity L S1\t"
        "Intensity S1\tIntensity S2\tiBAQ peptides\tiBAQ S1\tiBAQ S2\n"
        "Q5U316\tQ5U316\t30\t10\t10\t10\t20\t4\t2.5\t5\n"
    )
    a = kom.io.read_maxquant(path)
    assert list(a.obs_names) == ["S1", "S2"]
    np.testing.assert_array_equal(a.X.ravel(), [10.0, 20.0])
    b = kom.io.read_maxquant(path, quantity="ibaq")
    assert list(b.obs_names) == ["S1", "S2"]
    np.testing.assert_array_equal(b.X.ravel(), [2.5, 5.0])


def test_round_trip_with_the_simulated_maxquant_writer(tmp_path):
    """Reading what kom.datasets.write_maxquant writes returns the simulated intensities."""
    sim = kom.datasets.simulate("protein", seed=3, n_features=150, n_per_phase=3)
    kom.datasets.write_samples(sim, tmp_path / "samples.tsv")
    kom.datasets.write_maxquant(sim, tmp_path / "proteinGroups.txt", seed=3)
    a = kom.io.read_proteomics(tmp_path / "proteinGroups.txt", tmp_path / "samples.tsv")
    assert list(a.obs_names) == list(sim.obs_names)
    assert a.obs["phase"].tolist() == sim.obs["phase"].tolist()
    n = sim.n_vars
    assert list(a.var_names[:n]) == list(sim.var_names)
    expected = np.round(np.asarray(sim.layers["raw"], dtype=float))
    expected[expected == 0] = np.nan
    np.testing.assert_array_equal(a.X[:, :n], expected)
    assert not a.var["is_contaminant"].iloc[:n].any()
    assert not a.var["is_decoy"].iloc[:n].any()
    assert a.var["is_contaminant"].iloc[n:].sum() + a.var["is_decoy"].iloc[n:].sum() == a.n_vars - n
    assert a.var["is_decoy"].iloc[n:].sum() == 2  # max(2, n // 100) reverse hits
    assert a.var["only_by_site"].sum() == 1
    assert (
        a.var["gene"].iloc[:n] == sim.var["gene"].astype(str)
    ).sum() == n - 1  # one gene removed


# variants real files show: no 'Majority protein IDs', only 'Intensity <sample>', CRLF, R-saved CSV
@pytest.fixture(scope="module")
def sim_small():
    return kom.datasets.simulate("protein", seed=5, n_features=40, n_per_phase=2)


def _expected(path: Path, sep: str, prefix: str) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=sep)
    return raw[[c for c in raw.columns if c.startswith(prefix)]].replace(0, np.nan)


def test_without_majority_protein_ids_and_only_intensity(tmp_path, sim_small):
    path = tmp_path / "proteinGroups.txt"
    kom.datasets.write_maxquant(sim_small, path, quantities=("intensity",), majority=False)
    header = path.read_text().splitlines()[0].split("\t")
    assert "Majority protein IDs" not in header
    assert not any(h.startswith(("LFQ intensity", "iBAQ")) for h in header)
    a = kom.io.read(path)  # detected without 'Majority protein IDs'
    assert a.uns["kratom_omics"]["format"] == "maxquant"
    expected = _expected(path, "\t", "Intensity ")
    assert list(a.obs_names) == [c.removeprefix("Intensity ") for c in expected.columns]
    np.testing.assert_array_equal(a.X, expected.to_numpy().T)
    raw = pd.read_csv(path, sep="\t")
    # the leading id is the first of 'Protein IDs'; no majority column is invented
    assert list(a.var["protein_leading"]) == [i.split(";")[0] for i in raw["Protein IDs"]]
    assert "majority_protein_ids" not in a.var
    params = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])
    assert params["choices"]["protein_ids"]["value"] == "Protein IDs"
    assert params["choices"]["quantity"]["value"] == "intensity"


def test_crlf_and_r_saved_csv_read_the_same(tmp_path, sim_small):
    plain = tmp_path / "proteinGroups.txt"
    kom.datasets.write_maxquant(sim_small, plain)
    crlf = kom.datasets.resave(plain, tmp_path / "crlf.txt", newline="\r\n")
    assert b"\r\n" in crlf.read_bytes()
    r_tab = tmp_path / "r.txt"
    kom.datasets.write_maxquant(sim_small, r_tab, r_names=True)
    r_csv = kom.datasets.resave(r_tab, tmp_path / "pg_R.csv", sep=",")
    assert r_csv.read_text().startswith("Protein.IDs,Majority.protein.IDs,")
    b = kom.io.read(plain)
    for copy in (crlf, r_csv):
        a = kom.io.read(copy)
        assert list(a.obs_names) == list(b.obs_names), copy.name
        assert list(a.var_names) == list(b.var_names), copy.name
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.var["n_peptides"], b.var["n_peptides"])
    expected = _expected(r_csv, ",", "LFQ.intensity.")
    np.testing.assert_array_equal(kom.io.read(r_csv).X, expected.to_numpy().T)


def test_n_peptides_razor_unique_else_all_peptides(tmp_path, sim_small):
    path = tmp_path / "proteinGroups.txt"
    kom.datasets.write_maxquant(sim_small, path)
    raw = pd.read_csv(path, sep="\t")
    a = kom.io.read_maxquant(path)
    np.testing.assert_array_equal(a.var["n_peptides"], raw["Razor + unique peptides"])
    np.testing.assert_array_equal(a.var["n_peptides_all"], raw["Peptides"])
    trimmed = tmp_path / "trimmed.txt"
    raw.drop(columns=["Razor + unique peptides"]).to_csv(trimmed, sep="\t", index=False)
    b = kom.io.read_maxquant(trimmed)
    np.testing.assert_array_equal(b.var["n_peptides"], raw["Peptides"])
    params = json.loads(b.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])
    assert "counts all peptides" in params["choices"]["n_peptides"]["why"]


def test_a_table_with_protein_ids_only_is_not_maxquant(tmp_path):
    path = tmp_path / "other.tsv"
    path.write_text("Protein IDs\tS1\tS2\nP1\t1\t2\n")
    with pytest.raises(InputFormatError, match=r"could not recognise the format"):
        kom.io.read(path)
