from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

DATA = Path(__file__).parents[1] / "data" / "histone"
WB = DATA / "western_blots.csv"
SHEET = DATA / "western_samples.tsv"


def test_read_densitometry_hand_calculation(tmp_path):
    a = kom.io.read_densitometry(WB, SHEET)
    assert list(a.obs_names) == ["Ctl_1", "Ctl_2", "Ctl_3", "Ctl_4", "Wd_1", "Wd_2", "Wd_3", "Wd_4"]
    assert list(a.var_names) == ["H3K9ac", "H3", "Hdac2"]  # Gapdh is the loading control
    assert a.var.loc["H3K9ac", "normalizer"] == "H3"
    assert a.var.loc["H3K9ac", "kind"] == "histone_mark"
    assert a.var.loc["H3K9ac", "histone"] == "H3"
    assert a.var.loc["Hdac2", "normalizer"] == "Gapdh"
    assert a.var.loc["Hdac2", "gene"] == "Hdac2"
    assert a.var.loc["H3", "kind"] == "total_histone"
    assert a.var.loc["Hdac2", "n_blots"] == 2
    fold = pd.DataFrame(2.0**a.X, index=a.obs_names, columns=a.var_names)
    # blot1: H3K9ac/H3 = 0.5, 0.6, 0.3, 0.3; control mean 0.55
    np.testing.assert_allclose(
        fold.loc[["Ctl_1", "Ctl_2", "Wd_1", "Wd_2"], "H3K9ac"],
        [0.5 / 0.55, 0.6 / 0.55, 0.3 / 0.55, 0.3 / 0.55],
    )
    # blot2 (brighter exposure): H3K9ac/H3 = 0.6, 0.7, 0.3, 0.25; control mean 0.65
    np.testing.assert_allclose(fold.loc["Wd_3", "H3K9ac"], 0.3 / 0.65)
    # Hdac2/Gapdh blot1 = 0.5, 0.5, 0.9, 1.0 -> folds 1, 1, 1.8, 2; blot2 Wd_4 = 1.1 / 0.55
    np.testing.assert_allclose(
        fold.loc[["Ctl_1", "Ctl_2", "Wd_1", "Wd_2"], "Hdac2"], [1, 1, 1.8, 2]
    )
    assert fold.loc["Wd_4", "Hdac2"] == pytest.approx(2.0)
    assert fold.loc["Wd_2", "H3"] == pytest.approx((150 / 110) / ((2.0 + 250 / 120) / 2))
    raw = pd.DataFrame(a.layers["raw"], index=a.obs_names, columns=a.var_names)
    assert raw.loc["Wd_2", "Hdac2"] == 110
    ratio = pd.DataFrame(a.layers["ratio"], index=a.obs_names, columns=a.var_names)
    assert ratio.loc["Ctl_4", "H3K9ac"] == pytest.approx(0.7)
    assert a.obs.loc["Wd_3", "blot"] == "blot2"
    assert list(a.obs["phase"].unique()) == ["control", "withdrawal"]
    long = a.uns["densitometry"]
    assert long.shape[0] == 24
    assert a.uns["kratom_omics"]["x_transform"] == "log2"
    assert set(long.columns) >= {
        "sample",
        "target",
        "blot",
        "normalizer_signal",
        "fold",
        "log2_fold",
    }
    a.write_h5ad(tmp_path / "w.h5ad")
    assert ad.read_h5ad(tmp_path / "w.h5ad").uns["densitometry"].shape == (24, long.shape[1])


def test_sample_run_on_two_blots_is_averaged(tmp_path):
    df = pd.read_csv(WB)
    extra = df[(df["Gel"] == "blot1") & df["Sample ID"].isin(["Ctl_1", "Ctl_2", "Wd_1"])].copy()
    extra["Gel"] = "blot3"
    extra.loc[extra["Protein"] == "Hdac2", "Adj. Volume"] *= 1.5  # another exposure
    extra.loc[(extra["Protein"] == "Hdac2") & (extra["Sample ID"] == "Wd_1"), "Adj. Volume"] = (
        120 * 1.5
    )
    pd.concat([df, extra]).to_csv(tmp_path / "w.csv", index=False)
    a = kom.io.read_densitometry(tmp_path / "w.csv", SHEET)
    fold = pd.DataFrame(2.0**a.X, index=a.obs_names, columns=a.var_names)
    # Wd_1 Hdac2: fold 1.8 on blot1 and 2.4 on blot3 -> geometric mean
    assert fold.loc["Wd_1", "Hdac2"] == pytest.approx(np.sqrt(1.8 * 2.4))
    assert a.obs.loc["Wd_1", "blot"] == "blot1;blot3"


