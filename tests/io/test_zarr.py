"""Streaming featureCounts -> zarr writer and the lazy (dask) reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

da = pytest.importorskip("dask.array")
pytest.importorskip("zarr")

DATA = Path(__file__).parents[1] / "data" / "histone"
FC = DATA / "featurecounts_H3K9ac.txt"
BAMS = [
    f"/scratch/bam/{s}.sorted.dedup.bam"
    for s in ("Ctl_1", "Ctl_2", "Ctl_3", "Wd_1", "Wd_2", "Wd_3")
]


def bins_table(path: Path, n_bins: int = 1000, seed: int = 5) -> np.ndarray:
    """A featureCounts table of genome-wide 5 kb bins; returns the counts (bins x samples)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.gamma(2.0, 40.0, n_bins)[:, None], (n_bins, len(BAMS)))
    counts[:50, 3:] *= 3  # planted gain in withdrawal
    start = np.arange(n_bins) * 5000
    lines = [
        "# Program:featureCounts v2.0.6; Command:featureCounts -F SAF -a bins.saf",
        "\t".join(["Geneid", "Chr", "Start", "End", "Strand", "Length", *BAMS]),
    ]
    for i in range(n_bins):
        row = [f"bin_{i}", "chr1", str(start[i] + 1), str(start[i] + 5000), "+", "5000"]
        lines.append("\t".join(row + [str(c) for c in counts[i]]))
    path.write_text("\n".join(lines) + "\n")
    return counts


def test_round_trip_small_fixture(tmp_path: Path) -> None:
    ref = kom.io.read_featurecounts(FC)
    out = kom.io.featurecounts_to_zarr(FC, tmp_path / "fc.zarr", chunk_rows=2)
    a = kom.io.read_zarr_lazy(out)
    assert isinstance(a.X, da.Array)
    assert a.X.chunks == ((4,), (2, 2, 1))
    assert a.layers["raw"] is a.X
    assert list(a.obs_names) == list(ref.obs_names)
    assert a.obs["bam"].tolist() == ref.obs["bam"].tolist()
    assert list(a.var_names) == list(ref.var_names)
    for c in ("start", "end", "length"):
        np.testing.assert_array_equal(a.var[c].to_numpy(), ref.var[c].to_numpy())
    assert a.var["chrom"].astype(str).tolist() == ref.var["chrom"].tolist()
    assert a.var["strand"].astype(str).tolist() == ref.var["strand"].tolist()
    np.testing.assert_array_equal(a.X.compute(), ref.X)
    assert a.X.compute()[3, list(a.var_names).index("Bdnf_exons")] == 0
    steps = a.uns["kratom_omics"]["provenance"]
    assert next(iter(steps.values()))["function"] == "kratom_omics.io.featurecounts_to_zarr"
    # an ordinary AnnData zarr store too
    import anndata as ad

    b = ad.read_zarr(out)
    np.testing.assert_array_equal(b.X, ref.X)


def test_bins_stream_and_differential_equal_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "bins.txt"
    counts = bins_table(path)
    out = kom.io.featurecounts_to_zarr(path, tmp_path / "bins.zarr", chunk_rows=128)
    sheet = pd.DataFrame(
        {
            "sample": ["Wd_3", "Ctl_1", "Ctl_2", "Ctl_3", "Wd_1", "Wd_2"],  # another order
            "phase": ["withdrawal"] + ["control"] * 3 + ["withdrawal"] * 2,
        }
    )
    lazy = kom.io.read_zarr_lazy(out, sheet)
    assert lazy.X.chunks[1] == (128,) * 7 + (104,)
    assert list(lazy.obs_names) == ["Wd_3", "Ctl_1", "Ctl_2", "Ctl_3", "Wd_1", "Wd_2"]
    np.testing.assert_array_equal(lazy.X[0].compute(), counts[:, 5])
    mem = kom.io.read_featurecounts(path, sheet)
    for a in (lazy, mem):
        a.X = np.log2(a.X + 1) if a is mem else da.log2(a.X + 1)
        kom.tl.differential(a, contrasts="withdrawal - control")
    assert isinstance(lazy.X, da.Array)
    t_lazy = lazy.uns["differential"]["table"]
    t_mem = mem.uns["differential"]["table"]
    for c in ("log2fc", "t", "pvalue", "padj", "B", "s2_post"):
        np.testing.assert_allclose(t_lazy[c], t_mem[c], rtol=1e-11, err_msg=c)
    top = t_lazy.nsmallest(40, "pvalue")["feature"]
    assert top.isin([f"bin_{i}" for i in range(50)]).mean() >= 0.9


