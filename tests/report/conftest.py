"""A small two-modality study with differential and biomarker results, and a hostile sample name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

import kratom_omics as kom

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def study():
    from kratom_omics.tl._biomarkers import flag_biomarkers

    a = kom.datasets.simulate("protein", seed=3, n_features=60, n_per_phase=3)
    a.obs_names = [HOSTILE, *a.obs_names[1:]]
    kom.tl.differential(a, "phase")
    flag_biomarkers(a, n_boot=20)
    h = kom.datasets.simulate("histone", seed=4, n_per_phase=3, timepoints=[1, 7], repeated=True)
    kom.tl.differential(h, "phase")
    flag_biomarkers(h, n_boot=20)
    return {"protein": a, "histone": h}


@pytest.fixture(scope="session")
def built(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "study.html"
    path = kom.report.html(study, out, title="Withdrawal <study>", max_rows=40, dpi=60)
    return path
