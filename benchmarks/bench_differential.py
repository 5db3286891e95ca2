"""Time ``kom.tl.differential`` + ``kom.get.differential`` beside R limma on the same data.

    python benchmarks/bench_differential.py                       # three cases, R's system limma
    python benchmarks/bench_differential.py --r-lib ~/.local/share/limma-3.62
    python benchmarks/bench_differential.py --cases 1000000x24 --skip-r

For each case a log2-intensity matrix with a mean-variance trend is generated (seeded), written once
as raw float64 for R, and analysed in the same run by

- R limma: ``lmFit`` + ``contrasts.fit`` + ``eBayes`` + ``topTable(coef = j, number = Inf,
  sort.by = "none", confint = TRUE)`` for every contrast (the same content as the long table:
  every feature and contrast, with confidence intervals), timed by ``system.time`` inside R
  (reading the data is not timed); the fit and the tables are also reported apart;
- kratom-omics: ``kom.tl.differential(adata, "phase", contrasts)`` on an AnnData whose ``X``
  (samples x features in C order, as the loaders make it: the memory layout of R's matrix) holds
  the same numbers, then ``kom.get.differential(adata)`` (the long table as a new DataFrame).

Both sides report the median of ``--repeats`` runs, wall clock and CPU time (user + system; less
sensitive to other jobs on a shared machine). kratom-omics matches the R version it runs beside:
``legacy=True`` (moment-matching prior) for limma < 3.62, the default (maximum likelihood with
unequal residual df) otherwise; its p-values are checked against R's. Then, for kratom-omics alone:

- a per-stage profile of one run (``cProfile``, cumulative CPU seconds of the engine's stages);
- peak memory of one ``kom.tl.differential`` call, measured with ``tracemalloc`` (numpy reports its
  buffers to it, and the tables' memory mappings are reported to it while they live; the input
  matrix, allocated before, is not counted), and the size of the results it leaves in
  ``adata.uns`` (long table and F table), both relative to the input matrix; and the peak of the
  engine's fit alone (``lm_fit`` + ``contrasts_fit`` + ``ebayes``: limma's arrays, no tables).

Design: three phases (control/use/withdrawal) in equal numbers; contrasts withdrawal - control,
use - control and withdrawal - use. Prints Markdown tables (seconds and ratios kratom-omics / R).
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import gc
import mmap
import pstats
import subprocess
import sys
import tempfile
import time
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

import numpy as np

CASES = {
    "20000x120": (20000, 120, 0.0),
    "20000x120-na10": (20000, 120, 0.10),
    "1000000x24": (1_000_000, 24, 0.0),
}
CONTRASTS = ["withdrawal - control", "use - control", "withdrawal - use"]

R_CODE = r"""
args <- commandArgs(trailingOnly = TRUE)
lib <- args[4]
if (nzchar(lib)) library(limma, lib.loc = lib) else library(limma)
g <- as.integer(args[2]); n <- as.integer(args[3]); repeats <- as.integer(args[5])
con <- file(args[1], "rb")
y <- matrix(readBin(con, "double", n = g * n), nrow = g, ncol = n)
close(con)
phase <- factor(rep(c("control", "use", "withdrawal"), each = n / 3))
design <- model.matrix(~ 0 + phase); colnames(design) <- levels(phase)
cm <- makeContrasts(withdrawal - control, use - control, withdrawal - use, levels = design)
cpu <- function(tm) tm[["user.self"]] + tm[["sys.self"]]
res <- matrix(NA_real_, repeats, 4)
for (r in seq_len(repeats)) {
  t1 <- system.time({
    fit <- lmFit(y, design)
    fit2 <- eBayes(contrasts.fit(fit, cm))
  })
  t2 <- system.time({
    tabs <- lapply(seq_len(ncol(cm)), function(j)
      topTable(fit2, coef = j, number = Inf, sort.by = "none", confint = TRUE))
  })
  res[r, ] <- c(t1[["elapsed"]], cpu(t1), t2[["elapsed"]], cpu(t2))
  rm(tabs)
}
out <- file(args[6], "wb")
writeBin(as.vector(fit2$p.value), out)
close(out)
m <- apply(res, 2, median)
tot <- median(res[, 1] + res[, 3]); totcpu <- median(res[, 2] + res[, 4])
cat(sprintf("RESULT %s %.4f %.4f %.4f %.4f %.4f %.4f %.8g\n",
            as.character(packageVersion("limma")), tot, totcpu, m[1], m[2], m[3], m[4],
            fit2$df.prior[1]))
