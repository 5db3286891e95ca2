"""Fuzzed histone, count and generic tables, peak files and sample sheets (see conftest.py): a
self-consistent AnnData (a unique peak table for read_peaks, a summary or sample sheet with unique
samples) or a KratomOmicsError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

FORMATS = [
    "epiprofile",
    "epiprofile_xlsx",
    "featurecounts",
    "featurecounts_summary",
    "densitometry",
    "table",
    "peaks",
    "peaks_summits",
    "peaks_gapped",
    "peaks_xls",
    "samples",
]


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
