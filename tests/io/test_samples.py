from __future__ import annotations

import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import KratomOmicsError, SampleSheetError


def write(tmp_path, text, name="samples.tsv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_tsv_with_standard_and_free_columns(tmp_path):
    p = write(
        tmp_path,
        "Sample\tPhase\tsubject\tbatch\ttimepoint\tweight_g\n"
        "C1\tcontrol\tr1\tb1\t\t310\n"
        "U1\tUse\tr1\tb1\t\t305\n"
        "W1\twithdrawal\tr1\tb2\t1\t290\n"
        "W2\twithdrawal \tr1\tb2\t3\t292\n",
    )
    sheet = kom.io.read_samples(p)
    assert list(sheet.index) == ["C1", "U1", "W1", "W2"]
    assert sheet["phase"].cat.ordered
    assert list(sheet["phase"].cat.categories) == ["control", "use", "withdrawal"]
    assert list(sheet["phase"].astype(str)) == ["control", "use", "withdrawal", "withdrawal"]
    assert sheet["timepoint"].tolist()[2:] == [1.0, 3.0]
    assert sheet["timepoint"].isna().sum() == 2
    assert isinstance(sheet["subject"].dtype, pd.CategoricalDtype)
    assert sheet["weight_g"].tolist() == ["310", "305", "290", "292"]


def test_reads_csv_and_xlsx(tmp_path):
    df = pd.DataFrame({"sample": ["a", "b"], "phase": ["control", "withdrawal"], "batch": [1, 2]})
    df.to_csv(tmp_path / "s.csv", index=False)
    df.to_excel(tmp_path / "s.xlsx", index=False)
    for name in ("s.csv", "s.xlsx"):
        sheet = kom.io.read_samples(tmp_path / name)
        assert list(sheet.index) == ["a", "b"]
        assert list(sheet["batch"].astype(str)) == ["1", "2"]


def test_custom_phases_in_given_order(tmp_path):
    p = write(tmp_path, "sample\tphase\na\tbaseline\nb\tabstinence\nc\tchronic\n")
    sheet = kom.io.read_samples(p, phases=["baseline", "chronic", "abstinence"])
    assert list(sheet["phase"].cat.categories) == ["baseline", "chronic", "abstinence"]
    assert sheet["phase"].max() == "abstinence"


def test_text_timepoints_are_ordered_naturally(tmp_path):
    p = write(
        tmp_path,
        "sample\tphase\ttimepoint\na\twithdrawal\t10d\nb\twithdrawal\t2d\nc\twithdrawal\t1d\n",
    )
    sheet = kom.io.read_samples(p)
    assert list(sheet["timepoint"].cat.categories) == ["1d", "2d", "10d"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sample\tphase\na\tcontrol\nb\tuse\na\twithdrawal\n",
            r"duplicated sample id\(s\) \['a'\] on lines 2, 4",
        ),
        (
            "sample\tphase\na\tcontrol\nb\t\nc\tuse\n",
            r"empty phase on line\(s\) 3 \(samples \['b'\]\)",
        ),
        (
            "sample\tphase\na\tcontrol\nb\twithdrwal\n",
            r"unknown phase\(s\) \['withdrwal'\] on line\(s\) 3",
        ),
        ("sample\tphse\na\tcontrol\n", r"has no 'phase' column. Did you mean 'phse'\?"),
        ("name\tphase\na\tcontrol\n", r"has no 'sample' column"),
        (
            "sample\tphase\tsubject\na\tuse\tr1\nb\tuse\tr1\nc\tcontrol\tr1\n",
            r"subject is measured twice in the same phase on lines 2, 3",
        ),
        ("sample\tphase\n", r"has no rows"),
    ],
)
def test_bad_sheets_name_rows(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(SampleSheetError, match=expected) as info:
        kom.io.read_samples(p)
    assert str(p) in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_same_subject_at_distinct_timepoints_is_fine(tmp_path):
    p = write(
        tmp_path, "sample\tphase\tsubject\ttimepoint\na\twithdrawal\tr1\t1\nb\twithdrawal\tr1\t7\n"
    )
    assert kom.io.read_samples(p).shape == (2, 3)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(KratomOmicsError, match="does not exist"):
        kom.io.read_samples(tmp_path / "nope.tsv")
    p = write(tmp_path, "")
    with pytest.raises(KratomOmicsError, match="is empty"):
        kom.io.read_samples(p)


def test_comma_file_with_tsv_extension_gets_a_hint(tmp_path):
    p = write(tmp_path, "sample,phase\na,control\n")
    with pytest.raises(KratomOmicsError, match="looks comma-separated"):
        kom.io.read_samples(p)


def test_dataframe_indexed_by_sample_keeps_custom_order():
    df = pd.DataFrame(
        {"phase": pd.Categorical(["b", "a"], categories=["b", "a"], ordered=True)},
        index=["s1", "s2"],
    )
    sheet = kom.io.read_samples(df)
    assert list(sheet["phase"].cat.categories) == ["b", "a"]
