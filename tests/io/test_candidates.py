"""Candidate marker lists: the shipped default, the file format and its validation."""

from __future__ import annotations

import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError
from kratom_omics.io._candidates import CANDIDATE_COLUMNS, default_candidates_path

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_default_list_has_the_kratom_markers():
    df = kom.io.read_candidates()
    assert list(df.columns) == [*CANDIDATE_COLUMNS, "aliases"]
    got = {(r.candidate, r.modality, r.contrast, r.direction) for r in df.itertuples()}
    assert ("Rab35", "protein", "withdrawal - control", "up") in got
    assert ("Hdac2", "protein", "withdrawal - control", "up") in got
    assert ("H3K9ac", "histone", "withdrawal - control", "down") in got
    assert ("H4K12ac", "histone", "withdrawal - control", "down") in got
    # every row cites something, and a citation is either checkable (doi) or flagged as unverified
    assert (df["evidence"].str.len() > 40).all()
    assert all(("doi:" in e) or ("to be confirmed" in e) for e in df["evidence"])
    assert (
        "10.1016/j.brainresbull.2021.04.018" in df.loc[df.candidate == "Rab35", "evidence"].iloc[0]
    )


def test_shipped_list_equals_the_workflow_config_copy():
    shipped = default_candidates_path().read_bytes()
    config = (ROOT / "config" / "candidates.tsv").read_bytes()
    assert shipped == config, (
        "config/candidates.tsv and src/kratom_omics/datasets/candidates.tsv differ"
    )


def test_read_normalises_values_and_skips_comments(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(
        "# my markers\n"
        "Candidate,Modality,Contrast,Direction,Evidence\n"
        "RAB35,Protein,withdrawal-control,UP,my lab (2024)\n"
        "# a comment between rows\n"
        "H3K9ac,histone,post-withdrawal - use ,Down,western blot\n"
    )
    df = kom.io.read_candidates(p)
    assert df.shape == (2, 6)
    assert df["modality"].tolist() == ["protein", "histone"]
    assert df["direction"].tolist() == ["up", "down"]
    assert df["contrast"].tolist() == ["withdrawal - control", "post-withdrawal - use"]
    assert df["aliases"].tolist() == ["", ""]


def test_dataframe_input_is_validated_too():
    df = pd.DataFrame(
        {
            "candidate": ["Fosb"],
            "modality": ["protein"],
            "contrast": ["use - control"],
            "direction": ["up"],
            "evidence": [""],
            "aliases": ["FOSB;DeltaFosB"],
        }
    )
    out = kom.io.read_candidates(df)
    assert out.loc[0, "aliases"] == "FOSB;DeltaFosB"
    assert out.loc[0, "evidence"] == ""


def _write(tmp_path, body):
    p = tmp_path / "candidates.tsv"
    p.write_text("candidate\tmodality\tcontrast\tdirection\tevidence\n" + body)
    return p


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "Rab35\tprotein\twithdrawal - control\tsideways\tx\n",
            "row 2 column 'direction' is 'sideways'; expected 'up' or 'down'",
        ),
        (
            "Rab35\tproteome\twithdrawal - control\tup\tx\n",
            "row 2 column 'modality' is 'proteome'; expected one of ['protein', 'histone']",
        ),
        (
            "Rab35\tprotein\twithdrawal\tup\tx\n",
            "row 2 column 'contrast' is 'withdrawal'; expected two group levels",
        ),
        (
            "Rab35\tprotein\twithdrawal - control\tup\tx\n"
            "RAB35\tprotein\twithdrawal - control\tup\ty\n",
            "candidate 'Rab35' is listed more than once for the same modality and contrast "
            "(rows [2, 3])",
        ),
        ("\tprotein\twithdrawal - control\tup\tx\n", "empty 'candidate' on row(s) [2]"),
    ],
)
def test_bad_rows_are_named(tmp_path, body, message):
    with pytest.raises(InputFormatError, match=r"candidates\.tsv") as exc:
        kom.io.read_candidates(_write(tmp_path, body))
    assert message in str(exc.value)
    assert "candidates.tsv" in str(exc.value)


def test_missing_column_and_missing_file(tmp_path):
    p = tmp_path / "c.tsv"
    p.write_text("candidate\tmodality\tdirection\nRab35\tprotein\tup\n")
    with pytest.raises(InputFormatError, match=r"missing column\(s\) \['contrast', 'evidence'\]"):
        kom.io.read_candidates(p)
    with pytest.raises(InputFormatError, match="does not exist"):
        kom.io.read_candidates(tmp_path / "nope.tsv")
    (tmp_path / "empty.tsv").write_text("# only a comment\n")
    with pytest.raises(InputFormatError, match="holds no header line"):
        kom.io.read_candidates(tmp_path / "empty.tsv")


CANDIDATES = (
    "# markers of withdrawal\n"
    "candidate\tmodality\tcontrast\tdirection\tevidence\taliases\n"
    "Rab35\tprotein\twithdrawal - control\tup\tproteomics\n"  # aliases stripped: a short row
    "# histone marks\n"
    "H3K9ac\thistone\twithdrawal - control\tdown\twestern\tH3K9Ac\n"
)


def test_candidate_list_through_the_shared_text_path(tmp_path):
    import gzip

    p = tmp_path / "c.tsv"
    p.write_text(CANDIDATES)
    ref = kom.io.read_candidates(p)
    assert ref["candidate"].tolist() == ["Rab35", "H3K9ac"]
    assert ref["aliases"].tolist() == ["", "H3K9Ac"]
    gz = tmp_path / "c.tsv.gz"
    gz.write_bytes(gzip.compress(CANDIDATES.encode()))
    cp = tmp_path / "c_cp1252.tsv"
    cp.write_bytes(CANDIDATES.replace("western", "Western blot µg").encode("cp1252"))
    csv = kom.datasets.resave(p, tmp_path / "c.csv", sep=",")
    pd.testing.assert_frame_equal(kom.io.read_candidates(gz), ref)
    pd.testing.assert_frame_equal(kom.io.read_candidates(csv), ref)
    assert kom.io.read_candidates(cp)["evidence"].iloc[1] == "Western blot µg"


def test_candidate_errors_name_the_files_line(tmp_path):
    p = tmp_path / "c.tsv"
    p.write_text(CANDIDATES.replace("\tdown\t", "\tsideways\t"))
    with pytest.raises(InputFormatError, match=r"row 5 column 'direction' is 'sideways'"):
        kom.io.read_candidates(p)


def test_candidate_list_in_a_workbook(tmp_path):
    from openpyxl import Workbook

    p = tmp_path / "c.tsv"
    p.write_text(CANDIDATES)
    book = Workbook()
    for line in CANDIDATES.splitlines():
        book.active.append(line.split("\t"))
    book.save(tmp_path / "c.xlsx")
    pd.testing.assert_frame_equal(
        kom.io.read_candidates(tmp_path / "c.xlsx"), kom.io.read_candidates(p)
    )
