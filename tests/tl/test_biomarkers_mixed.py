"""Western blots measure histone marks and proteins together: candidates of both kinds are matched."""

from __future__ import annotations

import kratom_omics as kom


def test_western_blot_candidates_of_both_modalities():
    adata = kom.datasets.simulate("histone", assay="western", seed=4)
    kom.tl.differential(adata, "phase", contrasts=("withdrawal - control",))
    kom.tl.flag_biomarkers(adata)
    assert adata.uns["biomarkers"]["params"]["modality"] == "mixed"
    cand = kom.get.biomarkers(adata, table="candidates").set_index("candidate")
    for name, sign in {"Rab35": 1, "Hdac2": 1, "H3K9ac": -1, "H4K12ac": -1}.items():
        assert bool(cand.loc[name, "found"]), name
        assert sign * cand.loc[name, "log2fc"] > 0.5, name
        assert cand.loc[name, "status"] == "concordant", name
    # with the modality forced, the other kind is reported as not measured
    kom.tl.flag_biomarkers(adata, modality="histone", key_added="hist_only")
    only = kom.get.biomarkers(adata, key="hist_only", table="candidates").set_index("candidate")
    assert only.loc["Rab35", "status"] == "not measured"
    assert only.loc["H3K9ac", "status"] == "concordant"
