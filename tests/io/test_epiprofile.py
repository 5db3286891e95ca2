import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.datasets._writers_histone import write_epiprofile
from kratom_omics.errors import InputFormatError

DATA = Path(__file__).parents[1] / "data" / "histone"
RUNS = ["RatCtl01", "RatCtl02", "RatWd01"]


def _check_fixture(a):
    assert a.shape == (3, 12)
    assert list(a.obs_names) == RUNS
    assert a.var.loc["H3_9_17 K9acK14ac", "marks"] == "H3K9ac;H3K14ac"
    assert a.var.loc["H3_9_17 K9acK14ac", "residues"] == "K9;K14"
    assert a.var.loc["H3_9_17 K9acK14ac", "sequence"] == "KSTGGKAPR"
    assert a.var.loc["H3_9_17 K9acK14ac", "peptidoform"] == "K9acK14ac"
    assert a.var.loc["H33_27_40 K27me2", "histone"] == "H3.3"
    assert a.var.loc["H33_27_40 K27me2", "marks"] == "H33K27me2"
    assert a.var.loc["H4_4_17 unmod", "marks"] == ""
    assert a.var.loc["H4_4_17 unmod", "mark"] == "H4 unmod"
    assert a.var.loc["H4_4_17 K12ac", "peptide_family"] == "H4_4_17"
    # ratios within a family sum to 1 in every run (undetected forms are NaN)
    sums = a.to_df().T.groupby(a.var["peptide_family"]).sum().T
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    x = a.to_df()
    assert np.isnan(x.loc["RatWd01", "H3_9_17 K9ac"])
    assert x.loc["RatCtl02", "H3_9_17 K9ac"] == pytest.approx(0.08)
    np.testing.assert_array_equal(a.layers["raw"], a.X, strict=False)
    area = pd.DataFrame(a.layers["area"], index=a.obs_names, columns=a.var_names)
    assert area.loc["RatCtl01", "H4_4_17 K16ac"] == pytest.approx(0.2 * 2e9)
    assert np.isnan(area.loc["RatWd01", "H3_9_17 K9ac"])
    rt = pd.DataFrame(a.layers["rt"], index=a.obs_names, columns=a.var_names)
    assert rt.loc["RatWd01", "H4_4_17 K12ac"] == pytest.approx(31.02)


def test_read_epiprofile_tab_separated():
    a = kom.io.read_epiprofile(DATA / "histone_ratios.xls")
    _check_fixture(a)


def test_read_epiprofile_resaved_csv_and_old_triplet_layout():
    _check_fixture(kom.io.read_epiprofile(DATA / "histone_ratios_resaved.csv"))
    old = kom.io.read_epiprofile(DATA / "histone_ratios_triplets.xls")
    _check_fixture(old)


def test_read_epiprofile_xlsx_and_decimal_comma(tmp_path):
    rows = [ln.split("\t") for ln in (DATA / "histone_ratios.xls").read_text().splitlines()]
    # a spreadsheet keeps numbers as numbers when it saves a workbook
    cells = [
        [float(c) if c.replace(".", "").replace("e+", "").isdigit() else c for c in r] for r in rows
    ]
    pd.DataFrame(cells).to_excel(tmp_path / "histone_ratios.xlsx", header=False, index=False)
    _check_fixture(kom.io.read_epiprofile(tmp_path / "histone_ratios.xlsx"))
    # "Save as CSV" with a decimal comma: semicolon-separated
    text = "\r\n".join(";".join(c.replace(".", ",") for c in r) for r in rows)
    (tmp_path / "semicolon.csv").write_text(text)
    _check_fixture(kom.io.read_epiprofile(tmp_path / "semicolon.csv"))


def test_read_epiprofile_with_sample_sheet():
    sheet = pd.DataFrame(
        {
            "sample": ["RatWd01", "RatCtl01", "RatCtl02"],
            "phase": ["withdrawal", "control", "control"],
        }
    )
    a = kom.io.read_epiprofile(DATA / "histone_ratios.xls", sheet)
    assert list(a.obs_names) == ["RatWd01", "RatCtl01", "RatCtl02"]
    assert list(a.obs["phase"]) == ["withdrawal", "control", "control"]
    assert a.to_df().loc["RatWd01", "H4_4_17 K16ac"] == pytest.approx(0.15)


def test_read_single_ptms():
    s = kom.io.read_epiprofile(DATA / "histone_ratios_single_PTMs.xls")
    assert s.shape == (3, 8)
    assert s.var.loc["H33K27me2", "histone"] == "H3.3"
    assert s.var.loc["H3K9ac", "residues"] == "K9"
    assert s.var.loc["H3K9ac", "modification"] == "ac"
    assert s.to_df().loc["RatCtl01", "H3K9ac"] == pytest.approx(0.15)
    assert np.isnan(s.to_df()["H33K36me1"]).all()
    with pytest.raises(InputFormatError, match="is a peptidoform table"):
        kom.io.read_epiprofile(DATA / "histone_ratios.xls", level="sites")