"""

# stages of the per-stage profile: label -> functions (source file suffix, name) whose cumulative
# times add up to the stage
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "fit": (("tl/_differential.py", "_fit_in_memory"),),
    "prior": (("_limma/_prior.py", "squeeze_var"),),
    "FDR": (("tl/_multitest.py", "adjust_pvalues"),),
    "moderate": (("_limma/_engine.py", "moderate"),),
    "tables": (
        ("_limma/_engine.py", "long_table"),
        ("_limma/_engine.py", "f_table"),
        ("_limma/_engine.py", "frame"),
        ("_limma/_engine.py", "__init__"),  # the sinks' memory (and the trivial ChunkStore's)
    ),
    "get": (("get/_differential.py", "differential"),),
}
STAGE_NOTES = {
    "fit": "lmFit + contrasts.fit + detection counts",
    "eBayes": "moderated t and p, F, B prior (eBayes without the prior)",
    "prior": "variance prior (squeezeVar)",
    "FDR": "BH over each contrast and the F test",
    "tables": "long table (3 rows per feature) and F table, their memory included",
    "get": "kom.get.differential (the long table, a copy)",
    "rest": "design, contrasts, checks, result dict, provenance",
}


def generate(g: int, n: int, missing: float, seed: int = 1) -> np.ndarray:
    """Features x samples log2 values: a mean-variance trend, 10% of the features shifted by 1 in
    the third phase, ``missing`` of the values NaN (completely at random)."""
    rng = np.random.default_rng(seed)
    phase = np.repeat([0, 1, 2], n // 3)
    mean = rng.uniform(18, 30, g)
    sd = 0.15 + 1.5 / (mean - 15.0)
    y = mean[:, None] + sd[:, None] * rng.standard_normal((g, n))
    de = g // 10
    y[:de, phase == 2] += rng.choice([-1.0, 1.0], de)[:, None]
    if missing:
        y[rng.random((g, n)) < missing] = np.nan
    return y


def make_adata(x: np.ndarray) -> Any:
    """An AnnData on ``x`` (samples x features, C order as loaders make it: the memory layout of
    R's features x samples matrix), without a copy."""
    import anndata as ad
    import pandas as pd

    n = x.shape[0]
    phase = pd.Categorical(np.repeat(["control", "use", "withdrawal"], n // 3), ordered=True)
    return ad.AnnData(X=x, obs=pd.DataFrame({"phase": phase}, index=[f"s{i}" for i in range(n)]))


def ours(adata: Any, legacy: bool | None) -> Any:
    """The timed kratom-omics call: the analysis and its long table."""
    import kratom_omics as kom

    kom.tl.differential(adata, "phase", CONTRASTS, legacy=legacy)
    return kom.get.differential(adata)


def timed(func: Any, adata: Any, repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``repeats`` calls of ``func(adata)``.

    Each call starts without the previous result (freeing it is not timed: a single analysis
    has none) and its table is freed after the clock stops.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        adata.uns.pop("differential", None)
        t0, c0 = time.perf_counter(), time.process_time()
        out = func(adata)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del out
    return float(np.median(wall)), float(np.median(cpu))


def profile(func: Any, adata: Any) -> dict[str, float]:
    """Cumulative CPU seconds of the stages of one call (see ``STAGES``)."""
    adata.uns.pop("differential", None)
    prof = cProfile.Profile(time.process_time)
    c0 = time.process_time()
    prof.enable()
    result = func(adata)
    prof.disable()
    total = time.process_time() - c0
    del result
    stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out = dict.fromkeys(STAGES, 0.0)
    for (filename, _, name), (_, _, _, cumulative, _) in stats.items():
        for label, funcs in STAGES.items():
            for suffix, func_name in funcs:
                if name == func_name and filename.replace("\\", "/").endswith(suffix):
                    out[label] += cumulative
    out["eBayes"] = out.pop("moderate") - out["prior"] - out["FDR"]
    out["rest"] = total - sum(out.values())
    out["total"] = total
    return out


class PeakMemory:
    """Peak memory of a block of code, in bytes: ``tracemalloc`` (numpy reports its buffers to
    it), with the result tables' memory mappings (``kratom_omics._results.table_buffer``, not
    numpy's memory) reported to it as well while they live."""

    def __enter__(self) -> PeakMemory:
        from kratom_omics import _results
        from kratom_omics.tl._limma import _engine

        gc.collect()
        mods = [mod for mod in (_results, _engine) if hasattr(mod, "table_buffer")]
        self._patched = [(mod, mod.table_buffer) for mod in mods]  # (none in older versions)
        original = getattr(_results, "table_buffer", None)

        def traced(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            arr = original(shape, dtype)
            base: Any = arr
            while isinstance(base, (np.ndarray, memoryview)):
                base = base.base if isinstance(base, np.ndarray) else base.obj
            if isinstance(base, mmap.mmap):
                ptr = arr.__array_interface__["data"][0]
                _TRACK(_DOMAIN, ptr, arr.nbytes)
                weakref.finalize(base, _UNTRACK, _DOMAIN, ptr)
            return arr

        for mod, _ in self._patched:
            mod.table_buffer = traced  # type: ignore[assignment]
        tracemalloc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        for mod, func in self._patched:
            mod.table_buffer = func  # type: ignore[assignment]


_DOMAIN = 389047  # numpy's tracemalloc domain
_TRACK = ctypes.pythonapi.PyTraceMalloc_Track
_TRACK.argtypes = (ctypes.c_uint, ctypes.c_size_t, ctypes.c_size_t)
_UNTRACK = ctypes.pythonapi.PyTraceMalloc_Untrack
_UNTRACK.argtypes = (ctypes.c_uint, ctypes.c_size_t)


def memory(adata: Any, legacy: bool | None, size: int) -> tuple[float, float]:
    """Peak of one ``kom.tl.differential`` call and the size of its tables, / input size."""
    import kratom_omics as kom

    adata.uns.pop("differential", None)
    with PeakMemory() as pm:
        kom.tl.differential(adata, "phase", CONTRASTS, legacy=legacy)
    peak = pm.peak
    res = adata.uns["differential"]
    kept = sum(int(res[p].memory_usage(index=True, deep=False).sum()) for p in ("table", "f_table"))
    return peak / size, kept / size


def fit_memory(x: np.ndarray) -> float:
    """Peak of ``lm_fit`` + ``contrasts_fit`` + ``ebayes`` (limma's arrays), / input size."""
    from kratom_omics.tl._limma import contrasts_fit, ebayes, lm_fit

    n = x.shape[0]
    design = np.eye(3)[np.repeat([0, 1, 2], n // 3)]
    cmat = np.array([[-1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 1.0]])  # as CONTRASTS
    with PeakMemory() as pm:
        fit = lm_fit(x.T, design)
        eb = ebayes(contrasts_fit(fit, cmat), fit)
    del fit, eb
    return pm.peak / x.nbytes


def run_r(x: np.ndarray, repeats: int, lib: str, tmp: Path) -> dict[str, Any]:
    path, pout = tmp / "y.bin", tmp / "p.bin"
    x.tofile(path)  # samples x features in C order: R's column-major features x samples matrix
    script = tmp / "bench.R"
    script.write_text(R_CODE)
    g, n = x.shape[1], x.shape[0]
    proc = subprocess.run(
        ["Rscript", str(script), str(path), str(g), str(n), lib, str(repeats), str(pout)],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    version, *nums = line.split()[1:]
    keys = ("total", "total_cpu", "fit", "fit_cpu", "tables", "tables_cpu", "df_prior")
    out: dict[str, Any] = {"version": version, **dict(zip(keys, map(float, nums), strict=True))}
    out["p"] = np.fromfile(pout).reshape(len(CONTRASTS), -1).T  # features x contrasts
    path.unlink()
    pout.unlink()
    return out


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".")[:2])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-r", action="store_true")
    parser.add_argument(
        "--r-lib", default="", help="library path of limma for R ('' for R's system limma)"
    )
    parser.add_argument(
        "--legacy",
        choices=("auto", "true", "none"),
        default="auto",
        help="kratom-omics' legacy=: auto matches the R limma it runs beside (True below 3.62)",
    )
    args = parser.parse_args()
    import anndata  # noqa: F401  (imported before timing)

    import kratom_omics as kom

    kom.tl.differential  # noqa: B018  (loads the namespaces before timing)
    kom.get.differential  # noqa: B018
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in args.cases:
            g, n, miss = CASES[name]
            x = np.ascontiguousarray(generate(g, n, miss).T)  # samples x features
            r: dict[str, Any] = {}
            if not args.skip_r:
                r = run_r(x, args.repeats, args.r_lib, Path(tmpdir))
            if args.legacy == "auto":
                legacy = True if r and version_tuple(r["version"]) < (3, 62) else None
            else:
                legacy = True if args.legacy == "true" else None
            adata = make_adata(x)
            table = ours(adata, legacy)  # warm-up (and the numbers to check)
            wall, cpu = timed(lambda a, lg=legacy: ours(a, lg), adata, args.repeats)
            stages = profile(lambda a, lg=legacy: ours(a, lg), adata)
            peak, kept = memory(adata, legacy, x.nbytes)
            peak_fit = fit_memory(x)
            if r:
                mine = table["pvalue"].to_numpy().reshape(len(CONTRASTS), -1).T
                with np.errstate(divide="ignore", invalid="ignore"):
                    r["max_rel_diff_p"] = float(np.nanmax(np.abs(mine - r["p"]) / r["p"]))
            del adata, table
            rows.append((name, x.nbytes, wall, cpu, stages, (peak, kept, peak_fit), r, legacy))
            print(
                f"{name}: kratom-omics {wall:.3f}s (cpu {cpu:.3f}s)"
                + (f", R limma {r['version']} {r['total']:.3f}s" if r else "")
                + f"; peak {peak:.2f}x (fit alone {peak_fit:.2f}x), results {kept:.2f}x "
                f"of {x.nbytes / 1e6:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    versions = {r["version"] for *_, r, _ in rows if r}
    print(
        f"R limma {', '.join(sorted(versions)) or '-'}; numpy {np.__version__}; "
        f"Python {sys.version.split()[0]}; median of {args.repeats}\n"
    )
    print(
        "| case | R limma: fit + topTable (s) | kratom-omics: tl + get (s) | ratio | ratio, CPU "
        "| ratio to R's fit alone | max rel. diff. of p to R | peak mem / input "
        "| results / input | peak mem of the fit alone / input |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, _, wall, cpu, _, (peak, kept, peak_fit), r, _ in rows:
        if r:
            cells = (
                f"{r['total']:.3f} ({r['fit']:.3f} + {r['tables']:.3f})",
                f"{wall:.3f}",
                f"{wall / r['total']:.2f}",
                f"{cpu / r['total_cpu']:.2f}",
                f"{wall / r['fit']:.2f}",
                f"{r['max_rel_diff_p']:.1e}",
            )
        else:
            cells = ("-", f"{wall:.3f}", "-", "-", "-", "-")
        print(f"| {name} | " + " | ".join(cells) + f" | {peak:.2f} | {kept:.2f} | {peak_fit:.2f} |")
    print("\nPer-stage profile of kratom-omics (CPU seconds of one run, cProfile):\n")
    labels = ["fit", "prior", "eBayes", "FDR", "tables", "get", "rest"]
    print("| case | " + " | ".join(labels) + " | total |")
    print("|---|" + "---|" * (len(labels) + 1))
    for name, _, _, _, stages, *_ in rows:
        print(
            f"| {name} | "
            + " | ".join(f"{stages[k]:.3f}" for k in labels)
            + f" | {stages['total']:.3f} |"
        )
    print("\n" + "\n".join(f"- {k}: {STAGE_NOTES[k]}" for k in labels))


if __name__ == "__main__":
    main()
