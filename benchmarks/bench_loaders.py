"""Time kom.io.read_maxquant on a large proteinGroups.txt against a plain pandas.read_csv.

Writes a MaxQuant-style table (default 10,000 protein groups x 200 experiments, with the usual
per-experiment families: Peptides, Intensity, iBAQ, LFQ intensity, MS/MS count, i.e. ~1,000 sample
columns), then reports the best of ``--repeats`` runs of

- ``pandas.read_csv(path, sep="\\t")`` (the peer: parsing only), and
- ``kom.io.read_maxquant(path)`` (column selection, parsing, flags, gene fallback, AnnData).

Usage::

    python benchmarks/bench_loaders.py [--proteins 10000] [--samples 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def write_proteingroups(path: Path, n_proteins: int, n_samples: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    samples = [f"S{i:03d}" for i in range(1, n_samples + 1)]
    ids = np.array([f"P{i:05d}" for i in range(n_proteins)], dtype=object)
    ids[:50] = [f"CON__P{i:05d}" for i in range(50)]
    ids[50:150] = [f"REV__P{i:05d}" for i in range(100)]
    genes = np.array([f"Gene{i}" for i in range(n_proteins)], dtype=object)
    genes[rng.random(n_proteins) < 0.05] = ""
    cols: dict[str, object] = {
        "Protein IDs": [f"{p};{p}-2" for p in ids],
        "Majority protein IDs": ids,
        "Protein names": [f"Protein {i}" for i in range(n_proteins)],
        "Gene names": genes,
        "Peptides": rng.integers(1, 40, n_proteins),
        "Razor + unique peptides": rng.integers(1, 40, n_proteins),
        "Unique peptides": rng.integers(1, 40, n_proteins),
    }
    base = rng.lognormal(20, 2, n_proteins)
    intensity = np.round(base[:, None] * rng.lognormal(0, 0.3, (n_proteins, n_samples)))
    intensity[rng.random(intensity.shape) < 0.2] = 0
    lfq = np.round(intensity * 0.9)
    cols.update({f"Peptides {s}": rng.integers(0, 40, n_proteins) for s in samples})
    cols["Intensity"] = intensity.sum(axis=1)
    cols.update({f"Intensity {s}": intensity[:, j] for j, s in enumerate(samples)})
    cols["iBAQ"] = np.round(intensity.sum(axis=1) / 10)
    cols["iBAQ peptides"] = rng.integers(1, 40, n_proteins)
    cols.update({f"iBAQ {s}": np.round(intensity[:, j] / 10) for j, s in enumerate(samples)})
    cols.update({f"LFQ intensity {s}": lfq[:, j] for j, s in enumerate(samples)})
    cols.update({f"MS/MS count {s}": rng.integers(0, 50, n_proteins) for s in samples})
    cols["Only identified by site"] = np.where(rng.random(n_proteins) < 0.01, "+", "")
    cols["Reverse"] = np.where(np.char.startswith(ids.astype(str), "REV__"), "+", "")
    cols["Potential contaminant"] = np.where(np.char.startswith(ids.astype(str), "CON__"), "+", "")
    cols["id"] = np.arange(n_proteins)
    pd.DataFrame(cols).to_csv(path, sep="\t", index=False)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import kratom_omics as kom

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "proteinGroups.txt"
        t0 = time.perf_counter()
        write_proteingroups(path, args.proteins, args.samples)
        size_mb = path.stat().st_size / 1e6
        n_cols = len(path.open().readline().split("\t"))
        print(
            f"wrote {args.proteins} x {args.samples} proteinGroups.txt: {n_cols} columns, "
            f"{size_mb:.0f} MB in {time.perf_counter() - t0:.1f} s"
        )
        kom.io.read_maxquant(path)  # warm-up (imports, page cache)
        t_pandas = best_of(lambda: pd.read_csv(path, sep="\t", low_memory=False), args.repeats)
        t_kom = best_of(lambda: kom.io.read_maxquant(path), args.repeats)
        adata = kom.io.read_maxquant(path)
        print(f"result: {adata.n_obs} samples x {adata.n_vars} protein groups")
        print(f"| reader | best of {args.repeats} (s) | ratio to pandas |")
        print("|---|---|---|")
        print(f"| pandas.read_csv (all columns) | {t_pandas:.2f} | 1.00 |")
        print(f"| kom.io.read_maxquant | {t_kom:.2f} | {t_kom / t_pandas:.2f} |")


if __name__ == "__main__":
    main()