def test_single_ptms_equal_summed_forms():
    pf = kom.io.read_epiprofile(DATA / "histone_ratios.xls").to_df().fillna(0)
    s = kom.io.read_epiprofile(DATA / "histone_ratios_single_PTMs.xls").to_df()
    np.testing.assert_allclose(s["H3K9ac"], pf["H3_9_17 K9ac"] + pf["H3_9_17 K9acK14ac"], atol=1e-9)
    np.testing.assert_allclose(
        s["H4K12ac"], pf["H4_4_17 K12ac"] + pf["H4_4_17 K12acK16ac"], atol=1e-9
    )


def test_bad_files():
    with pytest.raises(
        InputFormatError, match=r"peptide family 'H3_3_8' \(line 3\) has no peptidoform rows"
    ):
        kom.io.read_epiprofile(DATA / "bad_family_without_forms.xls")
    with pytest.raises(
        InputFormatError, match=r"the .area. block lists runs .* but the Ratio block"
    ):
        kom.io.read_epiprofile(DATA / "bad_mismatched_blocks.xls")
    with pytest.raises(InputFormatError, match="does not exist"):
        kom.io.read_epiprofile(DATA / "nope.xls")


def test_bad_rows(tmp_path):
    text = (DATA / "histone_ratios.xls").read_text()
    p = tmp_path / "t.xls"
    p.write_text(text.replace("H4_4_17 K16ac", "H3_9_17 K16ac"))
    with pytest.raises(InputFormatError, match="'H3_9_17 K16ac' inside family 'H4_4_17'"):
        kom.io.read_epiprofile(p)
    p.write_text(text.replace("0.060000", "n.d.", 1))
    with pytest.raises(
        InputFormatError, match=r"ratio of 'H4_4_17 K12ac' in run 'RatCtl01' is 'n.d.'"
    ):
        kom.io.read_epiprofile(p)
    p.write_text(text.replace("Ratio\t", "Ratios\t", 1))
    with pytest.raises(InputFormatError, match="expected 'Ratio', 'Area' or 'RT"):
        kom.io.read_epiprofile(p)
    p.write_bytes(b"\xd0\xcf\x11\xe0binary")
    with pytest.raises(InputFormatError, match=r"t\.xls': the workbook could not be read"):
        kom.io.read_epiprofile(p)


def test_write_epiprofile_round_trip(tmp_path):
    sim = kom.datasets.simulate(modality="histone", n_per_phase=3, seed=3)
    out = write_epiprofile(
        sim, tmp_path / "histone_ratios.xls", single_ptms_path=tmp_path / "single.xls"
    )
    raw = out.read_bytes()
    assert raw.count(b"\r\n") == 2 + 7 + sim.n_vars  # 2 header rows, 7 family rows, one per form
    assert b"\nKSTGGKAPR(H3_9_17)\r\n" in raw
    back = kom.io.read_epiprofile(out, sim.obs)
    assert list(back.var_names) == list(sim.var_names)
    assert list(back.obs_names) == list(sim.obs_names)
    np.testing.assert_array_equal(np.isnan(back.X), np.isnan(sim.layers["raw"]))
    np.testing.assert_allclose(back.X, sim.layers["raw"], atol=5e-7)
    np.testing.assert_allclose(back.layers["area"], sim.layers["area"], rtol=1e-6)
    assert (back.var["marks"] == sim.var["marks"]).all()
    single = kom.io.read_epiprofile(tmp_path / "single.xls")
    pf = back.to_df().fillna(0)
    k9 = pf.loc[:, back.var["marks"].str.split(";").apply(lambda m: "H3K9ac" in m)].sum(axis=1)
    np.testing.assert_allclose(single.to_df()["H3K9ac"].fillna(0), k9, atol=5e-6)
    back.write_h5ad(tmp_path / "x.h5ad")
    assert ad.read_h5ad(tmp_path / "x.h5ad").var.loc["H3_9_17 K9ac", "marks"] == "H3K9ac"


REAL = Path(__file__).parents[2] / ".." / "shared" / "realdata"
real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent")


def _text_rows(path):
    return [line.split("\t") for line in path.read_text().splitlines()]


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return cell or None


