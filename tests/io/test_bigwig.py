"""bigWig tracks over regions: statistics against numpy over the same bases, samples, bad input.

Every track is written here with pyBigWig from a planted base-level signal (runs of constant
value with gaps without data); the expected statistics are computed with numpy from that signal.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KratomOmicsWarning, SampleMismatchError
from kratom_omics.io import _bigwig

pyBigWig = pytest.importorskip("pyBigWig")

CHROMS = {"chr1": 120_000, "chr2": 40_000, "chrM": 16_300}


def planted_signal(rng: np.random.Generator, length: int) -> np.ndarray:
    """Base-level signal: runs of 1-300 bases with a value, or without data (NaN). Values are
    float32 numbers, as a bigWig stores them."""
    v = np.full(length, np.nan)
    pos = 0
    while pos < length:
        run = int(rng.integers(1, 300))
        if rng.random() < 0.7:
            v[pos : pos + run] = float(np.float32(rng.gamma(2.0, 3.0)))
        pos += run
    return v


def write_bigwig(path: Path, signal: dict[str, np.ndarray]) -> None:
    """One bedGraph entry per run of equal values (as bedGraphToBigWig would store them)."""
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([(c, v.size) for c, v in signal.items()])
    for c, v in signal.items():
        has = ~np.isnan(v)
        change = np.r_[True, (v[1:] != v[:-1]) | (has[1:] != has[:-1])]
        starts = np.flatnonzero(change)
        ends = np.r_[starts[1:], v.size]
        keep = has[starts]
        if not keep.any():
            continue
        bw.addEntries(
            [c] * int(keep.sum()),
            starts[keep].tolist(),
            ends=ends[keep].tolist(),
            values=v[starts[keep]].tolist(),
        )
    bw.close()


def expected(v: np.ndarray, stat: str) -> float:
    """The statistic over bases ``v`` of one region, straight from the planted signal."""
    has = ~np.isnan(v)
    if stat == "coverage":
        return has.mean()
    if stat == "sum":
        return np.nansum(v)
    if stat == "mean0":
        return np.nansum(v) / v.size
    if not has.any():
        return np.nan
    return {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[stat](v)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    rng = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp("bw")
    signals = {}
    for name in ("Ctl_1", "Ctl_2", "Wd_1"):
        signals[name] = {c: planted_signal(rng, n) for c, n in CHROMS.items()}
        write_bigwig(folder / f"{name}.bw", signals[name])
    return folder, signals


def random_regions(rng: np.random.Generator, n: int) -> pd.DataFrame:
    chrom = rng.choice(["chr1", "chr2"], n)
    length = np.array([CHROMS[c] for c in chrom])
    start = rng.integers(0, length - 10)
    end = np.minimum(start + rng.integers(1, 5000, n), length)
    return pd.DataFrame({"chrom": chrom, "start": start, "end": end})


@pytest.mark.parametrize("stat", ["mean", "mean0", "sum", "max", "min", "coverage"])
def test_statistics_equal_numpy_over_the_planted_signal(tracks, stat) -> None:
    folder, signals = tracks
    rng = np.random.default_rng(5)
    regions = random_regions(rng, 400)
    # overlapping, nested and adjacent regions, one base, one whole chromosome
    extra = pd.DataFrame(
        {
            "chrom": ["chr1", "chr1", "chr1", "chr1", "chr2"],
            "start": [1000, 1500, 3000, 7777, 0],
            "end": [3000, 2000, 4000, 7778, 40_000],
        }
    )
    regions = pd.concat([regions, extra], ignore_index=True)
    files = [folder / f"{n}.bw" for n in signals]
    a = kom.io.read_bigwig(files, regions, stat=stat, progress=False)
    assert a.shape == (3, 405)
    assert list(a.obs_names) == ["Ctl_1", "Ctl_2", "Wd_1"]
    want = np.array(
        [
            [expected(signals[s][c][b:e], stat) for c, b, e in regions.itertuples(index=False)]
            for s in signals
        ]
    )
    np.testing.assert_allclose(a.X, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(a.layers["raw"], a.X)
    assert a.var["chrom"].tolist() == regions["chrom"].tolist()
    assert a.var["start"].tolist() == regions["start"].tolist()


def test_mean_sum_coverage_agree_with_pybigwig_exact_stats(tracks) -> None:
    folder, _ = tracks
    regions = random_regions(np.random.default_rng(8), 60)
    a = {
        stat: kom.io.read_bigwig([folder / "Ctl_2.bw"], regions, stat=stat, progress=False)
        for stat in ("mean", "sum", "coverage", "max")
    }
    bw = pyBigWig.open(str(folder / "Ctl_2.bw"))
    for stat, got in a.items():
        ref = [
            bw.stats(c, int(s), int(e), type=stat, exact=True)[0]
            for c, s, e in regions.itertuples(index=False)
        ]
        ref = np.array([np.nan if r is None else r for r in ref])
        covered = np.isfinite(ref)  # pyBigWig gives None (no value) for regions without data
        np.testing.assert_allclose(got.X[0, covered], ref[covered], rtol=1e-6)
    bw.close()


def test_windows_split_and_chunks_give_the_same_numbers(tracks, monkeypatch) -> None:
    folder, signals = tracks
    regions = random_regions(np.random.default_rng(9), 300)
    files = {n: folder / f"{n}.bw" for n in signals}
    ref = kom.io.read_bigwig(files, regions, progress=False)
    for name, value in [
        ("MIN_GAP", 10),
        ("CALL_COST", 0),
        ("MIN_WINDOW", 3000),
        ("MAX_WINDOW", 3000),
    ]:
        monkeypatch.setattr(_bigwig, name, value)  # many small reads
    small = kom.io.read_bigwig(files, regions, chunk_size=7, progress=False)
    np.testing.assert_allclose(small.X, ref.X, rtol=1e-12, equal_nan=True)
    want = [
        np.nanmean(signals["Wd_1"][c][b:e]) for c, b, e in regions.iloc[:5].itertuples(index=False)
    ]
    np.testing.assert_allclose(small.X[2, :5], want, rtol=1e-9)


def test_chromosome_names_reconciled_and_missing_ones_warned(tracks) -> None:
    folder, signals = tracks
    regions = pd.DataFrame(
        {
            "chrom": ["1", "MT", "chr3", "2", "chrUn_1"],
            "start": [100, 0, 0, 39_990, 5],
            "end": [600, 16_300, 100, 40_500, 10],  # the 4th runs past the end of chr2
        },
        index=["a", "b", "c", "d", "e"],
    )
    with pytest.warns(
        KratomOmicsWarning,
        match=r"2 region\(s\) lie on chromosome\(s\) \['chr3', 'chrUn_1'\] that track\(s\) \['Ctl_1'\]",
    ):
        a = kom.io.read_bigwig([folder / "Ctl_1.bw"], regions, progress=False)
    s = signals["Ctl_1"]
    assert a.X[0, 0] == pytest.approx(np.nanmean(s["chr1"][100:600]), rel=1e-9)
    assert a.X[0, 1] == pytest.approx(np.nanmean(s["chrM"]), rel=1e-9)
    assert np.isnan(a.X[0, 2])
    assert np.isnan(a.X[0, 4])
    assert a.X[0, 3] == pytest.approx(np.nanmean(s["chr2"][39_990:]), rel=1e-9, nan_ok=True)
    assert a.var.loc["a", "chrom"] == "1"  # the regions keep their names
    b = kom.io.read_bigwig(
        [folder / "Ctl_1.bw"], regions.iloc[[4]].assign(chrom="scaffold_7"),
        chrom_aliases={"scaffold_7": "chr1"}, stat="coverage", progress=False,
    )  # fmt: skip
    assert b.X[0, 0] == pytest.approx(np.mean(~np.isnan(s["chr1"][5:10])))


def test_region_past_the_chromosome_end_is_nan_with_warning(tracks) -> None:
    folder, _ = tracks
    regions = pd.DataFrame({"chrom": ["chr2", "chr2"], "start": [50_000, 10], "end": [50_100, 20]})
    with pytest.warns(KratomOmicsWarning, match=r"past the end.*chr2 \(length 40000\)': 1"):
        a = kom.io.read_bigwig([folder / "Ctl_1.bw"], regions, stat="sum", progress=False)
    assert np.isnan(a.X[0, 0])
    assert np.isfinite(a.X[0, 1])


def test_sample_sheet_with_relative_paths(tracks, tmp_path: Path) -> None:
    folder, signals = tracks
    sheet = tmp_path / "design" / "samples.tsv"
    (sheet.parent / "tracks").mkdir(parents=True)
    (sheet.parent / "tracks" / "c2.bw").write_bytes((folder / "Ctl_2.bw").read_bytes())
    sheet.write_text(
        "sample\tphase\tfile\tbatch\n"
        f"rat_wd\twithdrawal\t{folder / 'Wd_1.bw'}\tB2\n"
        f"rat_c1\tcontrol\t{folder / 'Ctl_1.bw'}\tB1\n"
        "rat_c2\tcontrol\ttracks/c2.bw\tB1\n"  # relative to the sheet's folder
    )
    regions = random_regions(np.random.default_rng(2), 20)
    a = kom.io.read_bigwig(sheet, regions, progress=False)
    assert list(a.obs_names) == ["rat_wd", "rat_c1", "rat_c2"]
    assert a.obs["phase"].tolist() == ["withdrawal", "control", "control"]
    assert a.obs.loc["rat_c2", "bigwig"] == str(sheet.parent.resolve() / "tracks" / "c2.bw")
    want = [np.nanmean(signals["Ctl_2"][c][b:e]) if np.isfinite(signals["Ctl_2"][c][b:e]).any() else np.nan
            for c, b, e in regions.itertuples(index=False)]  # fmt: skip
    np.testing.assert_allclose(a.X[2], want, rtol=1e-9, equal_nan=True)
    total = sum(np.nansum(v) for v in signals["Wd_1"].values())
    # the header's sum, which pyBigWig gives as a whole number
    assert a.obs.loc["rat_wd", "track_sum"] == pytest.approx(total, abs=1.0)
    assert a.obs.loc["rat_wd", "track_bases"] == sum(
        int(np.isfinite(v).sum()) for v in signals["Wd_1"].values()
    )
    assert a.uns["kratom_omics"]["provenance"]["step_000"]["function"] == (
        "kratom_omics.io.read_bigwig"
    )
    with pytest.raises(InputFormatError, match="pass the sheet once"):
        kom.io.read_bigwig(sheet, regions, sheet)
    sheet.write_text("sample\tphase\nrat_wd\twithdrawal\n")
    with pytest.raises(InputFormatError, match="no column naming the bigWig files; add a 'path'"):
        kom.io.read_bigwig(sheet, regions)


def test_file_stems_joined_with_a_sheet(tracks) -> None:
    folder, _ = tracks
    regions = random_regions(np.random.default_rng(4), 10)
    sheet = pd.DataFrame(
        {"sample": ["Wd_1", "Ctl_1", "Ctl_2"], "phase": ["withdrawal", "control", "control"]}
    )
    a = kom.io.read_bigwig(folder, regions, sheet, progress=False)  # a folder of .bw files
    assert list(a.obs_names) == ["Wd_1", "Ctl_1", "Ctl_2"]
    b = kom.io.read_bigwig(
        [folder / "Ctl_1.bw", folder / "Wd_1.bw", folder / "Ctl_2.bw"], regions, progress=False
    )
    np.testing.assert_array_equal(a.X[0], b.X[1])
    with pytest.raises(
        SampleMismatchError, match=r"in the data but not the sample sheet: \['Ctl_2'\]"
    ):
        kom.io.read_bigwig(folder, regions, sheet.iloc[:2])
    with pytest.raises(
        InputFormatError, match=r"give the sample name\(s\) \['Ctl_1'\] more than once"
    ):
        kom.io.read_bigwig([folder / "Ctl_1.bw", folder / "Ctl_1.bw"], regions)


def test_progress_log_lines_off_a_terminal(tracks, caplog) -> None:
    folder, _ = tracks
    regions = random_regions(np.random.default_rng(4), 50)
    with caplog.at_level(logging.INFO, logger="kratom_omics"):
        kom.io.read_bigwig(folder, regions, chunk_size=10)
    lines = [r.getMessage() for r in caplog.records if "regions x tracks" in r.getMessage()]
    assert lines[-1] == "read_bigwig: 150 of 150 regions x tracks (100%)"
    assert len(lines) >= 5


def test_promoters_from_gtf_with_ensembl_names(tracks, tmp_path: Path) -> None:
    folder, signals = tracks
    gtf = tmp_path / "genes.gtf"
    gtf.write_text(
        '1\tensembl\tgene\t5001\t9000\t.\t+\t.\tgene_id "G1"; gene_name "Rab35";\n'
        '1\tensembl\tgene\t20001\t30000\t.\t-\t.\tgene_id "G2"; gene_name "Hdac2";\n'
        '2\tensembl\tgene\t101\t900\t.\t-\t.\tgene_id "G3"; gene_name "Gapdh";\n'
    )
    a = kom.io.read_bigwig(folder, gtf, upstream=1500, downstream=500, progress=False)
    assert list(a.var_names) == ["Rab35_promoter", "Hdac2_promoter", "Gapdh_promoter"]
    s = signals["Ctl_1"]
    # + strand TSS 5000: [3500, 5500); - strand TSS 29999: [29500, 31500); Gapdh TSS 899
    want = [np.nanmean(s["chr1"][3500:5500]), np.nanmean(s["chr1"][29500:31500]),
            np.nanmean(s["chr2"][400:2400])]  # fmt: skip
    np.testing.assert_allclose(a.X[0], want, rtol=1e-9)
    assert a.var["gene"].tolist() == ["Rab35", "Hdac2", "Gapdh"]
    body = kom.io.read_bigwig(folder, gtf, feature="gene_body", stat="max", progress=False)
    assert body.X[0, 0] == pytest.approx(np.nanmax(s["chr1"][5000:9000]))


def test_peaks_annotated_with_nearest_gene(tracks, tmp_path: Path) -> None:
    folder, signals = tracks
    gtf = tmp_path / "genes.gtf"
    gtf.write_text('1\tensembl\tgene\t5001\t9000\t.\t+\t.\tgene_id "G1"; gene_name "Rab35";\n')
    peaks = tmp_path / "Wd_1_peaks.narrowPeak"
    peaks.write_text(
        "chr1\t4800\t5300\tpeak_1\t120\t.\t5.1\t12.3\t9.8\t210\n"
        "chr1\t60000\t60400\tpeak_2\t80\t.\t3.0\t8.1\t6.0\t150\n"
    )
    a = kom.io.read_bigwig(folder, peaks, annotation=gtf, stat="sum", progress=False)
    assert list(a.var_names) == ["peak_1", "peak_2"]
    assert a.var["gene"].tolist() == ["Rab35", ""]
    assert a.var.loc["peak_1", "signal_value"] == 5.1
    a.write_h5ad(tmp_path / "peaks.h5ad")  # every annotation survives h5ad
    back = ad.read_h5ad(tmp_path / "peaks.h5ad")
    assert back.var["gene"].tolist() == ["Rab35", ""]
    assert back.obs["track_sum"].tolist() == a.obs["track_sum"].tolist()
    assert a.X[1, 1] == pytest.approx(np.nansum(signals["Ctl_2"]["chr1"][60000:60400]))


def test_not_a_bigwig(tmp_path: Path, tracks) -> None:
    folder, _ = tracks
    bedgraph = tmp_path / "Ctl_1.bw"
    bedgraph.write_text("chr1\t0\t100\t2.5\n")
    regions = random_regions(np.random.default_rng(1), 3)
    with pytest.raises(
        InputFormatError, match=r"Ctl_1\.bw' is not a bigWig file .*bedGraphToBigWig"
    ):
        kom.io.read_bigwig([bedgraph], regions)
    truncated = tmp_path / "Wd_1.bw"
    truncated.write_bytes((folder / "Wd_1.bw").read_bytes()[:60])
    with pytest.raises(InputFormatError, match=r"Wd_1\.bw' cannot be opened .*truncated"):
        kom.io.read_bigwig([truncated], regions)
    bigbed = tmp_path / "peaks.bb"
    bigbed.write_bytes(b"\xeb\xf2\x89\x87" + bytes(60))
    with pytest.raises(InputFormatError, match="is a bigBed file, not bigWig"):
        kom.io.read_bigwig([bigbed], regions)
    with pytest.raises(InputFormatError, match="does not exist; fix the path"):
        kom.io.read_bigwig([tmp_path / "absent.bw"], regions)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chr1\t500\t100\tr1", "start 500 and end 100"),
        ("chr1\t-5\t100\tr1", "start is '-5'; expected a whole number >= 0"),
        ("chr1\tabc\t100\tr1", "start is 'abc'; expected a whole number >= 0"),
    ],
)
def test_bad_region_coordinates(tracks, tmp_path: Path, line, message) -> None:
    folder, _ = tracks
    bed = tmp_path / "regions.bed"
    bed.write_text("chr1\t0\t10\tok\n" + line + "\n")
    with pytest.raises(InputFormatError, match=rf"regions\.bed: line 2.*{message}"):
        kom.io.read_bigwig(folder, bed)


def test_no_overlap_between_tracks_and_regions(tracks, tmp_path: Path) -> None:
    folder, _ = tracks
    other_build = pd.DataFrame({"chrom": ["NC_051336.1"], "start": [0], "end": [100]})
    with pytest.raises(
        InputFormatError,
        match=r"none of the regions' chromosomes \(\['NC_051336\.1'\]\) is in the tracks.*chrom_aliases",
    ):
        kom.io.read_bigwig(folder, other_build)
    empty = tmp_path / "empty.bw"
    write_bigwig(
        empty, {"chr1": np.full(1000, np.nan), "chr2": np.r_[np.full(500, np.nan), np.ones(500)]}
    )
    regions = pd.DataFrame({"chrom": ["chr1", "chr2"], "start": [0, 0], "end": [1000, 400]})
    with pytest.raises(
        InputFormatError, match=r"none of the 2 regions overlaps any data.*same genome build"
    ):
        kom.io.read_bigwig([empty], regions)


def test_bigwig_to_zarr_equals_in_memory(tracks, tmp_path: Path) -> None:
    pytest.importorskip("zarr")
    folder, _ = tracks
    regions = kom.io.genome_bins({"chr1": 120_000, "chr2": 40_000}, 1000)
    sheet = pd.DataFrame(
        {"sample": ["Wd_1", "Ctl_2", "Ctl_1"], "phase": ["withdrawal", "control", "control"]}
    )
    ref = kom.io.read_bigwig(folder, regions, sheet, progress=False)
    out = kom.io.bigwig_to_zarr(
        folder, regions, tmp_path / "bins.zarr", samples=sheet, chunk_size=64, progress=False
    )
    lazy = kom.io.read_zarr_lazy(out)
    assert lazy.X.chunks[1][:2] == (64, 64)
    assert list(lazy.obs_names) == ["Wd_1", "Ctl_2", "Ctl_1"]
    np.testing.assert_array_equal(lazy.X.compute(), ref.X)
    assert lazy.obs["phase"].astype(str).tolist() == ["withdrawal", "control", "control"]
    assert list(lazy.var_names) == list(ref.var_names)
    with pytest.raises(InputFormatError, match="already exists; choose another out path"):
        kom.io.bigwig_to_zarr(folder, regions, out)
    # a failing run leaves nothing behind
    bad = tmp_path / "bad.zarr"
    with pytest.raises(InputFormatError, match="is in the tracks"):
        kom.io.bigwig_to_zarr(folder, regions.assign(chrom="chrZ"), bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bins.zarr"]


def test_the_mark_given_or_from_the_sheet_is_recorded(tracks, tmp_path: Path) -> None:
    folder, _ = tracks
    regions = random_regions(np.random.default_rng(5), 8)
    a = kom.io.read_bigwig(folder, regions, mark=" H3K9ac ", progress=False)
    assert a.uns["tracks"] == {
        "mark": "H3K9ac",
        "stat": "mean",
        "regions": "regions",
        "region_type": "region",
        "upstream": "",
        "downstream": "",
        "max_distance": "",
    }
    a.write_h5ad(tmp_path / "a.h5ad")
    assert ad.read_h5ad(tmp_path / "a.h5ad").uns["tracks"]["mark"] == "H3K9ac"
    bins = kom.io.read_bigwig(folder, kom.io.genome_bins({"chr2": 4000}, 1000), progress=False)
    assert (bins.uns["tracks"]["mark"], bins.uns["tracks"]["region_type"]) == ("", "bin")
    sheet = pd.DataFrame(
        {
            "sample": ["Ctl_1", "Ctl_2", "Wd_1"],
            "phase": ["control", "control", "withdrawal"],
            "mark": ["H3K27ac", "H3K27ac", "H3K27ac"],
        }
    )
    b = kom.io.read_bigwig(folder, regions, sheet, progress=False)
    assert b.uns["tracks"]["mark"] == "H3K27ac"
    with pytest.raises(
        InputFormatError, match=r"mark='H3K9ac' but the 'mark' column says 'H3K27ac'"
    ):
        kom.io.read_bigwig(folder, regions, sheet, mark="H3K9ac")
    sheet.loc[2, "mark"] = "H3K4me3"
    with pytest.raises(
        InputFormatError, match=r"names several marks \['H3K27ac', 'H3K4me3'\]; one track dataset"
    ):
        kom.io.read_bigwig(folder, regions, sheet)
    for bad in ("", "  ", 3):
        with pytest.raises(
            InputFormatError, match=r"expected the name of the mark the tracks hold"
        ):
            kom.io.read_bigwig(folder, regions, mark=bad)  # type: ignore[arg-type]


def test_region_types_of_an_annotation_and_of_peaks(tracks, tmp_path: Path) -> None:
    folder, _ = tracks
    gtf = tmp_path / "genes.gtf"
    gtf.write_text('1\tensembl\tgene\t5001\t9000\t.\t+\t.\tgene_id "G1"; gene_name "Rab35";\n')
    peaks = tmp_path / "x_peaks.narrowPeak"
    peaks.write_text("chr1\t4800\t5300\tpeak_1\t120\t.\t5.1\t12.3\t9.8\t210\n")
    prom = kom.io.read_bigwig(folder, gtf, upstream=300, downstream=200, progress=False)
    assert prom.uns["tracks"]["region_type"] == "promoter"
    assert (prom.uns["tracks"]["upstream"], prom.uns["tracks"]["downstream"]) == (300, 200)
    body = kom.io.read_bigwig(folder, gtf, feature="gene_body", progress=False)
    assert body.uns["tracks"]["region_type"] == "gene_body"
    near = kom.io.read_bigwig(folder, peaks, annotation=gtf, max_distance=800, progress=False)
    assert near.uns["tracks"]["region_type"] == "peak"
    assert near.uns["tracks"]["max_distance"] == 800
    assert near.uns["tracks"]["regions"] == str(peaks)


def test_track_files_names_the_files_without_reading_them(tracks, tmp_path: Path) -> None:
    folder, _ = tracks
    assert kom.io.track_files(folder) == {n: folder / f"{n}.bw" for n in ("Ctl_1", "Ctl_2", "Wd_1")}
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tphase\tpath\nr1\tcontrol\ttracks/r1.bw\n")  # not there (yet)
    assert kom.io.track_files(sheet) == {"r1": tmp_path.resolve() / "tracks" / "r1.bw"}


def test_bigwig_to_zarr_records_the_mark(tracks, tmp_path: Path) -> None:
    pytest.importorskip("zarr")
    folder, _ = tracks
    regions = kom.io.genome_bins({"chr2": 40_000}, 5000)
    out = kom.io.bigwig_to_zarr(folder, regions, tmp_path / "b.zarr", mark="H3K9ac", progress=False)
    lazy = kom.io.read_zarr_lazy(out)
    assert lazy.uns["tracks"]["mark"] == "H3K9ac"
    assert lazy.uns["tracks"]["region_type"] == "bin"
