from __future__ import annotations

import logging
from pathlib import Path

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


def test_comma_file_with_tsv_extension_is_read_with_a_warning(tmp_path, caplog):
    p = write(tmp_path, "sample,phase\na,control\n")
    with caplog.at_level(logging.WARNING, logger="kratom_omics"):
        sheet = kom.io.read_samples(p)
    assert sheet["phase"].tolist() == ["control"]
    assert "comma-separated although named .tsv" in caplog.text


def _sheet_text():
    return (
        "sample\tphase\tbatch\tsubject\n"
        "Ctl_1\tcontrol\tb1\tr1\n"
        "Ctl_2\tcontrol\tb2\tr2\n"
        "Wd_1\twithdrawal\tb1\n"  # trailing empty field stripped (R, Excel, editors)
        "Wd_2\twithdrawal\tb2\tr4\n"
    )


def test_sheet_through_the_shared_text_path(tmp_path):
    import gzip
    import zipfile

    text = _sheet_text()
    ref = kom.io.read_samples(write(tmp_path, text))
    assert pd.isna(ref.loc["Wd_1", "subject"])  # the short row read with a missing value
    gz = tmp_path / "s.tsv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    zp = tmp_path / "s.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.writestr("samples.tsv", text)
    cp = tmp_path / "s_cp1252.tsv"
    cp.write_bytes(text.replace("Ctl_1", "Ctl_é").encode("cp1252").replace(b"\n", b"\r\n"))
    utf16 = tmp_path / "s_utf16.txt"
    utf16.write_bytes(text.encode("utf-16"))
    csv = kom.datasets.resave(write(tmp_path, text, "plain.tsv"), tmp_path / "s.csv", sep=",")
    for path in (gz, zp, utf16, csv):
        sheet = kom.io.read_samples(path)
        pd.testing.assert_frame_equal(sheet, ref)
    assert kom.io.read_samples(cp).index[0] == "Ctl_é"


def test_sheet_errors_keep_the_files_line_numbers(tmp_path):
    p = write(
        tmp_path,
        "# study sheet\nsample\tphase\n\nC1\tcontrol\nC2\twithdrwal\n\nC3\tcontrol\n",
    )
    with pytest.raises(
        SampleSheetError, match=r"unknown phase\(s\) \['withdrwal'\] on line\(s\) 5"
    ):
        kom.io.read_samples(p)
    p = write(tmp_path, "sample\tphase\nC1\tcontrol\n\nC1\tcontrol\n")
    with pytest.raises(SampleSheetError, match=r"duplicated sample id\(s\) \['C1'\] on lines 2, 4"):
        kom.io.read_samples(p)
    p = write(tmp_path, "sample\tphase\nC1\tcontrol\tx\n")
    with pytest.raises(KratomOmicsError, match=r"line 2 has 3 fields but the header has 2"):
        kom.io.read_samples(p)


def test_sheet_in_a_workbook_xlsx_or_binary_xls(tmp_path):
    from openpyxl import Workbook

    rows = [line.split("\t") for line in _sheet_text().splitlines()]
    ref = kom.io.read_samples(write(tmp_path, _sheet_text()))
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.active.append([])
    book.active.append(["Wd_3", "withdrwal"])
    book.save(tmp_path / "s.xlsx")
    with pytest.raises(
        SampleSheetError, match=r"unknown phase\(s\) \['withdrwal'\] on line\(s\) 7"
    ):
        kom.io.read_samples(tmp_path / "s.xlsx")
    xlwt = pytest.importorskip("xlwt")
    xls = xlwt.Workbook()
    ws = xls.add_sheet("samples")
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            ws.write(i, j, cell)
    xls.save(str(tmp_path / "s.xls"))
    pd.testing.assert_frame_equal(kom.io.read_samples(tmp_path / "s.xls"), ref)


def test_dataframe_indexed_by_sample_keeps_custom_order():
    df = pd.DataFrame(
        {"phase": pd.Categorical(["b", "a"], categories=["b", "a"], ordered=True)},
        index=["s1", "s2"],
    )
    sheet = kom.io.read_samples(df)
    assert list(sheet["phase"].cat.categories) == ["b", "a"]


# ----------------------------------------------------------------- any group column, other formats
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/realdata not available")


