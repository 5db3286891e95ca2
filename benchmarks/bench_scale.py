"""Out-of-core differential abundance: a features x samples matrix on disk, fitted on a dask cluster.

``generate`` writes an AnnData zarr store chunk by chunk (never the whole matrix in memory):
``--features`` genome-wide bins x ``--samples`` samples (half control, half withdrawal), log2
values with 1% of the features shifted by 1 in withdrawal and ~2% missing values.

``run`` opens the store with ``kom.io.read_zarr_lazy`` (dask ``X``, Arrow feature names),
starts a ``LocalCluster`` of ``--workers`` single-threaded worker processes and times the whole
``kom.tl.differential(adata, "phase")`` call in one of two modes:

- ``parquet``: ``out=DIR``, the result tables written block by block to ``DIR/table.parquet`` and
  ``DIR/f_table.parquet``, the per-block fits spilled to a temporary directory inside ``DIR``: the
  driver holds a few numbers per feature, never a table;
- ``memory``: the tables built in ``adata.uns`` (one row per feature and contrast, in memory).

Peak resident memory is measured with ``resource.getrusage`` in the driver and in every worker
(``client.run``). Each configuration runs in a fresh process (``all``), so peaks do not carry over.

Usage::

    python benchmarks/bench_scale.py generate --features 10000000 --samples 24 --out /tmp/scale.zarr
    python benchmarks/bench_scale.py all --store /tmp/scale.zarr --workers 1 2 --out /tmp/scale-res
    python benchmarks/bench_scale.py run --store /tmp/scale.zarr --workers 2 --mode parquet \
        --out /tmp/scale-res
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def generate(out: Path, n_features: int, n_samples: int, chunk: int, seed: int = 11) -> None:
    import anndata as ad
    import zarr
    from anndata.io import write_elem

    t0 = time.perf_counter()
    root = zarr.open_group(str(out), mode="w", zarr_format=int(ad.settings.zarr_write_format))
    x = root.create_array(
        "X", shape=(n_samples, n_features), chunks=(n_samples, chunk), dtype="float64"
    )
    half = n_samples // 2
    for start in range(0, n_features, chunk):
        stop = min(n_features, start + chunk)
        rng = np.random.default_rng([seed, start])
        g = stop - start
        mean = rng.normal(8, 1.5, g)
        sd = np.sqrt(0.04 * 6 / rng.chisquare(6, g))
        block = mean[None, :] + rng.standard_normal((n_samples, g)) * sd[None, :]
        planted = rng.random(g) < 0.01
        block[half:, planted] += 1.0
        block[rng.random(block.shape) < 0.02] = np.nan
        x[:, start:stop] = block
    x.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    phase = ["control"] * half + ["withdrawal"] * (n_samples - half)
    obs = pd.DataFrame(
        {"phase": pd.Categorical(phase, categories=["control", "withdrawal"], ordered=True)},
        index=[f"rat{i:02d}" for i in range(n_samples)],
    )
    var = pd.DataFrame(index=pd.RangeIndex(n_features).astype(str))
    write_elem(root, "obs", obs)
    write_elem(root, "var", var)
    for key in ("uns", "layers", "obsm", "varm", "obsp", "varp"):
        write_elem(root, key, {})
    root.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(
        json.dumps(
            {
                "generated": str(out),
                "features": n_features,
                "samples": n_samples,
                "data_gb": n_features * n_samples * 8 / 1e9,
                "on_disk_gb": round(size / 1e9, 2),
                "seconds": round(time.perf_counter() - t0, 1),
                "peak_rss_mb": round(_peak_mb()),
            }
        )
    )


def run(
    store: Path, workers: int, mode: str, chunk_size: int | None, out: Path | None
) -> dict[str, object]:
    import distributed

    import kratom_omics as kom

    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            memory_limit="4GiB",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        t0 = time.perf_counter()
        adata = kom.io.read_zarr_lazy(store)
        t_open = time.perf_counter() - t0
        open_peak = _peak_mb()
        n, g = adata.shape
        t0 = time.perf_counter()
        if mode == "parquet":
            if out is None:
                raise SystemExit("--out DIR is needed with --mode parquet")
            kom.tl.differential(adata, "phase", chunk_size=chunk_size, out=out)
            padj = pd.read_parquet(out / "table.parquet", columns=["padj"])["padj"]
        else:
            kom.tl.differential(adata, "phase", chunk_size=chunk_size)
            padj = adata.uns["differential"]["table"]["padj"]
        seconds = time.perf_counter() - t0
        n_sig = int((padj < 0.05).sum())
        worker_peaks = client.run(_peak_mb)
    return {
        "mode": mode,
        "workers": workers,
        "features": g,
        "samples": n,
        "data_gb": round(g * n * 8 / 1e9, 2),
        "open_s": round(t_open, 1),
        "seconds": round(seconds, 1),
        "open_peak_mb": round(open_peak),
        "driver_peak_mb": round(_peak_mb()),
        "worker_peak_mb": round(max(worker_peaks.values())),
        "n_significant": n_sig,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--features", type=int, default=10_000_000)
    g.add_argument("--samples", type=int, default=24)
    g.add_argument("--chunk", type=int, default=250_000)
    g.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("--store", type=Path, required=True)
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--mode", choices=("parquet", "memory"), default="parquet")
    r.add_argument("--chunk-size", type=int, default=None)
    r.add_argument("--out", type=Path, default=None)
    a = sub.add_parser("all")
    a.add_argument("--store", type=Path, required=True)
    a.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a.add_argument("--modes", nargs="+", default=["parquet", "memory"])
    a.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "generate":
        generate(args.out, args.features, args.samples, args.chunk)
    elif args.cmd == "run":
        res = run(args.store, args.workers, args.mode, args.chunk_size, args.out)
        print(json.dumps(res), flush=True)
    else:
        rows = []
        for mode in args.modes:
            for w in args.workers:
                cmd = [sys.executable, __file__, "run", "--store", str(args.store)]
                cmd += ["--workers", str(w), "--mode", mode]
                if args.out is not None:
                    cmd += ["--out", str(args.out)]
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), flush=True)
        cols = list(rows[0])
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for row in rows:
            print("| " + " | ".join(str(row[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
