"""kom.get.biomarkers: candidate, feature, AUC, panel and cross-modality tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError, ResultNotFoundError

CONTRASTS = ["withdrawal - control", "withdrawal - use"]


@pytest.fixture(scope="module")
def flagged():
    p = kom.datasets.simulate("protein", seed=5, n_features=100)
    h = kom.datasets.simulate("histone", seed=5)
    for adata in (p, h):
        kom.tl.differential(adata, "phase", CONTRASTS)
        kom.tl.flag_biomarkers(adata, n_boot=100)
    return p, h


def rab_feature(adata):
    return adata.var_names[adata.var["gene"] == "Rab35"][0]


def test_candidate_and_feature_tables(flagged):
    p, _ = flagged
    cand = kom.get.biomarkers(p)
    assert cand["candidate"].tolist() == ["Rab35", "Hdac2", "H3K9ac", "H4K12ac", "Cnr1"]
    assert cand.loc[0, "status"] == "concordant"
    feats = kom.get.biomarkers(p, table="features")
    assert len(feats) == 2 * p.n_vars
    one = kom.get.biomarkers(p, table="features", contrast="withdrawal - use")
    assert len(one) == p.n_vars
    assert set(one["contrast"]) == {"withdrawal - use"}
    sig = kom.get.biomarkers(p, table="features", significant_only=True)
    assert len(sig) == int(feats["significant"].sum())
    assert sig["significant"].all()
    assert list(sig.index) == list(range(len(sig)))
    up = kom.get.biomarkers(p, table="features", status="up", contrast="withdrawal - control")
    assert (up["log2fc"] > 0).all()
    assert up["significant"].all()
    assert rab_feature(p) in set(up["feature"])
    assert kom.get.biomarkers(p, status=["concordant"])["candidate"].tolist()[:1] == ["Rab35"]
    with pytest.raises(KeyNotFoundError, match=r"status='concordnt' is not a biomarker status"):
        kom.get.biomarkers(p, status="concordnt")
    # a copy: editing it leaves the stored result alone
    cand.loc[0, "status"] = "edited"
    assert p.uns["biomarkers"]["candidates"].loc[0, "status"] == "concordant"


def test_cross_view_from_mapping(flagged):
    p, h = flagged
    cross = kom.get.biomarkers({"protein": p, "histone": h}, table="cross")
    assert cross.columns[:4].tolist() == ["contrast", "modality", "candidate", "expected"]
    assert cross["candidate"].tolist() == ["Rab35", "Hdac2", "H3K9ac", "H4K12ac", "Cnr1"]
    assert cross["dataset"].tolist() == ["protein", "protein", "histone", "histone", "protein"]
    assert cross.loc[2, "expected"] == "down"
    only = kom.get.biomarkers({"protein": p, "histone": h}, table="cross", contrast="use - control")
    assert only["candidate"].tolist() == ["Cnr1"]
    # a MuData holding both modalities gives the same table
    mdata = pytest.importorskip("mudata").MuData({"protein": p, "histone": h})
    pd.testing.assert_frame_equal(kom.get.biomarkers(mdata, table="cross"), cross)
    # histone candidates keep a row when only protein data are given
    alone = kom.get.biomarkers({"protein": p}, table="cross")
    assert alone.set_index("candidate").loc["H3K9ac", "status"] == "not measured"


def test_other_results_and_errors(flagged):
    p, h = flagged
    p = p.copy()
    kom.tl.marker_auc(p, n_boot=0, negative="use")
    auc = kom.get.biomarkers(p, "marker_auc", table="auc", contrast="withdrawal vs use")
    assert len(auc) == p.n_vars
    assert np.isnan(auc["ci_low"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kom.tl.panel_cv(p, list(p.var_names[:3]), Cs=(1.0,), n_boot=0)
    summary = kom.get.biomarkers(p, "panel_cv", table="summary")
    assert summary.shape[0] == 1
    assert 0 <= summary.loc[0, "auc"] <= 1
    with pytest.raises(
        KeyNotFoundError, match=r"table='candidate' is not a table .* Did you mean 'candidates'"
    ):
        kom.get.biomarkers(p, table="candidate")
    with pytest.raises(ResultNotFoundError, match=r"key='biomarker' is not a result in adata.uns"):
        kom.get.biomarkers(p, "biomarker")
    with pytest.raises(KeyNotFoundError, match=r"contrast='withdrawal - ctrl' is not a contrast"):
        kom.get.biomarkers(p, contrast="withdrawal - ctrl")
    with pytest.raises(InputFormatError, match=r"only table='cross' combines datasets"):
        kom.get.biomarkers({"protein": p, "histone": h}, table="features")
    with pytest.raises(InputFormatError, match=r"expected an AnnData"):
        kom.get.biomarkers(pd.DataFrame())
    bare = kom.datasets.simulate("histone", seed=0)
    with pytest.raises(ResultNotFoundError, match=r"dataset 'histone' has no biomarker result"):
        kom.get.biomarkers({"protein": p, "histone": bare}, table="cross")
