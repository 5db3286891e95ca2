from __future__ import annotations

import json
import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError, KeyNotFoundError

NAN = np.nan


def _steps(adata: ad.AnnData, function: str) -> list[dict]:
    steps = adata.uns["kratom_omics"]["provenance"]
    return [
        json.loads(s["parameters"]) for _, s in sorted(steps.items()) if s["function"] == function
    ]


def _flagged() -> ad.AnnData:
    x = np.arange(24, dtype=float).reshape(4, 6) + 1.0
    var = pd.DataFrame(
        {
            "is_contaminant": [True, False, False, False, False, True],
            "is_decoy": ["", "+", "", "+", None, ""],  # MaxQuant-style text flags
            "only_by_site": [0.0, 0.0, 1.0, NAN, 0.0, 0.0],
        },
        index=[f"P{i}" for i in range(6)],
    )
    adata = ad.AnnData(x, var=var)
    adata.layers["raw"] = x.copy()
    return adata


def test_remove_flagged_removes_each_flag_and_records_counts():
    adata = _flagged()
    kom.pp.remove_flagged(adata)
    assert list(adata.var_names) == ["P4"]
    np.testing.assert_array_equal(adata.X[:, 0], [5.0, 11.0, 17.0, 23.0])
    np.testing.assert_array_equal(adata.layers["raw"], adata.X)
    (params,) = _steps(adata, "kratom_omics.pp.remove_flagged")
    assert params["n_removed"] == {"is_contaminant": 2, "is_decoy": 2, "only_by_site": 1}
    assert params["n_removed_total"] == 5
    assert params["n_kept"] == 1


def test_remove_flagged_options_and_copy_leaves_input():
    adata = _flagged()
    out = kom.pp.remove_flagged(adata, contaminants=False, only_by_site=False, copy=True)
    assert out is not None
    assert list(out.var_names) == ["P0", "P2", "P4", "P5"]
    assert adata.n_vars == 6
    assert "provenance" not in adata.uns.get("kratom_omics", {})


def test_remove_flagged_skips_missing_columns_with_log(caplog):
    adata = _flagged()
    del adata.var["only_by_site"]
    with caplog.at_level(logging.INFO, logger="kratom_omics"):
        kom.pp.remove_flagged(adata)
    assert "no 'only_by_site' column" in caplog.text
    assert list(adata.var_names) == ["P2", "P4"]
    assert _steps(adata, "kratom_omics.pp.remove_flagged")[0]["skipped"] == ["only_by_site"]


def test_remove_flagged_on_histone_data_without_flags(histone):
    adata = histone.copy()
    kom.pp.remove_flagged(adata)
    assert adata.n_vars == histone.n_vars


def test_remove_flagged_rejects_non_bool():
    with pytest.raises(InputFormatError, match=r"decoys='yes' must be True or False"):
        kom.pp.remove_flagged(_flagged(), decoys="yes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# valid-value filter: 3 control + 3 withdrawal samples, one feature per situation
FEATURES = {
    "all": [1, 1, 1, 1, 1, 1],
    "control_only": [1, 1, 1, NAN, NAN, NAN],
    "two_each": [1, 1, NAN, 1, 1, NAN],
    "one": [NAN, NAN, 1, NAN, NAN, NAN],
    "none": [NAN] * 6,
    "withdrawal_two": [NAN, NAN, NAN, 1, NAN, 1],
}


def _valid_data() -> ad.AnnData:
    x = np.array(list(FEATURES.values()), dtype=float).T * 20.0
    obs = pd.DataFrame(
        {
            "phase": pd.Categorical(
                ["control"] * 3 + ["withdrawal"] * 3,
                categories=["control", "use", "withdrawal"],
                ordered=True,
            )
        },
        index=[f"S{i}" for i in range(6)],
    )
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=list(FEATURES)))
    adata.layers["raw"] = x.copy()
    return adata


@pytest.mark.parametrize(
    ("min_valid", "mode", "kept"),
    [
        (4, "total", ["all", "two_each"]),
        (0.5, "total", ["all", "control_only", "two_each"]),  # ceil(0.5 * 6) = 3
        (1, "total", ["all", "control_only", "two_each", "one", "withdrawal_two"]),
        (2, "each_group", ["all", "two_each"]),
        (0.6, "each_group", ["all", "two_each"]),  # ceil(0.6 * 3) = 2 in each
        (2, "any_group", ["all", "control_only", "two_each", "withdrawal_two"]),
        (1.0, "any_group", ["all", "control_only"]),
        (3, "any_group", ["all", "control_only"]),
    ],
)
def test_filter_valid_modes(min_valid, mode, kept):
    adata = _valid_data()
    kom.pp.filter_valid(adata, min_valid=min_valid, mode=mode)
    assert list(adata.var_names) == kept
    assert adata.layers["raw"].shape == (6, len(kept))
    (params,) = _steps(adata, "kratom_omics.pp.filter_valid")
    assert params["n_kept"] == len(kept)
    assert params["n_removed"] == len(FEATURES) - len(kept)


def test_filter_valid_group_modes_ignore_samples_without_group():
    adata = _valid_data()
    adata.obs["phase"] = adata.obs["phase"].astype(object)
    adata.obs.loc["S0", "phase"] = np.nan  # string column with a missing value
    kom.pp.filter_valid(adata, min_valid=1.0, mode="each_group")
    # control now has S1, S2 only: "two_each" is 1/2 there, "all" 2/2 and 3/3
    assert list(adata.var_names) == ["all"]


def test_filter_valid_copy_leaves_input():
    adata = _valid_data()
    out = kom.pp.filter_valid(adata, min_valid=6, mode="total", copy=True)
    assert out is not None
    assert list(out.var_names) == ["all"]
    assert adata.n_vars == 6


def test_filter_valid_errors():
    adata = _valid_data()
    with pytest.raises(DesignError, match=r"min_valid=4 but the smallest group has only 3 samples"):
        kom.pp.filter_valid(adata, min_valid=4, mode="each_group")
    with pytest.raises(DesignError, match=r"number of samples has only 6"):
        kom.pp.filter_valid(adata, min_valid=7, mode="total")
    with pytest.raises(InputFormatError, match=r"min_valid=1.5 is a float outside \(0, 1\]"):
        kom.pp.filter_valid(adata, min_valid=1.5)
    with pytest.raises(InputFormatError, match=r"min_valid=True must be a count"):
        kom.pp.filter_valid(adata, min_valid=True)
    with pytest.raises(InputFormatError, match=r"mode='each' is not one of"):
        kom.pp.filter_valid(adata, mode="each")  # type: ignore[arg-type]
    with pytest.raises(KeyNotFoundError, match=r"groupby='phse'.*Did you mean 'phase'"):
        kom.pp.filter_valid(adata, mode="any_group", groupby="phse")
    assert adata.n_vars == 6


def test_filter_valid_default_keeps_on_off_features():
    adata = _valid_data()
    kom.pp.filter_valid(adata)  # 70% in at least one phase
    assert list(adata.var_names) == ["all", "control_only"]
