"""The pyarrow parse of plain tables gives exactly what the pandas parse gives."""

from __future__ import annotations

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError
from kratom_omics.io import _fastcsv


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    study = kom.datasets.simulate("protein", seed=11, n_features=40, n_per_phase=2)
    path = tmp_path_factory.mktemp("fast") / "report.pg_matrix.tsv"
    kom.datasets.write_diann(study, path)
    text = path.read_text().splitlines()
    rows = [line.split("\t") for line in text]
    rows[1][5], rows[2][6], rows[3][7], rows[4][3] = "Filtered", "-", "inf", "-"  # '-' gene kept
    rows[5][8] = "NA"
    path.write_text("\n".join("\t".join(r) for r in rows) + "\n")
    return path


def _both(path, monkeypatch, **kw):
    used = []
    real = _fastcsv.read_plain

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        used.append(out is not None)
        return out

    monkeypatch.setattr(_fastcsv, "read_plain", spy)
    fast = kom.io.read_diann(path, **kw)
    monkeypatch.setattr(_fastcsv, "read_plain", lambda *a, **k: None)
    slow = kom.io.read_diann(path, **kw)
    return fast, slow, used


@pytest.mark.parametrize(
    "resave",
    [
        {},
        {"newline": "\r\n", "encoding": "cp1252"},
        {"newline": "\r"},
        {"sep": ","},
        {"encoding": "utf-16"},
        {"bom": True},
    ],
)
def test_fast_and_pandas_parse_agree(matrix, tmp_path, monkeypatch, resave):
    path = kom.datasets.resave(matrix, tmp_path / "report.pg_matrix.tsv", **resave)
    fast, slow, used = _both(path, monkeypatch)
    assert used == [True]
    np.testing.assert_array_equal(fast.X, slow.X)
    assert fast.var.equals(slow.var)
    assert list(fast.obs_names) == list(slow.obs_names)
    assert fast.var["gene"].iloc[3] == "-"  # a text cell is never read as missing by the fast path
    assert np.isnan(fast.X).sum() == np.isnan(slow.X).sum() > 0


def test_short_rows_and_bad_cells_take_the_pandas_path(matrix, tmp_path, monkeypatch):
    stripped = kom.datasets.resave(matrix, tmp_path / "a.pg_matrix.tsv", strip_trailing_empty=True)
    lines = stripped.read_text().splitlines()
    lines[2] = lines[2].rsplit("\t", 1)[0]  # a short row
    stripped.write_text("\n".join(lines) + "\n")
    fast, slow, used = _both(stripped, monkeypatch)
    assert used == [False]
    np.testing.assert_array_equal(fast.X, slow.X)
    bad = tmp_path / "b.pg_matrix.tsv"
    bad.write_text(matrix.read_text().replace("Filtered", "n.d.", 1))
    with pytest.raises(InputFormatError, match=r"non-numeric value 'n\.d\.' at feature"):
        kom.io.read_diann(bad)