def test_phase_column_names_the_groups_and_any_levels_are_kept_in_file_order(tmp_path):
    p = write(
        tmp_path,
        "sample\tcondition\tbatch\nA1\ttreated\tb1\nA2\tvehicle\tb2\nA3\ttreated\tb1\nA4\tnaive\tb2\n",
    )
    sheet = kom.io.read_samples(p, phase_column="condition")
    assert list(sheet["phase"].cat.categories) == ["treated", "vehicle", "naive"]  # as they appear
    assert sheet["phase"].astype(str).tolist() == ["treated", "vehicle", "treated", "naive"]
    assert sheet["condition"].tolist() == ["treated", "vehicle", "treated", "naive"]  # kept too
    # found without being named (the only group-like column), and an explicit order wins
    assert sheet.equals(kom.io.read_samples(p))
    ordered = kom.io.read_samples(
        p, phase_column="Condition", phases=["naive", "vehicle", "treated"]
    )
    assert list(ordered["phase"].cat.categories) == ["naive", "vehicle", "treated"]
    with pytest.raises(
        SampleSheetError,
        match=r"unknown phase \(column 'condition'\)\(s\) \['naive'\] on line\(s\) 5",
    ):
        kom.io.read_samples(p, phase_column="condition", phases=["vehicle", "treated"])
    # values that are the default phases keep the default order
    q = write(tmp_path, "sample\tgroup\na\twithdrawal\nb\tcontrol\n", name="g.tsv")
    assert list(kom.io.read_samples(q)["phase"].cat.categories) == ["control", "use", "withdrawal"]


def test_phases_none_accepts_any_levels_in_order_of_appearance(tmp_path):
    p = write(tmp_path, "sample\tphase\na\tabstinent\nb\tchronic\nc\tabstinent\nd\tbaseline\n")
    sheet = kom.io.read_samples(p, phases=None)
    assert list(sheet["phase"].cat.categories) == ["abstinent", "chronic", "baseline"]
    assert sheet["phase"].cat.ordered


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        (
            "sample\tcondition\tgroup\na\tx\ty\n",
            {},
            r"has no 'phase' column but both \['condition', 'group'\]",
        ),
        (
            "sample\tphase\tcondition\na\tuse\tx\n",
            {"phase_column": "condition"},
            r"has a 'phase' column and phase_column='condition'",
        ),
        (
            "sample\tcondition\na\tx\n",
            {"phase_column": "conditon"},
            r"phase_column='conditon' is not a column of .* Did you mean 'condition'\?",
        ),
        (
            "sample\ttreatment\na\tx\n",
            {},
            r"has no 'phase' column.*pass phase_column= naming the column of the groups",
        ),
        (
            "sample\tcondition\na\tx\nb\t\n",
            {},
            r"empty phase \(column 'condition'\) on line\(s\) 3",
        ),
    ],
)
def test_group_column_problems_are_named(tmp_path, text, kwargs, expected):
    p = write(tmp_path, text)
    with pytest.raises(SampleSheetError, match=expected) as info:
        kom.io.read_samples(p, **kwargs)
    assert "\n" not in str(info.value)


def test_exclude_column_drops_samples_and_keeps_line_numbers(tmp_path, caplog):
    p = write(
        tmp_path,
        "sample\tphase\texclude\n"
        "c1\tcontrol\t\n"
        "c2\tcontrol\tyes\n"
        "u1\tuse\tno\n"
        "u2\tuse\tTRUE\n"
        "w1\twithdrawal\t0\n"
        "w2\twithdrawal\t1\n",
    )
    with caplog.at_level(logging.WARNING, logger="kratom_omics"):
        sheet = kom.io.read_samples(p)
    assert list(sheet.index) == ["c1", "u1", "w1"]
    assert sheet.attrs["excluded"] == ["c2", "u2", "w2"]
    assert "exclude" not in sheet.columns
    assert "3 sample(s) excluded (exclude column): ['c2', 'u2', 'w2']" in caplog.text
    # an excluded sample may carry anything; lines are still the file's
    bad = write(
        tmp_path,
        "sample\tphase\texclude\na\tcontrol\t\nb\tfailed run\tyes\na\tuse\t\n",
        name="b.tsv",
    )
    with pytest.raises(SampleSheetError, match=r"duplicated sample id\(s\) \['a'\] on lines 2, 4"):
        kom.io.read_samples(bad)
    odd = write(tmp_path, "sample\tphase\texclude\na\tcontrol\tmaybe\n", name="o.tsv")
    with pytest.raises(
        SampleSheetError,
        match=r"exclude value\(s\) \['maybe'\] on line\(s\) 2; expected true/yes/1",
    ):
        kom.io.read_samples(odd)


