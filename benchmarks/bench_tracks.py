"""Time kom.io.read_bigwig on 24 bigWig files x 50,000 promoters against pyBigWig and deepTools.

Writes a simulated study with ``kom.datasets.simulate_tracks`` + ``write_tracks`` (default 50,000
genes on a ~2 Gb rat-like genome, 24 samples; 50-bp bins over each promoter and its 3-kb flanks,
no data elsewhere), then times, on the same files and the same promoters (TSS +- 1 kb):

- ``kom.io.read_bigwig(sheet, gtf, stat="mean")``: GTF parsing, promoters, reading, AnnData;
- a plain Python loop of ``pyBigWig`` ``bw.stats(chrom, start, end, type="mean", exact=True)``
  over every file and promoter (the promoters given as ready arrays: no GTF parsing timed);
- deepTools ``multiBigwigSummary BED-file --BED promoters.bed -p 1`` when a ``multiBigwigSummary``
  executable is given with ``--deeptools`` (install deepTools in its own venv: it pins old
  numpy/matplotlib versions).

The numbers of the three are compared (they must agree) before the times are reported.

Usage::

    python benchmarks/bench_tracks.py [--genes 50000] [--samples 24] [--repeats 1]
        [--deeptools /tmp/dtvenv/bin/multiBigwigSummary] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import kratom_omics as kom


def pybigwig_loop(files: list[Path], chrom: list[str], start: np.ndarray, end: np.ndarray):
    import pyBigWig

    out = np.full((len(files), len(chrom)), np.nan)
    for i, f in enumerate(files):
        bw = pyBigWig.open(str(f))
        for j, (c, s, e) in enumerate(zip(chrom, start.tolist(), end.tolist(), strict=True)):
            v = bw.stats(c, s, e, type="mean", exact=True)[0]
            if v is not None:
                out[i, j] = v
        bw.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=50_000)
    ap.add_argument("--samples", type=int, default=24, help="a multiple of 3 (phases)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--deeptools", default=None, help="path of multiBigwigSummary")
    ap.add_argument("--workdir", default=None, help="keep the files here (default: a temp dir)")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_tracks_"))
    t0 = time.perf_counter()
    sim = kom.datasets.simulate_tracks(seed=0, n_features=args.genes, n_per_phase=args.samples // 3)
    paths = kom.datasets.write_tracks(sim, work)
    size = sum(p.stat().st_size for p in paths["tracks"]) / 1e6
    print(
        f"wrote {len(paths['tracks'])} bigWig files ({size:.0f} MB) x {args.genes} promoters "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    var = sim.var
    chrom = [f"chr{c}" for c in var["chrom"]]
    start = var["start"].to_numpy()
    end = var["end"].to_numpy()

    times: dict[str, float] = {}
    results: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        t = time.perf_counter()
        a = kom.io.read_bigwig(paths["samples"], paths["annotation"], progress=False)
        times["kom.io.read_bigwig"] = min(
            times.get("kom.io.read_bigwig", np.inf), time.perf_counter() - t
        )
    results["kom.io.read_bigwig"] = a[:, list(var.index)].X
    t = time.perf_counter()
    results["pyBigWig stats loop"] = pybigwig_loop(paths["tracks"], chrom, start, end)
    times["pyBigWig stats loop"] = time.perf_counter() - t
    if args.deeptools:
        bed = work / "promoters.bed"
        with open(bed, "w") as fh:
            for c, s, e, name in zip(chrom, start, end, var.index, strict=True):
                fh.write(f"{c}\t{s}\t{e}\t{name}\n")
        npz = work / "multiBigwigSummary.npz"
        raw = work / "multiBigwigSummary.tab"
        cmd = [
            args.deeptools, "BED-file", "--BED", str(bed), "-o", str(npz), "-p", "1",
            "--outRawCounts", str(raw), "-b", *[str(p) for p in paths["tracks"]],
        ]  # fmt: skip
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times["deepTools multiBigwigSummary"] = time.perf_counter() - t
        import pandas as pd

        tab = pd.read_csv(raw, sep="\t")
        tab.columns = ["chrom", "start", "end", *range(tab.shape[1] - 3)]
        tab.index = pd.MultiIndex.from_arrays([tab["chrom"], tab["start"], tab["end"]])
        results["deepTools multiBigwigSummary"] = (
            tab.loc[list(zip(chrom, start, end, strict=True))].iloc[:, 3:].to_numpy(float).T
        )
    ref = results["pyBigWig stats loop"]
    for name, m in results.items():
        both = np.isfinite(m) & np.isfinite(ref)
        rel = np.abs(m[both] / ref[both] - 1)
        print(
            f"{name}: {both.mean():.1%} of values defined in both, relative difference to the "
            f"pyBigWig loop: median {np.median(rel):.1e}, max {rel.max():.1e}"
        )
    base = times["kom.io.read_bigwig"]
    print(f"{'reader':<32}{'seconds':>10}{'ratio to read_bigwig':>24}")
    for name, sec in times.items():
        print(f"{name:<32}{sec:>10.1f}{sec / base:>24.2f}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
