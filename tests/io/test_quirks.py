"""Every writer's file re-saved with the quirks of real files reads as the original does."""

from __future__ import annotations

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.datasets import resave

QUIRKS = {
    "comma-separated .tsv": {"sep": ","},
    "semicolon": {"sep": ";"},
    "Excel on Windows": {"encoding": "cp1252", "newline": "\r\n"},
    "UTF-16 text": {"encoding": "utf-16", "newline": "\r\n"},
    "UTF-8 with BOM": {"bom": True},
    "old Mac line ends": {"newline": "\r"},
    "trailing empty fields stripped": {"strip_trailing_empty": True},
    "trailing delimiter": {"trailing_delimiter": True},
    "gzip": {"suffix": ".gz"},
    "zip": {"suffix": ".zip"},
    "bzip2 + CRLF": {"suffix": ".bz2", "newline": "\r\n"},
    "xz": {"suffix": ".xz"},
}


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    out = tmp_path_factory.mktemp("writers")
    protein = kom.datasets.simulate("protein", seed=3, n_features=60, n_per_phase=3)
    protein.var.loc[protein.var_names[0], "gene"] = "Müller-é"  # a non-ASCII name
    counts = kom.datasets.simulate("histone", assay="counts", seed=4, n_per_phase=2)
    western = kom.datasets.simulate("histone", assay="western", seed=5, n_per_phase=3)
    files = {
        "maxquant": out / "proteinGroups.txt",
        "diann": out / "report.pg_matrix.tsv",
        "featurecounts": out / "counts.txt",
        "densitometry": out / "western.tsv",
    }
    kom.datasets.write_maxquant(protein, files["maxquant"])
    kom.datasets.write_diann(protein, files["diann"])
    kom.datasets.write_featurecounts(counts, files["featurecounts"])
    kom.datasets.write_densitometry(western, files["densitometry"])
    return files


@pytest.mark.parametrize("fmt", ["maxquant", "diann", "featurecounts", "densitometry"])
@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_quirky_copy_reads_like_the_original(originals, tmp_path, fmt, quirk):
    options = dict(QUIRKS[quirk])
    suffix = options.pop("suffix", "")
    src = originals[fmt]
    if fmt == "featurecounts" and options.get("sep", "\t") != "\t":
        pytest.skip("featureCounts tables are tab-separated by definition")
    copy = resave(src, tmp_path / f"{src.name}{suffix}", **options)
    a = kom.io.read(copy, format=fmt)
    b = kom.io.read(src, format=fmt)
    assert list(a.obs_names) == list(b.obs_names)
    assert list(a.var_names) == list(b.var_names)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.layers["raw"], b.layers["raw"])
    if "gene" in b.var:
        assert a.var["gene"].astype(str).tolist() == b.var["gene"].astype(str).tolist()
    a.write_h5ad(tmp_path / "a.h5ad")


def test_the_diann_writer_writes_what_diann_writes(originals):
    path = originals["diann"]
    header = path.read_text().splitlines()[0].split("\t")
    assert header[:5] == [
        "Protein.Group", "Protein.Ids", "Protein.Names", "Genes", "First.Protein.Description",
    ]  # fmt: skip
    assert header[5] == "D:\\Data\\kratom\\control_01.raw"
    a = kom.io.read(path)
    assert a.uns["kratom_omics"]["format_kind"] == "pg_matrix"
    assert a.obs_names[0] == "control_01"
    assert a.obs["file"].iloc[0] == "D:\\Data\\kratom\\control_01.raw"
    assert a.var["gene"].iloc[0] == "Müller-é"


def test_resave_quirks_are_in_the_bytes(originals, tmp_path):
    src = originals["diann"]
    text = src.read_text()
    excel = resave(src, tmp_path / "x.tsv", sep=",", encoding="cp1252", newline="\r\n").read_bytes()
    assert b"\r\n" in excel
    assert "Müller-é".encode("cp1252") in excel
    assert excel.count(b"\t") == 0
    stripped = resave(src, tmp_path / "s.tsv", strip_trailing_empty=True).read_text()
    assert stripped.count("\t") < text.count("\t")
    assert resave(src, tmp_path / "b.tsv", bom=True).read_bytes()[:3] == b"\xef\xbb\xbf"


def test_resave_names_a_character_the_encoding_lacks(tmp_path):
    from kratom_omics.errors import InputFormatError

    src = tmp_path / "t.tsv"
    src.write_text("id\tS1\nP1\t1\nΩmega\t2\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"'Ω' \(line 3 of .*\) cannot be written in cp1252"):
        resave(src, tmp_path / "o.tsv", encoding="cp1252")