def test_excluded_samples_leave_the_data_too(tmp_path):
    adata = kom.datasets.simulate("protein", seed=2, n_features=30, n_per_phase=2)
    kom.datasets.write_maxquant(adata, tmp_path / "proteinGroups.txt")
    sheet = adata.obs[["phase"]].copy()
    sheet.insert(0, "sample", adata.obs_names)
    sheet["exclude"] = ["yes" if s == adata.obs_names[1] else "" for s in adata.obs_names]
    sheet.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    loaded = kom.io.read(tmp_path / "proteinGroups.txt", tmp_path / "s.tsv")  # join="exact"
    assert list(loaded.obs_names) == [s for s in adata.obs_names if s != adata.obs_names[1]]
    assert "exclude" not in loaded.obs.columns


def test_msstats_tmt_annotation_is_one_sample_per_run_and_channel(tmp_path):
    p = write(
        tmp_path,
        "Run,Fraction,TechRepMixture,Channel,Condition,Mixture,BioReplicate\n"
        "plex1.raw,1,1,126,Control,M1,R1\n"
        "plex1.raw,1,1,127N,Withdrawal,M1,R2\n"
        "plex2,1,1,126,Control,M2,R3\n",
        name="annotation.csv",
    )
    sheet = kom.io.read_samples(p)
    assert list(sheet.index) == ["plex1_126", "plex1_127N", "plex2_126"]
    assert sheet["data_file"].tolist() == ["plex1.raw", "plex1.raw", "plex2"]
    assert sheet["label"].tolist() == ["126", "127N", "126"]
    assert sheet["bio_replicate"].tolist() == ["R1", "R2", "R3"]
    assert sheet["tech_rep_mixture"].tolist() == ["1", "1", "1"]
    assert list(sheet["phase"].cat.categories) == ["control", "use", "withdrawal"]  # default names


@needs_real
def test_real_msstats_annotation():
    path = REAL / "MSstatsConvert" / "annotation_mq.csv"
    ref = pd.read_csv(path, dtype=str)
    sheet = kom.io.read_samples(path)
    assert list(sheet.index) == ref["Raw.file"].tolist()
    assert sheet["phase"].astype(str).tolist() == ref["Condition"].tolist()
    assert list(sheet["phase"].cat.categories) == list(pd.unique(ref["Condition"]))
    assert sheet["bio_replicate"].tolist() == ref["BioReplicate"].tolist()
    assert sheet["experiment"].tolist() == ref["Experiment"].tolist()
    assert sheet["isotope_label_type"].tolist() == ref["IsotopeLabelType"].tolist()


@needs_real
def test_real_einprot_annotation_joins_its_maxquant_table():
    sheet_path = REAL / "einprot" / "1356_sampleAnnot.txt"
    ref = pd.read_csv(sheet_path, sep="\t", dtype=str)
    adata = kom.io.read(REAL / "einprot" / "1356_proteinGroups.txt", sheet_path, quantity="lfq")
    assert list(adata.obs_names) == ref["sample"].tolist()
    assert adata.obs["phase"].astype(str).tolist() == ref["group"].tolist()
    assert list(adata.obs["phase"].cat.categories) == list(pd.unique(ref["group"]))
    header = pd.read_csv(REAL / "einprot" / "1356_proteinGroups.txt", sep="\t", nrows=0).columns
    assert adata.n_obs == sum(c.startswith("LFQ intensity ") for c in header)


def test_sdrf_in_excel_is_refused_with_a_hint(tmp_path):
    pd.DataFrame(
        {
            "source name": ["a"],
            "characteristics[organism]": ["rat"],
            "comment[data file]": ["a.raw"],
        }
    ).to_excel(tmp_path / "s.xlsx", index=False)
    with pytest.raises(
        KratomOmicsError, match=r"looks like an SDRF file but is not tab-separated text"
    ):
        kom.io.read_samples(tmp_path / "s.xlsx")
