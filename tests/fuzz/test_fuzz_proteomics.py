"""Fuzzed proteomics tables (see conftest.py): a self-consistent AnnData or a KratomOmicsError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

FORMATS = [
    "maxquant", "diann", "diann_report", "diann_pr_matrix", "diann_report17", "fragpipe",
    "fragpipe_philosopher", "spectronaut", "spectronaut_pivot", "spectronaut_r",
    "spectronaut_fragments", "alphapept", "alphadia", "alphadia_precursors", "mztab",
    "maxquant_tmt", "mztab_openms",
]  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
@settings(settings.get_profile("fuzz-short"))
@given(data=st.data())
def test_fuzzed_file_loads_consistently_or_fails_clearly(fuzz_kit, fmt, data):
    fuzz_kit.run(data, fmt)


@pytest.mark.fuzz
@pytest.mark.parametrize("fmt", FORMATS)
@settings(settings.get_profile("fuzz-long"))
@given(data=st.data())
def test_fuzzed_file_long(fuzz_kit, fmt, data):
    fuzz_kit.run(data, fmt)