def test_normalizer_on_each_row_and_no_phases():
    a = kom.io.read_densitometry(DATA / "elisa_with_normalizer.tsv")
    # no sample sheet: folds relative to the mean of the blot
    r = np.array([0.5, 0.45, 1.0, 0.65])
    np.testing.assert_allclose(2.0 ** a.X[:, 0], r / r.mean())
    assert a.var.loc["Rab35", "normalizer"] == "Actb"
    sheet = pd.DataFrame(
        {
            "sample": ["Ctl_1", "Ctl_2", "Wd_1", "Wd_2"],
            "phase": ["control"] * 2 + ["withdrawal"] * 2,
        }
    )
    b = kom.io.read_densitometry(DATA / "elisa_with_normalizer.tsv", sheet)
    np.testing.assert_allclose(2.0 ** b.X[:, 0], r / 0.475)


def test_densitometry_errors(tmp_path):
    with pytest.raises(
        InputFormatError, match=r"blot 'blot2' has no loading control for 'Hdac2'; expected one of"
    ):
        kom.io.read_densitometry(DATA / "bad_western_no_loading_control.csv", SHEET)
    df = pd.read_csv(WB)
    df[df["Protein"] != "H3"].to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(
        InputFormatError, match=r"'H3K9ac' on blot 'blot1' has no normaliser: no total H3"
    ):
        kom.io.read_densitometry(tmp_path / "a.csv", SHEET)
    pd.concat([df, df.iloc[[5]]]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(
        InputFormatError, match=r"2 duplicated band rows .*'Ctl_2'.*lines \[7, 34\]"
    ):
        kom.io.read_densitometry(tmp_path / "b.csv", SHEET)
    df.drop(index=3).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(
        InputFormatError, match=r"sample 'Ctl_1' on blot 'blot1' has a 'H3' band but no 'Gapdh'"
    ):
        kom.io.read_densitometry(tmp_path / "c.csv", SHEET)
    df.rename(columns={"Adj. Volume": "Area"}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InputFormatError, match=r"no column for \['signal'\]"):
        kom.io.read_densitometry(tmp_path / "d.csv", SHEET)
    df[~((df["Gel"] == "blot2") & df["Sample ID"].str.startswith("Ctl"))].to_csv(
        tmp_path / "e.csv", index=False
    )
    with pytest.raises(InputFormatError, match=r"blot 'blot2' has no 'control' sample"):
        kom.io.read_densitometry(tmp_path / "e.csv", SHEET, join="inner")
    d2 = df.astype({"Adj. Volume": object})
    d2.loc[4, "Adj. Volume"] = "saturated"
    with pytest.raises(InputFormatError, match=r"line 6: signal is 'saturated'"):
        kom.io.read_densitometry(d2, SHEET)


def test_target_spellings():
    df = pd.read_csv(WB)
    df["Protein"] = df["Protein"].replace({"H3K9ac": "H3-K9Ac", "H3": "Histone H3"})
    a = kom.io.read_densitometry(df, SHEET)
    assert list(a.var_names) == ["H3-K9Ac", "Histone H3", "Hdac2"]
    assert a.var.loc["H3-K9Ac", "normalizer"] == "Histone H3"
    assert a.var.loc["H3-K9Ac", "kind"] == "histone_mark"
    assert a.var.loc["H3-K9Ac", "histone"] == "H3"
    assert a.var.loc["Histone H3", "kind"] == "total_histone"
    b = kom.io.read_densitometry(WB, SHEET)
    np.testing.assert_allclose(a.X, b.X)
