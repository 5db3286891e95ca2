"""Memory of large result tables: mapped in at once, copied block by block, same values."""

from __future__ import annotations

import gc
import mmap
import weakref
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics import _results

MAPPED = getattr(mmap, "MAP_POPULATE", 0) != 0
needs_mapping = pytest.mark.skipif(not MAPPED, reason="no MAP_POPULATE on this system")


def _mapping(arr: np.ndarray) -> mmap.mmap | None:
    """The memory mapping an array's data live in (None: numpy's own memory)."""
    base = arr
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None) if isinstance(base, np.ndarray) else base.obj
    return base


def _block(table: pd.DataFrame, column: str) -> np.ndarray:
    return table[column].to_numpy()


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Map every table, however small (the default threshold is 32 MB)."""
    monkeypatch.setattr(_results, "MAPPED_MIN_BYTES", 0)


def _adata() -> ad.AnnData:
    rng = np.random.default_rng(11)
    phase = np.repeat(["control", "use", "withdrawal"], 4)
    x = rng.normal(20, 0.5, (12, 300))
    x[phase == "withdrawal", :5] += 2
    x[rng.random(x.shape) < 0.05] = np.nan
    obs = pd.DataFrame(
        {"phase": pd.Categorical(phase, ordered=True)}, index=[f"s{i}" for i in range(12)]
    )
    a = ad.AnnData(X=x, obs=obs)
    a.var_names = [f"P{i}" for i in range(300)]
    a.var["gene"] = [f"G{i % 150}" for i in range(300)]
    return a


@needs_mapping
def test_table_buffer_maps_large_arrays(small_threshold: None) -> None:
    arr = _results.table_buffer((3, 1000), np.float64)
    assert arr.shape == (3, 1000)
    assert arr.dtype == np.float64
    assert arr.flags.writeable
    assert _mapping(arr) is not None
    arr[:] = 2.5
    assert float(arr.sum()) == 7500.0
    obj = _results.table_buffer((2, 10), object)  # Python objects live in numpy's memory
    assert obj.dtype == object
    assert _mapping(obj) is None


def test_table_buffer_small_arrays_are_numpy() -> None:
    arr = _results.table_buffer((2, 100), np.int64)
    assert arr.shape == (2, 100)
    assert arr.dtype == np.int64
    assert _mapping(arr) is None


@needs_mapping
def test_mapped_tables_equal_numpy_ones(
    small_threshold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    contrasts = ["withdrawal - control", "use - control"]
    mapped = _adata()
    kom.tl.differential(mapped, "phase", contrasts)
    monkeypatch.setattr(_results, "MAPPED_MIN_BYTES", 1 << 62)
    plain = _adata()
    kom.tl.differential(plain, "phase", contrasts)
    for part in ("table", "f_table"):
        stored = mapped.uns["differential"][part]
        assert _mapping(_block(stored, "pvalue")) is not None
        assert _mapping(_block(plain.uns["differential"][part], "pvalue")) is None
        pd.testing.assert_frame_equal(stored, plain.uns["differential"][part], check_exact=True)
    assert mapped.uns["differential"]["table"].shape == (600, 22)


@needs_mapping
def test_get_copies_a_mapped_table_block_by_block(small_threshold: None) -> None:
    a = _adata()
    kom.tl.differential(a, "phase", ["withdrawal - control", "use - control"])
    stored = a.uns["differential"]["table"]
    before = stored.copy(deep=True)
    t = kom.get.differential(a)
    pd.testing.assert_frame_equal(t, before, check_exact=True)
    assert isinstance(t.index, pd.RangeIndex)
    if not _results.copy_on_write():  # a copy of its own, in mapped memory
        assert _mapping(_block(t, "log2fc")) is not None
        assert not np.shares_memory(_block(t, "log2fc"), _block(stored, "log2fc"))
    t.loc[0, "log2fc"] = 99.0
    t.loc[1, "reason"] = "changed"
    t.loc[2, "n_obs"] = -5
    pd.testing.assert_frame_equal(stored, before)


@needs_mapping
def test_mapped_tables_round_trip_and_are_released(small_threshold: None, tmp_path: Path) -> None:
    a = _adata()
    kom.tl.differential(a, "phase", ["withdrawal - control"])
    table = a.uns["differential"]["table"]
    mapping = _mapping(_block(table, "se"))
    assert mapping is not None
    ref = weakref.ref(mapping)
    path = tmp_path / "res.h5ad"
    a.write_h5ad(path)
    back = ad.read_h5ad(path)
    read = kom.get.differential(back)
    pd.testing.assert_frame_equal(
        read, kom.get.differential(a), check_exact=True, check_dtype=False
    )
    assert read["log2fc"].dtype == np.float64
    del table, mapping, a, back, read
    gc.collect()
    assert ref() is None  # the mapping is released with the table


def test_copy_table_falls_back_for_extension_dtypes(small_threshold: None) -> None:
    df = pd.DataFrame(
        {
            "x": np.arange(5.0),
            "cat": pd.Categorical(list("abcab")),
            "n": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        }
    )
    out = _results.copy_table(df)
    pd.testing.assert_frame_equal(out, df)
    out.loc[0, "x"] = -1.0
    assert df.loc[0, "x"] == 0.0
    dup = pd.DataFrame(np.ones((3, 2)), columns=["a", "a"])
    out = _results.copy_table(dup)
    assert out.shape == (3, 2)
    assert list(out.columns) == ["a", "a"]
    out.iloc[0, 0] = 5.0
    assert dup.iloc[0, 0] == 1.0


@needs_mapping
def test_copy_table_keeps_index_and_attrs(small_threshold: None) -> None:
    df = pd.DataFrame(
        {"a": np.arange(4.0), "b": np.arange(4), "c": list("wxyz"), "d": np.ones(4, bool)},
        index=pd.Index(["p", "q", "r", "s"], name="feature"),
    )
    df.attrs["source"] = {"k": [1]}
    out = _results.copy_table(df)
    pd.testing.assert_frame_equal(out, df, check_exact=True)
    assert out.attrs == {"source": {"k": [1]}}
    out.attrs["source"]["k"].append(2)
    assert df.attrs["source"]["k"] == [1]
    assert _mapping(out["a"].to_numpy()) is not None
    assert list(out.dtypes) == [np.float64, np.int64, object, bool]