def test_errors(tmp_path: Path) -> None:
    path = tmp_path / "bins.txt"
    bins_table(path, n_bins=300)
    text = path.read_text().splitlines()
    text[2 + 250] = text[2 + 250].rsplit("\t", 1)[0] + "\t12.5"
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(InputFormatError, match=r"line 253: count '12.5' for feature 'bin_250'"):
        kom.io.featurecounts_to_zarr(bad, tmp_path / "bad.zarr", chunk_rows=100)
    kom.io.featurecounts_to_zarr(path, tmp_path / "ok.zarr", chunk_rows=100)
    with pytest.raises(InputFormatError, match="already exists; choose another out path"):
        kom.io.featurecounts_to_zarr(path, tmp_path / "ok.zarr")
    kom.io.featurecounts_to_zarr(path, tmp_path / "ok.zarr", chunk_rows=1000, overwrite=True)
    assert kom.io.read_zarr_lazy(tmp_path / "ok.zarr").X.chunks == ((6,), (300,))
    with pytest.raises(InputFormatError, match="chunk_rows must be >= 1; got 0"):
        kom.io.featurecounts_to_zarr(path, tmp_path / "z.zarr", chunk_rows=0)
    with pytest.raises(InputFormatError, match="header is"):
        kom.io.featurecounts_to_zarr(DATA / "H3K9ac_Ctl_1_peaks.narrowPeak", tmp_path / "p.zarr")
    with pytest.raises(InputFormatError, match="does not exist"):
        kom.io.read_zarr_lazy(tmp_path / "missing.zarr")


