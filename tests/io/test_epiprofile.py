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
    with pytest.raises(InputFormatError, match="binary Excel 97 workbook"):
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
