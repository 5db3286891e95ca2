from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KratomOmicsWarning

NAN = np.nan


def _linear() -> ad.AnnData:
    x = np.array([[1.0, 2.0, 4.0, 1024.0], [8.0, 0.0, NAN, 2.0**20]])
    adata = ad.AnnData(x.copy())
    adata.layers["raw"] = x.copy()
    return adata


def test_log2_values_nonpositive_to_nan_and_raw_untouched():
    adata = _linear()
    with pytest.warns(KratomOmicsWarning, match=r"1 value\(s\) <= 0"):
        kom.pp.log2(adata)
    np.testing.assert_array_equal(adata.X, [[0.0, 1.0, 2.0, 10.0], [3.0, NAN, NAN, 20.0]])
    np.testing.assert_array_equal(adata.layers["raw"][0], [1.0, 2.0, 4.0, 1024.0])
    assert adata.X.dtype == np.float64
    assert adata.uns["kratom_omics"]["x_transform"] == "log2"
    step = adata.uns["kratom_omics"]["provenance"]["step_000"]
    assert step["function"] == "kratom_omics.pp.log2"
    assert json.loads(step["parameters"])["n_nonpositive"] == 1


def test_log2_twice_raises_and_raw_layer_restarts():
    adata = _linear()
    with pytest.warns(KratomOmicsWarning, match=r"1 value\(s\) .*set to NaN"):
        kom.pp.log2(adata)
    with pytest.raises(InputFormatError, match=r"already log2-transformed.*layer='raw'"):
        kom.pp.log2(adata)
    adata.X = adata.X + 5.0  # e.g. a normalisation
    with pytest.warns(KratomOmicsWarning, match=r"1 value\(s\) .*set to NaN"):
        kom.pp.log2(adata, layer="raw")
    np.testing.assert_array_equal(adata.X[0], [0.0, 1.0, 2.0, 10.0])


def test_log2_pseudocount_for_counts():
    counts = np.array([[0.0, 1.0, 3.0], [7.0, 15.0, 0.0]])
    adata = ad.AnnData(counts.copy())
    adata.layers["raw"] = counts.copy()
    kom.pp.log2(adata, pseudocount=1)
    np.testing.assert_allclose(adata.X, [[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]])


def test_log2_refuses_values_that_look_logged(protein, histone):
    for data in (protein, histone):  # simulated X is on the log2 scale already, and says so
        with pytest.raises(InputFormatError, match=r"already log2-transformed"):
            kom.pp.log2(data, copy=True)
        unflagged = data.copy()
        del unflagged.uns["kratom_omics"]["x_transform"]  # the values alone give it away too
        with pytest.raises(InputFormatError, match=r"looks log-transformed already.*force=True"):
            kom.pp.log2(unflagged, copy=True)
    ratios = 1.0 + np.abs(np.random.default_rng(0).normal(size=(4, 5)))  # linear, between 1 and 5
    adata = ad.AnnData(ratios)
    with pytest.raises(InputFormatError, match="looks log-transformed"):
        kom.pp.log2(adata, copy=True)
    out = kom.pp.log2(adata, force=True, copy=True)
    assert out is not None
    np.testing.assert_allclose(out.X, np.log2(ratios))


def test_log2_histone_ratios_from_raw_layer(histone):
    adata = histone.copy()
    kom.pp.log2(adata, layer="raw")
    raw = histone.layers["raw"]
    expected = np.where(raw > 0, np.log2(np.where(raw > 0, raw, 1.0)), NAN)
    np.testing.assert_allclose(adata.X, expected)
    np.testing.assert_array_equal(adata.layers["raw"], histone.layers["raw"])


def test_log2_copy_leaves_input_and_flag_survives_h5ad(tmp_path):
    adata = _linear()
    with pytest.warns(KratomOmicsWarning, match=r"1 value\(s\) .*set to NaN"):
        out = kom.pp.log2(adata, copy=True)
    assert out is not None
    np.testing.assert_array_equal(adata.X[0], [1.0, 2.0, 4.0, 1024.0])
    assert "kratom_omics" not in adata.uns
    out.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(back.X, out.X)
    with pytest.raises(InputFormatError, match="already log2-transformed"):
        kom.pp.log2(back)


def test_log2_bad_arguments():
    with pytest.raises(InputFormatError, match=r"pseudocount=-1 must be a finite number >= 0"):
        kom.pp.log2(_linear(), pseudocount=-1)
    with pytest.raises(InputFormatError, match=r"pseudocount='1' must be a number"):
        kom.pp.log2(_linear(), pseudocount="1")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match=r"layer='rwa' is not a layer of adata. Did you mean 'raw'"):
        kom.pp.log2(_linear(), layer="rwa")


def test_log2_refuses_other_recorded_transforms():
    adata = _linear()
    adata.uns["kratom_omics"] = {"x_transform": "logit"}
    with pytest.raises(InputFormatError, match=r"already logit-transformed"):
        kom.pp.log2(adata)


def test_log2_on_a_view_makes_it_an_actual_object():
    parent = _linear()
    view = parent[:, :3]
    assert view.is_view
    kom.pp.log2(view, pseudocount=1)
    assert not view.is_view
    np.testing.assert_allclose(view.X[0], np.log2([2.0, 3.0, 5.0]))
    np.testing.assert_array_equal(parent.X[0], [1.0, 2.0, 4.0, 1024.0])  # parent untouched
