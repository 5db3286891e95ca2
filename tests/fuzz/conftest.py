"""Mutation fuzzing of the loaders (issue 21, "keep it found").

A valid file of each format (from the ``kom.datasets`` writers or the small real-format fixtures in
``tests/data``) is mutated by a few random edits of the kinds real files suffer: lines deleted,
repeated or swapped; columns deleted, repeated or swapped; empty or repeated header names;
truncation; stray bytes and NUL; a byte-order mark, CRLF or CR line ends, another encoding; mixed
delimiters, trailing delimiters, stripped trailing fields; infinite, huge, non-numeric, unicode and
very long cells; compression. The loader must then either return a self-consistent AnnData (unique
names, shapes that agree, float64 ``X``, written to h5ad) or raise a ``KratomOmicsError``.

Two profiles: a short, derandomized one in the default run (``make test``) and a long one under
the ``fuzz`` marker (``pytest -m fuzz``, thousands of examples).
"""

from __future__ import annotations

import gzip
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import kratom_omics as kom
from kratom_omics.errors import KratomOmicsError

DATA = Path(__file__).parents[1] / "data"

settings.register_profile(
    "fuzz-short",
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-long",
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CELLS = [
    "inf", "-inf", "Infinity", "-Infinity", "NaN", "", "NA", "#N/A", "null", "1e400", "-1e400",
    "99999999999999999999999", "1e-400", "0", "-1", "1.5", "1,5", "abc", "µg/ml", "café", "漢字",
    '"', '"quoted"', "'", "\\", ";", ",", "+", " 12 ", "١٢", "\u2028", "\x0c", "\x85", "\x01",
    "sp|Q5U316|RAB35_RAT", "CON__P02769", "REV__X", "-", "Filtered",
]  # fmt: skip


def _sep(data: bytes) -> bytes:
    head = data.split(b"\n", 2)
    probe = head[1] if len(head) > 1 and head[0].startswith(b"#") else head[0]
    counts = {s: probe.count(s) for s in (b"\t", b",", b";")}
    return max(counts, key=lambda s: counts[s])


def _header_index(lines: list[bytes]) -> int:
    return next((i for i, ln in enumerate(lines) if ln and not ln.startswith(b"#")), 0)


@dataclass
class Mutant:
    data: bytes
    name: str
    steps: list[str] = field(default_factory=list)


def _lines_op(m: Mutant, draw, op: str) -> None:
    lines = m.data.split(b"\n")
    n = len(lines)
    i = draw(st.integers(0, max(0, n - 1)))
    j = draw(st.integers(0, max(0, n - 1)))
    if op == "delete_line":
        del lines[i]
    elif op == "duplicate_line":
        lines.insert(i, lines[i])
    elif op == "swap_lines":
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "blank_line":
        lines.insert(i, draw(st.sampled_from([b"", b"\r", b"   ", b"\t\t", b",,,"])))
    elif op == "header_only":
        lines = lines[: _header_index(lines) + 1]
    m.data = b"\n".join(lines)
    m.steps.append(f"{op}({i},{j})")


def _columns_op(m: Mutant, draw, op: str) -> None:
    sep = _sep(m.data)
    lines = m.data.split(b"\n")
    h = _header_index(lines)
    width = max(1, len(lines[h].split(sep)))
    k = draw(st.integers(0, width - 1))
    l_ = draw(st.integers(0, width - 1))
    out = []
    for i, line in enumerate(lines):
        cells = line.split(sep)
        if i < h or len(cells) <= max(k, l_):
            out.append(line)
            continue
        if op == "delete_column":
            del cells[k]
        elif op == "duplicate_column":
            cells.insert(l_, cells[k])
        elif op == "swap_columns":
            cells[k], cells[l_] = cells[l_], cells[k]
        elif op == "empty_header_cell" and i == h:
            cells[k] = b""
        elif op == "repeat_header_name" and i == h:
            cells[l_] = cells[k]
        out.append(sep.join(cells))
    m.data = b"\n".join(out)
    m.steps.append(f"{op}({k},{l_})")


def _cell_op(m: Mutant, draw, op: str) -> None:
    sep = _sep(m.data)
    lines = m.data.split(b"\n")
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    cells = lines[i].split(sep)
    k = draw(st.integers(0, max(0, len(cells) - 1)))
    if op == "set_cell":
        value = draw(st.sampled_from(CELLS))
    elif op == "unicode_cell":
        value = draw(st.text(min_size=1, max_size=12))
    else:  # long_cell
        value = "n" * draw(st.sampled_from([300, 70_000, 140_000]))
    cells[k] = value.encode("utf-8", "surrogatepass")
    lines[i] = sep.join(cells)
    m.data = b"\n".join(lines)
    m.steps.append(f"{op}({i},{k},{value[:20]!r})")


def _row_op(m: Mutant, draw, op: str) -> None:
    sep = _sep(m.data)
    lines = m.data.split(b"\n")
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    if op == "mixed_delimiter":
        other = draw(st.sampled_from([b",", b";", b"\t", b" "]))
        lines[i] = lines[i].replace(sep, other)
    elif op == "trailing_delimiters":
        lines = [ln + sep if ln else ln for ln in lines]
    elif op == "strip_trailing_fields":
        cells = lines[i].split(sep)
        lines[i] = sep.join(cells[: draw(st.integers(1, max(1, len(cells))))])
    m.data = b"\n".join(lines)
    m.steps.append(f"{op}({i})")


def _bytes_op(m: Mutant, draw, op: str) -> None:
    pos = draw(st.integers(0, max(0, len(m.data))))
    if op == "truncate":
        m.data = m.data[:pos]
    elif op == "insert_bytes":
        m.data = m.data[:pos] + draw(st.binary(min_size=1, max_size=6)) + m.data[pos:]
    elif op == "insert_nul":
        m.data = m.data[:pos] + b"\x00" + m.data[pos:]
    elif op == "bom":
        m.data = b"\xef\xbb\xbf" + m.data
    elif op == "crlf":
        m.data = m.data.replace(b"\n", b"\r\n")
    elif op == "cr":
        m.data = m.data.replace(b"\n", b"\r")
    elif op == "cp1252":
        m.data = m.data.decode("utf-8", "replace").encode("cp1252", "replace")
    elif op == "utf16":
        m.data = m.data.decode("utf-8", "replace").encode("utf-16")
    m.steps.append(f"{op}({pos})")


OPS = {
    **dict.fromkeys(
        ["delete_line", "duplicate_line", "swap_lines", "blank_line", "header_only"], _lines_op
    ),
    **dict.fromkeys(
        [
            "delete_column",
            "duplicate_column",
            "swap_columns",
            "empty_header_cell",
            "repeat_header_name",
        ],
        _columns_op,
    ),
    **dict.fromkeys(["set_cell", "set_cell", "unicode_cell", "long_cell"], _cell_op),
    **dict.fromkeys(["mixed_delimiter", "trailing_delimiters", "strip_trailing_fields"], _row_op),
    **dict.fromkeys(
        ["truncate", "insert_bytes", "insert_nul", "bom", "crlf", "cr", "cp1252", "utf16"],
        _bytes_op,
    ),
}


class FuzzKit:
    """Base files, mutations and the self-consistency check."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kom-fuzz-"))
        self.bases = self._bases()

    def _bases(self) -> dict[str, tuple[str, bytes]]:
        out = self.dir / "bases"
        (out / "philosopher").mkdir(parents=True)
        protein = kom.datasets.simulate("protein", seed=7, n_features=12, n_per_phase=2)
        histone = kom.datasets.simulate("histone", seed=8, n_per_phase=2)
        counts = kom.datasets.simulate("histone", assay="counts", seed=9, n_per_phase=2)
        western = kom.datasets.simulate("histone", assay="western", seed=10, n_per_phase=2)
        kom.datasets.write_maxquant(protein, out / "proteinGroups.txt")
        kom.datasets.write_maxquant_tmt(protein, out / "tmt_proteinGroups.txt", channels=6)
        kom.datasets.write_mztab(protein, out / "openms.mzTab", labels="tmt10", fractions=2)
        kom.datasets.write_diann(protein, out / "report.pg_matrix.tsv")
        w = kom.datasets
        w.write_diann_precursors(protein, out / "report.pr_matrix.tsv", kind="pr_matrix")
        w.write_diann_precursors(protein, out / "report.tsv", version="1.7")
        w.write_fragpipe(
            protein, out / "philosopher" / "combined_protein.tsv", layout="philosopher"
        )
        w.write_spectronaut(protein, out / "sn_r.tsv", r_names=True, fasta_ids=True)
        w.write_spectronaut(protein, out / "sn_fragments.tsv", kind="long", level="fragment")
        w.write_alphadia(protein, out / "precursors.tsv", kind="precursors", version="1")
        kom.datasets.write_epiprofile(histone, out / "histone_ratios.xls")
        kom.datasets.write_featurecounts(counts[:, :40].copy(), out / "counts.txt")
        kom.datasets.write_densitometry(western, out / "western.tsv")
        kom.datasets.write_epiprofile(histone[:, :12].copy(), out / "histone_ratios.xlsx")
        kom.datasets.write_featurecounts(counts[:, :10].copy(), out / "fc.txt", summary=True)
        peaks = kom.io.read_peaks(DATA / "histone" / "H3K9ac_Ctl_1_peaks.narrowPeak")
        kom.datasets.write_peaks(peaks, out / "S1_summits.bed", kind="summits")
        kom.datasets.write_peaks(peaks, out / "S1_peaks.gappedPeak", kind="gappedPeak")
        kom.datasets.write_peaks(peaks, out / "S1_peaks.xls", kind="xls")
        kom.datasets.write_samples(protein, out / "samples.tsv")
        fixtures = DATA / "proteomics"
        bases = {
            "maxquant": out / "proteinGroups.txt",
            "maxquant_tmt": out / "tmt_proteinGroups.txt",
            "mztab_openms": out / "openms.mzTab",
            "diann": out / "report.pg_matrix.tsv",
            "diann_report": fixtures / "report.tsv",
            "diann_pr_matrix": out / "report.pr_matrix.tsv",
            "diann_report17": out / "report.tsv",
            "fragpipe_philosopher": out / "philosopher" / "combined_protein.tsv",
            "spectronaut_r": out / "sn_r.tsv",
            "spectronaut_fragments": out / "sn_fragments.tsv",
            "alphadia_precursors": out / "precursors.tsv",
            "fragpipe": fixtures / "combined_protein.tsv",
            "spectronaut": fixtures / "spectronaut_report.tsv",
            "spectronaut_pivot": fixtures / "spectronaut_pivot.tsv",
            "alphapept": fixtures / "results_proteins.csv",
            "alphadia": fixtures / "pg.matrix.tsv",
            "mztab": fixtures / "quant.mzTab",
            "epiprofile": out / "histone_ratios.xls",
            "featurecounts": out / "counts.txt",
            "densitometry": out / "western.tsv",
            "table": DATA / "histone" / "elisa_with_normalizer.tsv",
            "peaks": DATA / "histone" / "H3K9ac_Ctl_1_peaks.narrowPeak",
            "epiprofile_xlsx": out / "histone_ratios.xlsx",
            "featurecounts_summary": out / "fc.txt.summary",
            "peaks_summits": out / "S1_summits.bed",
            "peaks_gapped": out / "S1_peaks.gappedPeak",
            "peaks_xls": out / "S1_peaks.xls",
            "samples": out / "samples.tsv",
        }
        return {k: (p.name, p.read_bytes()) for k, p in bases.items()}

    def mutate(self, data: st.DataObject, fmt: str) -> Mutant:
        name, raw = self.bases[fmt]
        m = Mutant(raw, name)
        ops = data.draw(st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=3))
        for op in ops:
            OPS[op](m, data.draw, op)
        packing = data.draw(st.sampled_from(["", "", "", "", ".gz", ".zip"]))
        if packing == ".gz":
            m.data, m.name = gzip.compress(m.data), m.name + ".gz"
        elif packing == ".zip":
            path = self.dir / "pack.zip"
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr(m.name, m.data)
            m.data, m.name = path.read_bytes(), m.name + ".zip"
        if packing:
            m.steps.append(packing)
        return m

    def run(self, data: st.DataObject, fmt: str) -> None:
        m = self.mutate(data, fmt)
        folder = self.dir / "case"
        folder.mkdir(exist_ok=True)
        path = folder / m.name
        path.write_bytes(m.data)
        auto = data.draw(st.booleans())
        fmt_arg = "auto" if auto else fmt.split("_")[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if fmt.startswith("peaks"):
                    table = kom.io.read_peaks(path)
                    assert table.index.is_unique, m.steps
                    assert (table["end"] > table["start"]).all(), m.steps
                    assert (table["start"] >= 0).all(), m.steps
                    return
                if fmt == "featurecounts_summary":
                    summary = kom.io.read_featurecounts_summary(path)
                    assert summary.index.is_unique, m.steps
                    assert "Assigned" in summary.columns, m.steps
                    return
                if fmt == "samples":
                    sheet = kom.io.read_samples(path, phases=None)
                    assert sheet.index.is_unique, m.steps
                    assert sheet["phase"].notna().all(), m.steps
                    return
                adata = kom.io.read(path, format=fmt_arg)
            except KratomOmicsError:
                return
            self.check(adata, m)

    def check(self, adata, m: Mutant) -> None:
        steps = m.steps
        assert adata.obs_names.is_unique, steps
        assert adata.var_names.is_unique, steps
        assert adata.n_obs > 0, steps
        assert adata.n_vars > 0, steps
        x = np.asarray(adata.X)
        assert x.dtype == np.float64, steps
        assert x.shape == (adata.n_obs, adata.n_vars), steps
        for layer in adata.layers.values():
            assert np.asarray(layer).shape == x.shape, steps
        assert not np.isinf(x).any(), steps
        names = [*adata.obs_names, *adata.var_names]
        assert all(n and "\x00" not in n for n in names), steps
        adata.write_h5ad(self.dir / "case.h5ad")


@pytest.fixture(scope="session")
def fuzz_kit() -> FuzzKit:
    return FuzzKit()