def _write_xlsx(path, sheets):
    """A workbook as Excel saves it: {sheet name: rows of cells}, numbers as number cells."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append([_number(c) for c in row])
    book.save(path)
    return path


def _write_xls(path, rows, sheet="histone_ratios"):
    """A binary Excel 97-2003 workbook (BIFF8), as Excel writes .xls, with xlwt."""
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    ws = book.add_sheet(sheet)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            value = _number(cell)
            if value is not None:
                ws.write(i, j, value)
    book.save(str(path))
    return path


def test_binary_xls_and_xlsx_read_as_the_text_table(tmp_path):
    text = DATA / "histone_ratios.xls"
    ref = kom.io.read_epiprofile(text)
    rows = _text_rows(text)
    xls = _write_xls(tmp_path / "histone_ratios.xls", rows)
    assert xls.read_bytes()[:4] == b"\xd0\xcf\x11\xe0"
    xlsx = _write_xlsx(tmp_path / "resaved.xlsx", {"histone_ratios": rows})
    for path in (xls, xlsx):
        a = kom.io.read_epiprofile(path)
        assert list(a.obs_names) == RUNS
        assert list(a.var_names) == list(ref.var_names)
        np.testing.assert_allclose(a.X, ref.X, rtol=1e-12)
        np.testing.assert_allclose(a.layers["area"], ref.layers["area"], rtol=1e-12)
        b = kom.io.read(path)  # detected from the bytes, not the name
        assert b.uns["kratom_omics"]["format"] == "epiprofile"
        np.testing.assert_allclose(b.X, ref.X, rtol=1e-12)


def test_sheet_of_a_workbook_with_several(tmp_path):
    rows = _text_rows(DATA / "histone_ratios.xls")
    other = [r[:] for r in rows]
    other[0] = [c.replace("RatCtl01", "RatCtl09") for c in other[0]]
    path = _write_xlsx(tmp_path / "epi.xlsx", {"batch1": rows, "batch2": other})
    a = kom.io.read(path)
    assert list(a.obs_names) == RUNS
    step = a.uns["kratom_omics"]["provenance"]["step_000"]
    choice = json.loads(step["parameters"])["choices"]["sheet"]
    assert choice["value"] == "batch1"
    assert "the first of 2 sheets ['batch1', 'batch2']" in choice["why"]
    for sheet in ("batch2", 1, "BATCH2"):
        b = kom.io.read_epiprofile(path, sheet=sheet)
        assert list(b.obs_names) == ["RatCtl09", "RatCtl02", "RatWd01"]
    c = kom.io.read(path, sheet="batch2")
    assert c.obs_names[0] == "RatCtl09"
    with pytest.raises(InputFormatError, match=r"sheet='batch3' is not a sheet of .*'batch2'"):
        kom.io.read_epiprofile(path, sheet="batch3")
    with pytest.raises(InputFormatError, match=r"sheet=5 but the workbook has 2 sheet"):
        kom.io.read_epiprofile(path, sheet=5)
    with pytest.raises(InputFormatError, match=r"the file is text, not a workbook"):
        kom.io.read_epiprofile(DATA / "histone_ratios.xls", sheet="batch2")


def test_writer_writes_a_workbook_for_xlsx(tmp_path):
    sim = kom.datasets.simulate(modality="histone", n_per_phase=2, seed=3)
    text = write_epiprofile(sim, tmp_path / "histone_ratios.xls")
    book = write_epiprofile(sim, tmp_path / "histone_ratios.xlsx")
    assert book.read_bytes()[:2] == b"PK"
    raw = pd.read_excel(book, header=None)
    assert raw.iloc[1, 0] == "Peptide"
    a, b = kom.io.read_epiprofile(text), kom.io.read_epiprofile(book)
    np.testing.assert_array_equal(a.X, b.X)
    assert list(a.obs_names) == list(b.obs_names) == list(sim.obs_names)


@pytest.mark.parametrize(
    "text",
    [
        "gene\tS1\tS2\nRab35\t1.5\t2.5\nHdac2\t3\t4\n",
        "\tS1\tS2\nH3K9ac\t120.5\t300\nH4K12ac\t80\t90\n",
    ],
)
def test_a_table_that_is_not_epiprofiles_is_refused(tmp_path, text):
    p = tmp_path / "table.txt"
    p.write_text(text)
    with pytest.raises(InputFormatError, match=r"(not an EpiProfile table|ratios are shares)"):
        kom.io.read_epiprofile(p)
    xlsx = _write_xlsx(tmp_path / "table.xlsx", {"Sheet1": _text_rows(p)})
    with pytest.raises(InputFormatError, match=r"(not an EpiProfile table|ratios are shares)"):
        kom.io.read_epiprofile(xlsx)


def test_ratio_above_one_in_a_peptidoform_table_is_refused(tmp_path):
    text = (DATA / "histone_ratios.xls").read_text()
    p = tmp_path / "histone_ratios.xls"
    p.write_text(text.replace("0.060000", "60.000000", 1))
    with pytest.raises(InputFormatError, match=r"ratio of 'H4_4_17 K12ac' in run 'RatCtl01' is 60"):
        kom.io.read_epiprofile(p)


def test_sequence_variant_forms_are_not_called_unmodified(tmp_path):
    text = (DATA / "histone_ratios.xls").read_text()
    p = tmp_path / "histone_ratios.xls"
    p.write_text(text.replace("H4_4_17 K16ac", "H4_4_17 1V.GKGGKGLGKGGAKR", 1))
    a = kom.io.read_epiprofile(p)
    assert a.var.loc["H4_4_17 1V.GKGGKGLGKGGAKR", "mark"] == "H4 1V.GKGGKGLGKGGAKR"
    assert a.var.loc["H4_4_17 unmod", "mark"] == "H4 unmod"


def test_example_data_histone_ratios_is_text_as_epiprofile_writes_it():
    path = Path(__file__).parents[2] / "example_data" / "histone_ratios.xls"
    head = path.read_bytes()[:200]
    assert b"\t" in head
    assert head[:4] != b"\xd0\xcf\x11\xe0"
    a = kom.io.read(path)
    width = len(path.read_text().splitlines()[0].split("\t"))
    raw = pd.read_csv(path, sep="\t", header=None, skiprows=2, dtype=str, names=range(width))
    forms = raw[raw[1].notna()]
    assert a.n_vars == len(forms)
    np.testing.assert_allclose(
        np.nansum(a.layers["raw"], axis=1),
        forms.iloc[:, 1 : 1 + a.n_obs].astype(float).sum().to_numpy(),
        rtol=1e-9,
    )


@real
@pytest.mark.parametrize("sheet", [None, "old", "new", 1])
def test_real_xlsx_with_two_sheets(sheet):
    path = REAL / "germ_nucleome" / "histone_ratios.xlsx"
    name = {None: "old", 1: "new"}.get(sheet, sheet)
    raw = pd.read_excel(path, sheet_name=name, header=None)
    labels = raw.iloc[1]
    ratio_cols = [j for j in range(raw.shape[1]) if labels[j] == "Ratio"]
    forms = raw[raw.iloc[:, ratio_cols].notna().any(axis=1)].iloc[2:]
    runs = raw.iloc[0, ratio_cols].tolist()
    a = kom.io.read_epiprofile(path) if sheet is None else kom.io.read_epiprofile(path, sheet=sheet)
    assert list(a.obs_names) == runs
    assert list(a.var_names) == forms.iloc[:, 0].tolist()
    expected = forms.iloc[:, ratio_cols].astype(float).replace(0, np.nan)
    np.testing.assert_allclose(np.nansum(a.X, axis=1), expected.sum().to_numpy(), rtol=1e-12)
    assert int(np.isnan(a.X).sum()) == int(expected.isna().sum().sum())


def test_load_command_reads_the_sheet_named_by_sheet_flag(tmp_path, capsys):
    from kratom_omics.cli import main

    rows = _text_rows(DATA / "histone_ratios.xls")
    other = [r[:] for r in rows]
    other[0] = [c.replace("RatCtl01", "RatCtl09") for c in other[0]]
    path = _write_xlsx(tmp_path / "epi.xlsx", {"batch1": rows, "batch2": other})
    for i, sheet in enumerate(("batch2", "1")):
        out = tmp_path / f"o{i}.h5ad"
        assert main(["load", str(path), str(out), "--sheet", sheet]) == 0
        assert list(ad.read_h5ad(out).obs_names) == ["RatCtl09", "RatCtl02", "RatWd01"]
    capsys.readouterr()
    assert main(["load", str(path), str(tmp_path / "x.h5ad"), "--sheet", "batch3"]) == 1
    err = capsys.readouterr().err
    assert "--sheet batch3 is not a sheet of" in err
    assert not (tmp_path / "x.h5ad").exists()
    text = DATA / "histone_ratios.xls"  # EpiProfile's text table (named .xls by the tool)
    assert main(["load", str(text), str(tmp_path / "y.h5ad"), "--sheet", "batch2"]) == 1
    assert "the file is text, not a workbook; leave --sheet unset" in capsys.readouterr().err
    adata = kom.datasets.simulate("protein", seed=4, n_features=20, n_per_phase=2)
    kom.datasets.write_maxquant(adata, tmp_path / "proteinGroups.txt")
    pg = str(tmp_path / "proteinGroups.txt")
    assert main(["load", pg, str(tmp_path / "z.h5ad"), "--sheet", "1"]) == 1
    assert "proteinGroups.txt: --sheet does not apply to a MaxQuant file" in capsys.readouterr().err
