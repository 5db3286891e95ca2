"""SDRF-Proteomics files as sample sheets: real PRIDE/quantms files and synthetic quirks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, SampleMismatchError, SampleSheetError

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "quantms.io"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/realdata not available")


def raw(name: str) -> pd.DataFrame:
    """The SDRF as pandas reads it (a repeated header gets '.1'), for the expected values."""
    return pd.read_csv(REAL / name, sep="\t", dtype=str)


def stem(data_file: str) -> str:
    return data_file.rsplit(".", 1)[0]


@needs_real
def test_real_lfq_sdrf_names_samples_after_their_data_files(caplog):
    ref = raw("PXD040438.sdrf.tsv")
    with caplog.at_level(logging.WARNING, logger="kratom_omics"):
        sheet = kom.io.read_samples(REAL / "PXD040438.sdrf.tsv", phase_column="disease")
    assert list(sheet.index) == [stem(f) for f in ref["comment[data file]"]]
    assert sheet["data_file"].tolist() == ref["comment[data file]"].tolist()
    # the groups: characteristics[disease], levels in file order
    assert list(sheet["phase"].cat.categories) == list(pd.unique(ref["characteristics[disease]"]))
    assert sheet["phase"].astype(str).tolist() == ref["characteristics[disease]"].tolist()
    assert (
        sheet["phase"].value_counts().to_dict()
        == ref["characteristics[disease]"].value_counts().to_dict()
    )
    # every characteristic kept under a clean name; the factor equals organism part: not repeated
    for col in (
        "organism part",
        "individual",
        "biological replicate",
        "sampling time",
        "depletion",
    ):
        assert sheet[col.replace(" ", "_")].tolist() == ref[f"characteristics[{col}]"].tolist()
    assert "organism_part_factor" not in sheet.columns
    assert sheet["source_name"].tolist() == ref["source name"].tolist()
    assert sheet["label"].unique().tolist() == ["label free sample"]
    assert "channel" not in sheet.columns
    assert sheet["fraction"].tolist() == ref["comment[fraction identifier]"].tolist()
    assert not {"instrument", "cleavage_agent_details", "file_uri"} & set(sheet.columns)
    # sdrf-pipelines' findings are logged: the file writes 'Technology type', the spec 'technology type'
    assert "technology type" not in ref.columns
    assert "SDRF specification error(s)" in caplog.text
    assert "'technology type' is missing" in caplog.text


@needs_real
def test_real_sdrf_default_phase_is_the_single_factor(caplog):
    ref = raw("PXD019909-DIA.sdrf.tsv")
    with caplog.at_level(logging.WARNING, logger="kratom_omics"):
        sheet = kom.io.read_samples(REAL / "PXD019909-DIA.sdrf.tsv")
    assert sheet.shape[0] == len(ref)
    assert sheet["phase"].astype(str).tolist() == ref["factor value[organism part]"].tolist()
    # a repeated characteristic keeps both columns
    assert sheet["organism_part"].tolist() == ref["characteristics[organism part]"].tolist()
    assert sheet["organism_part_2"].tolist() == ref["characteristics[organism part].1"].tolist()
    assert sheet["cell_type"].tolist() == ref["characteristics[cell type]"].tolist()
    assert sheet["assay_name"].tolist() == ref["assay name"].tolist()
    assert sheet["material_type"].tolist() == ref["Material Type"].tolist()
    # one factor level only: said, not refused
    assert ref["factor value[organism part]"].nunique() == 1
    assert "has one value ('skin') for all samples" in caplog.text
    by_cell = kom.io.read_samples(
        REAL / "PXD019909-DIA.sdrf.tsv", phase_column="characteristics[cell type]"
    )
    assert list(by_cell["phase"].cat.categories) == list(
        pd.unique(ref["characteristics[cell type]"])
    )


@needs_real
def test_real_sdrf_joins_a_table_of_its_runs(tmp_path):
    ref = raw("PXD040438.sdrf.tsv")
    runs = [stem(f) for f in ref["comment[data file]"]]
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        rng.lognormal(20, 1, size=(5, len(runs))), columns=[f"{r}.mzML" for r in runs]
    )
    table.insert(0, "protein", [f"P{i}" for i in range(5)])
    path = tmp_path / "quant.tsv"
    table[["protein", *table.columns[1:][::-1]]].to_csv(path, sep="\t", index=False)  # other order
    adata = kom.io.read(path, REAL / "PXD040438.sdrf.tsv", format="table", phase_column="disease")
    assert list(adata.obs_names) == runs  # sheet order
    assert adata.obs["disease"].tolist() == ref["characteristics[disease]"].tolist()
    np.testing.assert_allclose(
        adata.X[:, 0], table.set_index("protein").loc["P0", [f"{r}.mzML" for r in runs]].to_numpy()
    )
    # an SDRF row without a run in the data: named, with the naming rule
    table.drop(columns=[f"{runs[3]}.mzML"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(
        SampleMismatchError,
        match=rf"in the sample sheet but not the data: \['{runs[3]}'\].*named after their data file",
    ):
        kom.io.read(path, REAL / "PXD040438.sdrf.tsv", format="table", phase_column="disease")


HEADER = [
    "source name",
    "characteristics[organism]",
    "characteristics[disease]",
    "assay name",
    "comment[data file]",
    "comment[label]",
    "comment[fraction identifier]",
    "comment[technical replicate]",
    "factor value[disease]",
]


def write_sdrf(path, rows, header=HEADER):
    path.write_text("\n".join("\t".join(map(str, r)) for r in [header, *rows]) + "\n")
    return path


TMT10 = [
    "TMT126",
    "TMT127N",
    "TMT127C",
    "TMT128N",
    "TMT128C",
    "TMT129N",
    "TMT129C",
    "TMT130N",
    "TMT130C",
    "TMT131",
]


def test_isobaric_rows_are_one_sample_per_data_file_and_label(tmp_path):
    rows = []
    for plex in (1, 2):
        for i, lab in enumerate(TMT10):
            disease = "withdrawal" if i % 2 else "control"
            rows.append(
                [
                    f"rat{plex}_{i}",
                    "Rattus norvegicus",
                    disease,
                    f"plex{plex}",
                    f"plex{plex}.raw",
                    f"NT={lab};AC=MS:1002616",
                    1,
                    1,
                    disease,
                ]
            )
    sheet = kom.io.read_samples(write_sdrf(tmp_path / "tmt.sdrf.tsv", rows))
    expected = [f"plex{p}_{lab}" for p in (1, 2) for lab in TMT10]
    assert list(sheet.index) == expected
    assert sheet.loc["plex2_TMT127N", "data_file"] == "plex2.raw"
    assert sheet.loc["plex2_TMT127N", "label"] == "TMT127N"
    # the reporter channel of the label in its plex (TMT10plex order), as MaxQuant numbers them
    assert sheet["channel"].astype(int).tolist() == list(range(1, 11)) * 2
    assert sheet.loc["plex1_TMT131", "channel"] == "10"
    # every value is a default phase: the default levels, in their order
    assert list(sheet["phase"].cat.categories) == ["control", "use", "withdrawal"]
    assert sheet.loc["plex1_TMT127N", "source_name"] == "rat1_1"


def test_fractions_of_one_sample_merge(tmp_path):
    rows = []
    for s, disease in (("S1", "control"), ("S2", "withdrawal")):
        for f in (1, 2, 3):
            rows.append(
                [
                    s,
                    "Rattus norvegicus",
                    disease,
                    f"{s}_f{f}",
                    f"{s}_F{f}.raw",
                    "label free sample",
                    f,
                    1,
                    disease,
                ]
            )
    sheet = kom.io.read_samples(write_sdrf(tmp_path / "frac.sdrf.tsv", rows))
    assert list(sheet.index) == ["S1", "S2"]
    assert sheet.loc["S1", "data_file"] == "S1_F1.raw;S1_F2.raw;S1_F3.raw"
    assert sheet.loc["S2", "fraction"] == "1;2;3"
    assert sheet.loc["S2", "assay_name"] == "S2_f1;S2_f2;S2_f3"
    # fractionated TMT: one sample per source and label, all fractions' files listed
    rows = [
        [
            f"rat{i}",
            "Rattus norvegicus",
            "control",
            f"plex_f{f}",
            f"plex_f{f}.raw",
            lab,
            f,
            1,
            "control",
        ]
        for f in (1, 2)
        for i, lab in enumerate(TMT10[:3])
    ]
    sheet = kom.io.read_samples(write_sdrf(tmp_path / "tmtfrac.sdrf.tsv", rows))
    assert list(sheet.index) == ["rat0_TMT126", "rat1_TMT127N", "rat2_TMT127C"]
    assert sheet.loc["rat1_TMT127N", "data_file"] == "plex_f1.raw;plex_f2.raw"
    assert sheet.loc["rat1_TMT127N", "channel"] == "2"


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (
            [
                ["a", "rat", "x", "r1", "p.raw", "TMT126", 1, 1, "x"],
                ["b", "rat", "x", "r1", "p.raw", "TMT999", 1, 1, "x"],
            ],
            HEADER,
            r"line 3: label 'TMT999' \(data file 'p.raw'\) is not a reporter channel of any TMT, iTRAQ or SILAC plex",
        ),
        (
            [
                ["a", "rat", "x", "r1", "p.raw", "TMT131", 1, 1, "x"],
                ["b", "rat", "x", "r1", "p.raw", "TMT131C", 1, 1, "x"],
            ],
            HEADER,
            r"lines 2, 3: the labels of data file 'p.raw' \['TMT131', 'TMT131C'\] fit no single TMT, iTRAQ or SILAC plex",
        ),
        (
            [
                ["a", "rat", "x", "r1", "p.raw", "TMT126", 1, 1, "x"],
                ["b", "rat", "y", "r1", "p.raw", "TMT126", 1, 1, "y"],
            ],
            HEADER,
            r"data file 'p.raw' with label 'TMT126' appears on lines 2, 3",
        ),
        (
            [["a", "rat", "x", "r1", "", "label free sample", 1, 1, "x"]],
            HEADER,
            r"empty comment\[data file\] on line\(s\) 2",
        ),
        (
            [["a", "rat", "x", "a.raw"]],
            [
                "source name",
                "characteristics[organism]",
                "characteristics[disease]",
                "comment[file uri]",
            ],
            r"without a 'comment\[data file\]' column",
        ),
        (
            [["a", "rat", "x", "a.raw", "x"]],
            [
                "source name",
                "characteristics[organism]",
                "characteristics[disease]",
                "comment[data file]",
                "characteristics[sex]",
            ],
            r"has no 'factor value\[...\]' column.*phase_column='disease'",
        ),
        (
            [
                ["S", "rat", "x", "r", "f1.raw", "label free sample", 1, 1, "x"],
                ["S", "rat", "y", "r", "f2.raw", "label free sample", 2, 1, "x"],
            ],
            HEADER,
            r"the fractions of sample 'S' \(lines 2, 3\) differ in 'disease'",
        ),
    ],
)
def test_bad_sdrf_files_name_the_line(tmp_path, rows, header, expected):
    path = write_sdrf(tmp_path / "bad.sdrf.tsv", rows, header)
    with pytest.raises(SampleSheetError, match=expected) as info:
        kom.io.read_samples(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_several_factors_need_a_phase_column(tmp_path):
    header = [*HEADER, "factor value[organism part]"]
    rows = [["a", "rat", "x", "r", "a.raw", "label free sample", 1, 1, "x", "brain"]]
    path = write_sdrf(tmp_path / "two.sdrf.tsv", rows, header)
    with pytest.raises(
        SampleSheetError, match=r"has 2 factor value columns \['disease', 'organism_part'\]"
    ):
        kom.io.read_samples(path)
    sheet = kom.io.read_samples(path, phase_column="factor value[organism part]")
    assert sheet["phase"].tolist() == ["brain"]
    with pytest.raises(
        SampleSheetError,
        match=r"phase_column='diseas' is not a column of SDRF file .* Did you mean 'disease'\?",
    ):
        kom.io.read_samples(path, phase_column="diseas")


def test_validate_sdrf_reports_the_specification(tmp_path):
    rows = [["a", "Rattus norvegicus", "normal", "r", "a.raw", "label free sample", 1, 1, "normal"]]
    found = kom.io.validate_sdrf(write_sdrf(tmp_path / "min.sdrf.tsv", rows))
    assert list(found.columns) == ["level", "row", "column", "value", "message", "suggestion"]
    missing = found[found["message"].str.contains("is missing")]
    # columns the ms-proteomics template requires and this file lacks
    for col in ("technology type", "comment[instrument]", "comment[cleavage agent details]"):
        assert any(col in m for m in missing["message"]), col
    assert set(found["level"]) <= {"error", "warning"}


def test_sdrf_columns_named_like_the_sheet_own_ones_keep_their_values(tmp_path):
    header = [*HEADER, "characteristics[label]", "Sample"]
    rows = [["a", "rat", "x", "r", "a.raw", "label free sample", 1, 1, "x", "green", "s-01"]]
    sheet = kom.io.read_samples(write_sdrf(tmp_path / "names.sdrf.tsv", rows, header))
    assert list(sheet.index) == ["a"]
    assert sheet.loc["a", "label"] == "label free sample"
    assert sheet.loc["a", "label_sdrf"] == "green"
    assert sheet.loc["a", "sample_sdrf"] == "s-01"


def _lfq_rows():
    return [
        [f"rat{i}", "rat", d, f"run{i}", f"run{i}.raw", "label free sample", 1, 1, d]
        for i, d in enumerate(["control", "control", "withdrawal", "withdrawal"], start=1)
    ]


def test_sdrf_through_the_shared_text_path(tmp_path):
    import gzip

    path = write_sdrf(tmp_path / "a.sdrf.tsv", _lfq_rows())
    ref = kom.io.read_samples(path)
    gz = tmp_path / "b.sdrf.tsv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    cp = tmp_path / "c.sdrf.tsv"  # Excel's code page and line ends
    cp.write_bytes(
        path.read_text().replace("rat1", "rät1").encode("cp1252").replace(b"\n", b"\r\n")
    )
    short = tmp_path / "d.sdrf.tsv"  # trailing empty fields stripped, a repeated column name
    lines = path.read_text().splitlines()
    lines[0] += "\tcomment[data file]"
    lines[1] += "\tignored.raw"
    short.write_text("\n".join(lines) + "\n")
    pd.testing.assert_frame_equal(kom.io.read_samples(gz), ref)
    assert kom.io.read_samples(cp)["source_name"].iloc[0] == "rät1"
    s = kom.io.read_samples(short)
    assert list(s.index) == list(ref.index)  # the first of a repeated name is the one used


def test_sdrf_errors_keep_the_files_line_numbers(tmp_path):
    rows = _lfq_rows()
    rows[2][4] = ""
    path = write_sdrf(tmp_path / "e.sdrf.tsv", rows)
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0], text[1], "", "#note", *text[2:]]) + "\n")
    with pytest.raises(SampleSheetError, match=r"empty comment\[data file\] on line\(s\) 6"):
        kom.io.read_samples(path)
    path.write_text("\n".join([*text[:2], text[2] + "\textra"]) + "\n")
    with pytest.raises(InputFormatError, match=r"line 3 has 10 fields but the header has 9"):
        kom.io.read_samples(path)
