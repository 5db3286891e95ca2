"""kom.get.differential / differential_f: tidy copies of the stored result."""

from __future__ import annotations

import contextlib

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import KeyNotFoundError, ResultNotFoundError


@pytest.fixture
def adata() -> ad.AnnData:
    rng = np.random.default_rng(3)
    phase = np.repeat(["control", "use", "withdrawal"], 4)
    x = rng.normal(20, 0.5, (12, 40))
    x[phase == "withdrawal", 0] += 3
    x[phase == "use", 1] -= 2
    obs = pd.DataFrame(
        {"phase": pd.Categorical(phase, ordered=True)}, index=[f"s{i}" for i in range(12)]
    )
    a = ad.AnnData(X=x, obs=obs)
    a.var_names = [f"P{i}" for i in range(40)]
    kom.tl.differential(a, "phase", ["withdrawal - control", "use - control"])
    return a


def test_table_is_a_copy_with_range_index(adata: ad.AnnData) -> None:
    t = kom.get.differential(adata)
    assert t.shape == (80, 21)
    assert isinstance(t.index, pd.RangeIndex)
    t.loc[0, "log2fc"] = 99.0
    assert adata.uns["differential"]["table"].loc[0, "log2fc"] != 99.0


PANDAS3 = int(pd.__version__.split(".")[0]) >= 3


@pytest.mark.parametrize("cow", [False, True])
@pytest.mark.parametrize("part", ["table", "f_table"])
def test_table_is_independent_of_the_stored_one(adata: ad.AnnData, part: str, cow: bool) -> None:
    # under copy-on-write the returned table shares the stored columns until either is modified
    if PANDAS3 and not cow:
        pytest.skip("pandas 3 always copies on write")
    get = kom.get.differential if part == "table" else kom.get.differential_f
    mode = contextlib.nullcontext() if PANDAS3 else pd.option_context("mode.copy_on_write", cow)
    with mode:
        stored = adata.uns["differential"][part]
        before = stored.copy(deep=True)
        t = get(adata)
        shared = np.shares_memory(t["pvalue"].to_numpy(), stored["pvalue"].to_numpy())
        assert shared is cow
        t.loc[0, "pvalue"] = 99.0
        t.iloc[1, t.columns.get_loc("padj")] = -1.0
        t.loc[2, "feature"] = "changed"
        t["F" if part == "f_table" else "se"] *= 2
        pd.testing.assert_frame_equal(stored, before)
        assert t.loc[0, "pvalue"] == 99.0
        # and the other way round: a change to the stored table leaves a returned one as it was
        u = get(adata)
        u_before = u.copy(deep=True)
        stored.loc[0, "padj"] = 0.123
        stored.loc[1, "feature"] = "changed"
        pd.testing.assert_frame_equal(u, u_before)
        assert adata.uns["differential"][part].loc[0, "padj"] == 0.123


def test_filter_contrast_normalises_spacing(adata: ad.AnnData) -> None:
    t = kom.get.differential(adata, contrast="withdrawal-control")
    assert t.shape == (40, 21)
    assert set(t["contrast"]) == {"withdrawal - control"}
    assert list(t["feature"]) == [f"P{i}" for i in range(40)]


def test_sorting(adata: ad.AnnData) -> None:
    t = kom.get.differential(adata, contrast="withdrawal - control", sort_by="pvalue")
    assert t["feature"].iloc[0] == "P0"
    assert t["pvalue"].is_monotonic_increasing
    u = kom.get.differential(adata, contrast="use - control", sort_by="log2fc")
    assert u["feature"].iloc[0] == "P1"
    assert u["log2fc"].abs().is_monotonic_decreasing
    b = kom.get.differential(adata, sort_by="B")
    assert b["B"].is_monotonic_decreasing
    f = kom.get.differential_f(adata, sort_by="pvalue")
    assert list(f.columns) == ["feature", "F", "df1", "df2", "pvalue", "padj"]
    assert set(f["feature"].iloc[:2]) == {"P0", "P1"}
    assert f.shape == (40, 6)


def test_errors(adata: ad.AnnData) -> None:
    msg = r"no differential result in adata.uns\['diff'\].* Available differential results: \['differential'\]"
    with pytest.raises(ResultNotFoundError, match=msg):
        kom.get.differential(adata, "diff")
    msg = r"contrast='withdrawal - contrl' is not a contrast .* Did you mean 'withdrawal - control'"
    with pytest.raises(KeyNotFoundError, match=msg):
        kom.get.differential(adata, contrast="withdrawal - contrl")
    with pytest.raises(
        KeyNotFoundError,
        match=r"sort_by='pval' is not a column of the result table\. Did you mean 'pvalue'",
    ):
        kom.get.differential(adata, sort_by="pval")
    empty = ad.AnnData(X=np.zeros((2, 2)))
    with pytest.raises(
        ResultNotFoundError,
        match=r"Run kom.tl.differential\(adata, \.\.\., key_added='differential'\) first",
    ):
        kom.get.differential_f(empty)
