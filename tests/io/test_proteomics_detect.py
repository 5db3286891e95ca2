"""Format auto-detection and the read_proteomics dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError

DATA = Path(__file__).parent.parent / "data" / "proteomics"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("proteinGroups.txt", "maxquant"),
        ("proteinGroups_R.txt", "maxquant"),
        ("proteinGroups_silac.txt", "maxquant"),
        ("report.pg_matrix.tsv", "diann"),
        ("report_2x.pg_matrix.tsv", "diann"),
        ("report.tsv", "diann"),
        ("combined_protein.tsv", "fragpipe"),
        ("spectronaut_report.tsv", "spectronaut"),
        ("spectronaut_pivot.tsv", "spectronaut"),
        ("results_proteins.csv", "alphapept"),
        ("pg.matrix.tsv", "alphadia"),
        ("quant.mzTab", "mztab"),
        ("identification_only.mzTab", "mztab"),
    ],
)
def test_detect(name, fmt):
    assert kom.io.detect_proteomics_format(DATA / name) == fmt


def test_unknown_header_lists_signatures(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("id\tS1\tS2\nP1\t1\t2\n")
    with pytest.raises(InputFormatError, match="could not recognise the proteomics tool") as err:
        kom.io.read_proteomics(path)
    msg = str(err.value)
    assert "could not recognise the proteomics tool from the header ['id', 'S1', 'S2']" in msg
    assert "MaxQuant proteinGroups.txt: 'Protein IDs'" in msg
    assert "mzTab: lines starting with 'MTD'" in msg
    assert "kom.io.read_table" in msg


def test_explicit_format_and_typo():
    a = kom.io.read_proteomics(DATA / "proteinGroups.txt", format="MaxQuant", quantity="intensity")
    assert a["CTRL_1", "Q5U316"].X[0, 0] == 2.1e8
    with pytest.raises(
        KeyNotFoundError, match=r"format='maxqant' is not available\. Did you mean 'maxquant'"
    ):
        kom.io.read_proteomics(DATA / "proteinGroups.txt", format="maxqant")


def test_missing_and_empty_file(tmp_path):
    with pytest.raises(InputFormatError, match="does not exist"):
        kom.io.read_proteomics(tmp_path / "nope.txt")
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n")
    with pytest.raises(InputFormatError, match="is empty"):
        kom.io.read_proteomics(empty)


def test_wrong_explicit_tool():
    with pytest.raises(
        InputFormatError, match="looks like a MaxQuant table: use format='maxquant'"
    ):
        kom.io.read_proteomics(DATA / "proteinGroups.txt", format="fragpipe")


def test_file_name_hint_gives_the_readers_message(tmp_path):
    path = tmp_path / "proteinGroups.txt"
    path.write_text("id\tIntensity S1\nP1\t1\n")
    assert kom.io.detect_proteomics_format(path) == "maxquant"
    with pytest.raises(InputFormatError, match=r"not a MaxQuant proteinGroups table: missing"):
        kom.io.read_proteomics(path)


def test_windows_export_bom_and_crlf(tmp_path):
    path = tmp_path / "combined_protein.tsv"
    text = (DATA / "combined_protein.tsv").read_text()
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    a = kom.io.read_proteomics(path)
    assert list(a.obs_names) == ["CTRL_1", "USE_1", "WD_1"]
    assert a.var.loc["Q6P6W3", "gene"] == "Hdac2"
    assert a["WD_1", "Q5U316"].X[0, 0] == 3.1e8


def test_output_folder(tmp_path):
    txt = tmp_path / "combined" / "txt"
    txt.mkdir(parents=True)
    (txt / "proteinGroups.txt").write_text((DATA / "proteinGroups.txt").read_text())
    (txt / "peptides.txt").write_text("Sequence\tProteins\n")
    a = kom.io.read_proteomics(tmp_path, DATA / "samples.tsv")
    assert a.shape == (6, 7)
    assert a.uns["kratom_omics"]["provenance"]["step_000"]["function"].endswith("read_maxquant")
    assert kom.io.read_proteomics(tmp_path / "combined").shape == (6, 7)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="is a folder without a known protein table"):
        kom.io.read_proteomics(tmp_path / "empty")