def test_cli_differential_on_a_zarr_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import anndata as ad

    from kratom_omics.cli import main

    rng = np.random.default_rng(2)
    phase = np.repeat(["control", "withdrawal"], 4)
    x = rng.normal(10, 0.5, (8, 500))
    x[4:, :10] += 2
    x[rng.random(x.shape) < 0.05] = np.nan
    obs = pd.DataFrame({"phase": phase}, index=[f"s{i}" for i in range(8)])
    a = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=[f"F{i}" for i in range(500)]))
    a.write_zarr(tmp_path / "in.zarr")
    code = main(
        [
            "differential",
            str(tmp_path / "in.zarr"),
            str(tmp_path / "out.h5ad"),
            "--contrast",
            "withdrawal - control",
            "--scheduler",
            "threads",
            "--chunk-size",
            "120",
            "--table",
            str(tmp_path / "t.tsv"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "500 features x 8 samples in 5 chunk(s) on threads" in capsys.readouterr().err
    kom.tl.differential(a, contrasts="withdrawal - control")
    got = pd.read_csv(tmp_path / "t.tsv", sep="\t")
    ref = a.uns["differential"]["table"]
    assert got["feature"].tolist() == ref["feature"].tolist()
    for c in ("log2fc", "t", "pvalue", "padj"):
        np.testing.assert_allclose(got[c], ref[c], rtol=1e-9, err_msg=c)
    assert ad.read_h5ad(tmp_path / "out.h5ad").uns["differential"]["table"].shape == ref.shape
    # --parquet: the tables go to a directory, the h5ad refers to them
    args = ["differential", str(tmp_path / "in.zarr"), str(tmp_path / "out2.h5ad")]
    args += ["--chunk-size", "120", "--parquet", str(tmp_path / "res")]
    args += ["--f-table", str(tmp_path / "f.tsv")]
    assert main(args) == 0, capsys.readouterr().err
    back = ad.read_h5ad(tmp_path / "out2.h5ad")
    assert "table" not in back.uns["differential"]
    assert back.uns["differential"]["table_path"] == str(tmp_path / "res" / "table.parquet")
    pq = kom.get.differential(back)
    np.testing.assert_allclose(pq["pvalue"], ref["pvalue"], rtol=1e-9)
    f = pd.read_csv(tmp_path / "f.tsv", sep="\t")
    assert f["feature"].tolist() == [f"F{i}" for i in range(500)]


def test_read_zarr_lazy_keeps_names_and_text_columns_as_arrow_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anndata as ad

    n = 2_500  # more than one block of names when the block is made small
    var = pd.DataFrame(
        {
            "chrom": pd.Categorical(np.where(np.arange(n) < 1000, "chr1", "chr2")),
            "start": np.arange(n) * 200,
            "label": [f"peak {i}" for i in range(n)],
        },
        index=[f"chr{1 + (i >= 1000)}:{i * 200}-{i * 200 + 200}" for i in range(n)],
    )
    obs = pd.DataFrame(index=[f"s{i}" for i in range(4)])
    ad.AnnData(X=np.ones((4, n)), obs=obs, var=var).write_zarr(tmp_path / "a.zarr")
    monkeypatch.setattr("kratom_omics.io._zarr._NAME_BLOCK", 1_000)
    lazy = kom.io.read_zarr_lazy(tmp_path / "a.zarr")
    assert isinstance(lazy.var_names.dtype, pd.StringDtype)
    assert lazy.var_names.dtype.storage == "pyarrow"
    assert lazy.var_names.tolist() == var.index.tolist()
    assert lazy.var["label"].tolist() == var["label"].tolist()
    assert isinstance(lazy.var["label"].dtype, pd.StringDtype)
    assert lazy.var["chrom"].dtype == "category"
    np.testing.assert_array_equal(lazy.var["start"], var["start"])
    assert list(lazy.var.columns) == ["chrom", "start", "label"]


@pytest.mark.parametrize("block", [1, 2, 1_000_000])
def test_read_zarr_lazy_warns_on_duplicated_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    import anndata as ad

    monkeypatch.setattr("kratom_omics.io._zarr._NAME_BLOCK", block)

    names = ["b1", "b2", "b1", "b3", "b2"]
    with pytest.warns(UserWarning, match="not unique"):
        a = ad.AnnData(X=np.ones((2, 5)), var=pd.DataFrame(index=names))
    a.write_zarr(tmp_path / "d.zarr")
    with pytest.warns(UserWarning, match=r"feature names are not unique \(e.g. \['b1', 'b2'\]\)"):
        kom.io.read_zarr_lazy(tmp_path / "d.zarr")


def test_chunked_differential_on_arrow_names_equals_in_memory(tmp_path: Path) -> None:
    import anndata as ad

    rng = np.random.default_rng(8)
    x = rng.normal(10, 0.4, (8, 300))
    x[4:, :12] += 1.5
    x[rng.random(x.shape) < 0.05] = np.nan
    obs = pd.DataFrame({"phase": np.repeat(["control", "withdrawal"], 4)}, index=list("abcdefgh"))
    var = pd.DataFrame(
        {"gene": [f"Gene{i}" for i in range(300)]}, index=[f"chr1:{i}" for i in range(300)]
    )
    mem = ad.AnnData(X=x, obs=obs, var=var)
    mem.write_zarr(tmp_path / "g.zarr")
    lazy = kom.io.read_zarr_lazy(tmp_path / "g.zarr")
    assert isinstance(lazy.var["gene"].dtype, pd.StringDtype)
    kom.tl.differential(mem, contrasts="withdrawal - control")
    kom.tl.differential(lazy, contrasts="withdrawal - control", out=tmp_path / "res")
    got = kom.get.differential(lazy)
    ref = kom.get.differential(mem)
    assert got["feature"].tolist() == ref["feature"].tolist()
    assert got["gene"].tolist() == ref["gene"].tolist()
    np.testing.assert_allclose(got["padj"], ref["padj"], rtol=1e-11)
    assert set(got.nsmallest(12, "pvalue")["feature"]) == {f"chr1:{i}" for i in range(12)}


def test_a_bad_input_leaves_no_partial_store_and_an_old_store_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "bins.txt"
    bins_table(path, n_bins=300)
    text = path.read_text().splitlines()
    text[2 + 250] = text[2 + 250].rsplit("\t", 1)[0] + "\tx"
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(InputFormatError, match=r"line 253: count 'x'"):
        kom.io.featurecounts_to_zarr(bad, tmp_path / "new.zarr", chunk_rows=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "bins.txt"]
    kom.io.featurecounts_to_zarr(path, tmp_path / "old.zarr", chunk_rows=100)
    with pytest.raises(InputFormatError, match=r"line 253: count 'x'"):
        kom.io.featurecounts_to_zarr(bad, tmp_path / "old.zarr", chunk_rows=100, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "bins.txt", "old.zarr"]
    kept = kom.io.read_zarr_lazy(tmp_path / "old.zarr")
    assert kept.shape == (6, 300)


def test_the_summary_beside_the_counts_goes_into_the_store(tmp_path: Path) -> None:
    counts = kom.datasets.simulate("histone", assay="counts", seed=3, n_per_phase=2)[:, :30].copy()
    path = kom.datasets.write_featurecounts(counts, tmp_path / "counts.txt", summary=True)
    out = kom.io.featurecounts_to_zarr(path, tmp_path / "c.zarr", chunk_rows=7)
    a = kom.io.read_zarr_lazy(out)
    raw = pd.read_csv(tmp_path / "counts.txt.summary", sep="\t", index_col=0)
    assert a.obs["Assigned"].tolist() == raw.loc["Assigned"].tolist()
    np.testing.assert_array_equal(a.obs["Assigned"], a.X.compute().sum(axis=1))
