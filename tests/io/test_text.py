"""The shared text-reading path: archives, encodings, delimiters, row shapes, NUL bytes, headers."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError
from kratom_omics.io._columns import read_columns
from kratom_omics.io._text import open_table, open_text

DATA = Path(__file__).parents[1] / "data" / "proteomics"
PG = DATA / "proteinGroups.txt"
TABLE = "id\tgene\tS1\tS2\nP1\tRab35\t1.5\t2\nP2\tHdac2\t3\t4\n"


def choices(adata) -> dict:
    steps = adata.uns["kratom_omics"]["provenance"]
    return json.loads(steps[sorted(steps)[0]]["parameters"]).get("choices", {})


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# archives --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("suffix", "pack"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_compressed_tables_read_transparently(tmp_path, suffix, pack):
    plain = kom.io.read_maxquant(PG, quantity="intensity")
    path = write(tmp_path / f"proteinGroups.txt{suffix}", pack(PG.read_bytes()))
    a = kom.io.read(path, quantity="intensity")
    assert a.uns["kratom_omics"]["format"] == "maxquant"
    np.testing.assert_array_equal(a.X, plain.X)
    assert list(a.var_names) == list(plain.var_names)
    assert choices(a)["compression"] == suffix.strip(".").replace("gz", "gzip")


def test_gzip_is_recognised_without_its_extension(tmp_path):
    path = write(tmp_path / "table.tsv", gzip.compress(TABLE.encode()))
    a = kom.io.read_table(path)
    assert a.to_df().loc["S1", "P1"] == 1.5


def test_zip_with_one_table_and_macos_leftovers(tmp_path):
    path = tmp_path / "pg.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("txt/proteinGroups.txt", PG.read_bytes())
        zf.writestr("__MACOSX/txt/._proteinGroups.txt", b"\x00\x05junk")
        zf.writestr("txt/.DS_Store", b"\x00junk")
    a = kom.io.read(path, quantity="intensity")
    assert a.n_obs == 6
    assert a.to_df().loc["CTRL_1", "Q5U316"] == 2.1e8
    assert choices(a)["compression"] == "zip (txt/proteinGroups.txt)"


def test_zip_with_several_tables_names_them(tmp_path):
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("proteinGroups.txt", "a\n")
        zf.writestr("peptides.txt", "b\n")
    with pytest.raises(
        InputFormatError, match=r"holding 2 files \['proteinGroups.txt', 'peptides.txt'\]"
    ):
        kom.io.read_maxquant(path)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    data = gzip.compress((TABLE * 3000).encode())
    path = write(tmp_path / "t.tsv.gz", data[: len(data) // 2])
    with pytest.raises(InputFormatError, match=r"gzip file is damaged or truncated"):
        kom.io.read_table(path)


def test_excel_workbook_given_as_text_is_named(tmp_path):
    path = tmp_path / "proteinGroups.txt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(InputFormatError, match=r"is an Excel workbook \(.xlsx\), not a text"):
        kom.io.read_maxquant(path)


# encodings -------------------------------------------------------------------------------------
def test_windows_1252_text_is_read_and_the_choice_recorded(tmp_path, caplog):
    text = "id\tdescription\tS1\tS2\nP1\tRab35 µg/ml, café\t1\t2\n"
    path = write(tmp_path / "t.tsv", text.encode("cp1252"))
    with caplog.at_level("WARNING", logger="kratom_omics"):
        a = kom.io.read_table(path)
    assert a.var.loc["P1", "description"] == "Rab35 µg/ml, café"
    found = choices(a)["encoding"]
    assert found["value"] == "cp1252"
    assert "byte 0xb5 on line 2" in found["why"]
    assert "not UTF-8: byte 0xb5 on line 2; read as Windows-1252" in caplog.text


def test_bytes_windows_1252_leaves_undefined_are_read_as_latin_1(tmp_path):
    path = write(tmp_path / "t.tsv", b"id\tS1\nP\x81\t1\n")
    a = kom.io.read_table(path)
    assert list(a.var_names) == ["P\x81"]
    assert choices(a)["encoding"]["value"] == "latin-1"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_byte_order_marks_and_utf16(tmp_path, codec):
    path = write(tmp_path / "t.tsv", ("id\tS1\tS2\nRab35 µ\t1\t2\n").encode(codec))
    a = kom.io.read_table(path)
    assert list(a.var_names) == ["Rab35 µ"]
    assert list(a.obs_names) == ["S1", "S2"]


def test_a_given_encoding_is_used_and_a_wrong_one_names_the_line(tmp_path):
    path = write(tmp_path / "t.tsv", "id\tS1\nP1\t1\nµ\t2\n".encode("cp1252"))
    assert list(kom.io.read_table(path, encoding="latin-1").var_names) == ["P1", "µ"]
    with pytest.raises(InputFormatError, match=r"line 3 cannot be decoded as utf-8"):
        kom.io.read_table(path, encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"encoding='utf-9' is not a known text encoding"):
        kom.io.read(path, format="table", encoding="utf-9")


def test_read_passes_encoding_to_every_text_reader(tmp_path):
    text = PG.read_text().replace("Ras-related protein Rab-35", "Ras-related protéin Rab-35")
    path = write(tmp_path / "proteinGroups.txt", text.encode("cp1252"))
    a = kom.io.read(path, quantity="intensity", encoding="cp1252")
    assert a.var.loc["Q5U316", "protein_names"].startswith("Ras-related protéin Rab-35;")
    assert choices(a)["encoding"] == {"value": "cp1252", "why": "given"}


# delimiters and line ends ----------------------------------------------------------------------
def test_comma_separated_tsv_is_sniffed_and_noted(tmp_path, caplog):
    path = write(tmp_path / "t.tsv", TABLE.replace("\t", ","))
    with caplog.at_level("WARNING", logger="kratom_omics"):
        a = kom.io.read_table(path)
    assert a.to_df().loc["S2", "P2"] == 4
    assert "comma-separated although named .tsv" in caplog.text


def test_tab_table_with_commas_in_cells_stays_tab(tmp_path):
    text = "id\tdescription\tS1\nP1\tkinase, putative, 2\t1\nP2\ta, b, c, d\t2\n"
    a = kom.io.read_table(write(tmp_path / "t.csv", text))
    assert a.var.loc["P1", "description"] == "kinase, putative, 2"


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_line_ends(tmp_path, newline):
    a = kom.io.read_table(write(tmp_path / "t.tsv", TABLE.replace("\n", newline)))
    assert a.to_df().loc["S2", "P2"] == 4
    assert list(a.var["gene"]) == ["Rab35", "Hdac2"]


def test_mixed_delimiters_are_refused_naming_the_line(tmp_path):
    path = write(tmp_path / "t.tsv", TABLE + "P3,Gapdh,5,6\n")
    with pytest.raises(InputFormatError, match=r"line 4 is comma-separated but the header is tab"):
        kom.io.read_table(path)


# row shapes ------------------------------------------------------------------------------------
def test_rows_with_stripped_trailing_fields_read_as_missing(tmp_path):
    text = "id\tgene\tS1\tS2\nP1\tRab35\t1\nP2\nP3\tGapdh\t3\t4\n"
    a = kom.io.read_table(write(tmp_path / "t.tsv", text), sample_columns=["S1", "S2"])
    x = a.to_df()
    assert x.loc["S1", "P1"] == 1
    assert np.isnan(x.loc["S2", "P1"])
    assert np.isnan(x["P2"]).all()
    assert x.loc["S2", "P3"] == 4
    assert choices(a)["short_rows"]["value"] == 2


def test_a_short_last_row_without_line_end_is_truncation(tmp_path):
    path = write(tmp_path / "t.tsv", TABLE + "P3\tGapdh\t5")
    with pytest.raises(
        InputFormatError, match=r"looks truncated: its last line \(4\) has 3 of the 4 fields"
    ):
        kom.io.read_table(path)
    ok = kom.io.read_table(write(tmp_path / "u.tsv", TABLE + "P3\tGapdh\t5\t6"))
    assert ok.to_df().loc["S2", "P3"] == 6  # a complete last row needs no line end


def test_a_row_longer_than_the_header_names_its_line(tmp_path):
    path = write(tmp_path / "t.tsv", TABLE + "P3\tGapdh\t5\t6\t7\n")
    with pytest.raises(InputFormatError, match=r"line 4 has 5 fields but the header has 4"):
        kom.io.read_table(path)
    csv = write(tmp_path / "t.csv", "id,desc,S1\nP1,kinase, putative,1\n")
    with pytest.raises(InputFormatError, match=r"line 2 has 4 fields .* unquoted comma"):
        kom.io.read_table(csv)


def test_trailing_delimiters_are_ignored(tmp_path):
    text = "id\tS1\tS2\t\nP1\t1\t2\t\t\nP2\t3\t4\t\n"
    a = kom.io.read_table(write(tmp_path / "t.tsv", text))
    assert list(a.obs_names) == ["S1", "S2"]
    assert a.to_df().loc["S2", "P2"] == 4


def test_quoted_cells_with_delimiters_and_line_breaks(tmp_path):
    text = 'id,desc,S1\n"P1","kinase, putative",1\n"P2","two\nlines",2\n'
    a = kom.io.read_table(write(tmp_path / "t.csv", text))
    assert a.var.loc["P2", "desc"] == "two\nlines"
    assert a.to_df().loc["S1", "P2"] == 2


def test_blank_lines_and_separator_only_rows_are_skipped(tmp_path):
    text = "\nid,S1,S2\n\nP1,1,2\n,,\n   \nP2,3,4\n,,\n"
    a = kom.io.read_table(write(tmp_path / "t.csv", text))
    assert list(a.var_names) == ["P1", "P2"]


def test_stray_quote_in_a_tab_table_is_text(tmp_path):
    text = 'id\tdesc\tS1\nP1\t"Rab35 GTPase\t1\nP2\tok\t2\n'
    a = kom.io.read_table(write(tmp_path / "t.tsv", text))
    assert a.var.loc["P1", "desc"] == '"Rab35 GTPase'
    assert a.to_df().loc["S1", "P2"] == 2


def test_cells_longer_than_the_csv_field_limit(tmp_path):
    long = "x" * 200_000
    a = kom.io.read_table(write(tmp_path / "t.tsv", f"id\tdesc\tS1\nP1\t{long}\t1\n"))
    assert len(a.var.loc["P1", "desc"]) == 200_000
    header = write(tmp_path / "h.tsv", f"id\t{long}\nP1\t1\n")
    assert list(kom.io.read_table(header).obs_names) == [long]


def test_nul_bytes_are_refused_naming_the_line(tmp_path):
    path = write(tmp_path / "t.tsv", TABLE.encode() + b"P3\tGap\x00dh\t5\t6\n")
    with pytest.raises(InputFormatError, match=r"line 4 holds a NUL byte"):
        kom.io.read_table(path)


# header ----------------------------------------------------------------------------------------
def test_empty_header_cell_never_becomes_a_sample(tmp_path):
    holding = write(tmp_path / "t.tsv", "id\tS1\t\tS2\nP1\t1\t9\t2\n")
    with pytest.raises(
        InputFormatError, match=r"column 3 holds values but its header cell is empty"
    ):
        kom.io.read_table(holding)
    pg = "Protein.Group\tProtein.Ids\tGenes\tS1\t\tS2\nP1\tP1\tG1\t1\t\t2\nP2\tP2\tG2\t3\t\t4\n"
    a = kom.io.read_diann(write(tmp_path / "pg.tsv", pg))
    assert list(a.obs_names) == ["S1", "S2"]
    with pytest.raises(InputFormatError, match=r"column 5 holds values but its header cell"):
        kom.io.read_diann(write(tmp_path / "pg2.tsv", pg.replace("\t\t2", "\t7\t2")))


def test_unnamed_first_column_is_the_id_column(tmp_path):
    a = kom.io.read_table(write(tmp_path / "r.csv", '"","S1","S2"\n"P1",1,2\n"P2",3,4\n'))
    assert list(a.var_names) == ["P1", "P2"]
    assert list(a.obs_names) == ["S1", "S2"]


def test_duplicated_names_a_reader_needs_are_an_error_others_ignored(tmp_path):
    lines = PG.read_text().splitlines()
    header = lines[0].split("\t")
    dup = header.index("Number of proteins")
    text = "\n".join("\t".join([*ln.split("\t"), ln.split("\t")[dup]]) for ln in lines) + "\n"
    a = kom.io.read_maxquant(write(tmp_path / "proteinGroups.txt", text))  # not read: ignored
    assert a.n_vars == kom.io.read_maxquant(PG).n_vars
    with pytest.raises(InputFormatError, match=r"duplicated column\(s\) \['S1'\]"):
        kom.io.read_table(write(tmp_path / "t.tsv", "id\tS1\tS1\nP1\t1\t2\n"))


def test_duplicated_feature_ids_get_unique_documented_suffixes(tmp_path):
    text = "id\tS1\nA\t1\nA\t2\nA-1\t3\nA\t4\n"
    a = kom.io.read_table(write(tmp_path / "t.tsv", text))
    assert list(a.var_names) == ["A", "A-2", "A-1", "A-3"]
    assert a.var_names.is_unique
    assert choices(a)["duplicated_features"]["value"] == 2


def test_header_only_file(tmp_path):
    with pytest.raises(InputFormatError, match="no data rows"):
        kom.io.read_diann(write(tmp_path / "pg.tsv", "Protein.Group\tProtein.Ids\tGenes\tS1\n"))


# the TextFile itself ---------------------------------------------------------------------------
def test_line_numbers_skip_comments_and_blank_lines(tmp_path):
    path = write(tmp_path / "t.tsv", "# comment\nid\tS1\n\nP1\t1\n\n\nP2\t2\n")
    tf = open_table(path, comment="#")
    assert tf.header_line == 2
    assert tf.blank_lines == [3, 5, 6]
    assert tf.line_of([0, 1]).tolist() == [4, 7]
    assert list(open_text(path).lines())[1] == "id\tS1"


def test_sep_must_be_one_character(tmp_path):
    with pytest.raises(InputFormatError, match=r"sep='::'; expected one character"):
        open_table(write(tmp_path / "t.tsv", TABLE), sep="::")


def test_missing_folder_and_empty_inputs(tmp_path):
    with pytest.raises(InputFormatError, match="does not exist"):
        open_table(tmp_path / "none.tsv")
    with pytest.raises(InputFormatError, match="is a directory"):
        open_table(tmp_path)
    with pytest.raises(InputFormatError, match="is empty"):
        open_table(write(tmp_path / "e.tsv", ""))
    with pytest.raises(InputFormatError, match="holds no header line"):
        open_table(write(tmp_path / "b.tsv", "\n\n  \n"))
    tf = open_table(write(tmp_path / "t.tsv", TABLE))
    with pytest.raises(KeyNotFoundError, match=r"column\(s\) \['nope'\] are not in the header"):
        read_columns(tf, text=["nope"], numeric=[])


def test_an_archive_is_decompressed_once_into_a_copy_removed_afterwards(tmp_path, monkeypatch):
    import gc

    path = write(tmp_path / "t.tsv.gz", gzip.compress(TABLE.encode()))
    tf = open_table(path)
    copy = tf._plain
    assert copy is not None
    assert copy.read_bytes() == TABLE.encode()
    assert tf.read_csv(dtype=str)["S1"].tolist() == ["1.5", "3"]
    del tf
    gc.collect()
    assert not copy.exists()

    def no_room(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("tempfile.NamedTemporaryFile", no_room)
    tf = open_table(path)  # without room for the copy the archive is decompressed again
    assert tf._plain is None
    assert tf.read_csv(dtype=str)["S2"].tolist() == ["2", "4"]
