"""Time the loaders against a bare ``pandas.read_csv`` of the same file.

Simulates a proteomics study (default 50,000 protein groups x 100 samples), writes it with the
``kom.datasets`` writers as a MaxQuant ``proteinGroups.txt`` and a DIA-NN ``report.pg_matrix.tsv``,
and reports the best of ``--repeats`` runs of

- ``pandas.read_csv(path, sep="\\t")``: parsing every column, nothing else (the peer);
- the loader: the shared reading path (one pass over the bytes for encoding, NUL bytes and row
  shapes), column selection, parsing to float64, annotation, flags and AnnData with provenance.

The same two files gzip-compressed and re-saved as Windows-1252 with CRLF line ends (the encoding
fallback) are timed too, against ``pandas.read_csv`` of the same copy. A DIA-NN
``report.pr_matrix.tsv`` (default 10,000 protein groups, about 28,000 precursors, same samples) is
timed as well: its loader also combines the precursors into protein groups with MaxLFQ.

Usage::

    python benchmarks/bench_loaders.py [--proteins 50000] [--samples 100] [--repeats 3]
                                       [--pr-proteins 10000]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time of each function over ``repeats`` rounds, the functions interleaved in each round
    (so a burst of load from other processes hits them alike)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--proteins", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pr-proteins", type=int, default=10_000)
    args = parser.parse_args()

    import kratom_omics as kom

    per_phase = -(-args.samples // 3)
    t0 = time.perf_counter()
    sim = kom.datasets.simulate("protein", seed=0, n_features=args.proteins, n_per_phase=per_phase)
    sim = sim[: args.samples].copy()
    print(
        f"simulated {sim.n_vars} proteins x {sim.n_obs} samples in {time.perf_counter() - t0:.0f} s"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "MaxQuant proteinGroups.txt": (Path(tmp) / "proteinGroups.txt", kom.io.read_maxquant),
            "DIA-NN report.pg_matrix.tsv": (Path(tmp) / "report.pg_matrix.tsv", kom.io.read_diann),
        }
        kom.datasets.write_maxquant(sim, files["MaxQuant proteinGroups.txt"][0])
        kom.datasets.write_diann(sim, files["DIA-NN report.pg_matrix.tsv"][0])
        pr = Path(tmp) / "report.pr_matrix.tsv"
        kom.datasets.write_diann_precursors(sim[:, : args.pr_proteins].copy(), pr, kind="pr_matrix")
        for label, (path, reader) in files.items():
            gz = path.with_name(path.name + ".gz")
            gz.write_bytes(gzip.compress(path.read_bytes(), compresslevel=6))
            cp = kom.datasets.resave(
                path, path.with_name("cp1252_" + path.name), encoding="cp1252", newline="\r\n"
            )
            n_cols = len(path.open().readline().split("\t"))
            size = path.stat().st_size / 1e6
            print(f"{label}: {n_cols} columns, {size:.0f} MB")
            for variant, copy, encoding in (
                ("", path, "utf-8"),
                (" (.gz)", gz, "utf-8"),
                (" (cp1252, CRLF)", cp, "cp1252"),
            ):
                reader(copy)  # warm-up: imports, page cache
                best = best_of(
                    {
                        "pandas": lambda c=copy, e=encoding: pd.read_csv(
                            c, sep="\t", low_memory=False, encoding=e
                        ),
                        "loader": lambda c=copy, r=reader: r(c),
                    },
                    args.repeats,
                )
                rows.append((label + variant, reader.__name__, best["pandas"], best["loader"]))
        n_pr = sum(1 for _ in pr.open()) - 1
        print(f"DIA-NN report.pr_matrix.tsv: {n_pr} precursors, {pr.stat().st_size / 1e6:.0f} MB")
        kom.io.read_diann(pr)
        best = best_of(
            {
                "pandas": lambda: pd.read_csv(pr, sep="\t", low_memory=False),
                "loader": lambda: kom.io.read_diann(pr),
            },
            args.repeats,
        )
        label = f"DIA-NN report.pr_matrix.tsv ({args.pr_proteins} groups, MaxLFQ)"
        rows.append((label, "read_diann", best["pandas"], best["loader"]))
    print("\n| file | loader | pandas.read_csv (s) | loader (s) | ratio |")
    print("|---|---|---|---|---|")
    for label, name, t_pandas, t_kom in rows:
        print(f"| {label} | {name} | {t_pandas:.2f} | {t_kom:.2f} | {t_kom / t_pandas:.2f} |")


if __name__ == "__main__":
    main()
