"""Time the differential abundance engine against R limma on the same generated data.

    python benchmarks/bench_differential.py                 # all three cases, R limma 3.62
    python benchmarks/bench_differential.py --cases 20000x120 --skip-r

For each case a log2-intensity matrix is generated (seeded), written once as raw float64 for R, and
fitted by

- kratom-omics: ``lm_fit`` + ``contrasts_fit`` + ``ebayes`` (the numeric core behind
  ``kom.tl.differential``), best of ``--repeats`` runs; peak memory of one run with ``tracemalloc``
  (numpy reports its allocations to it); also the full ``kom.tl.differential`` call on an AnnData
  whose ``X`` views the same matrix (long result table with FDR, F table, provenance);
- R limma: ``lmFit`` + ``contrasts.fit`` + ``eBayes`` timed with ``system.time`` inside R (reading
  the data is not timed);
- inmoose (a Python port of limma, when installed): ``lmFit`` + ``contrasts_fit`` + ``eBayes``
  (one run only for the case with missing values, which it fits feature by feature).

Design: three phases (control/use/withdrawal) in equal numbers, contrasts withdrawal - control,
use - control and withdrawal - use. Prints a Markdown table of seconds and ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

CASES = {
    "20000x120": (20000, 120, 0.0),
    "20000x120-na10": (20000, 120, 0.10),
    "1000000x24": (1_000_000, 24, 0.0),
}
CONTRASTS = np.array([[-1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 1.0]])

R_CODE = r"""
args <- commandArgs(trailingOnly = TRUE)
lib <- args[4]
if (nzchar(lib)) library(limma, lib.loc = lib) else library(limma)
g <- as.integer(args[2]); n <- as.integer(args[3])
con <- file(args[1], "rb")
y <- matrix(readBin(con, "double", n = g * n), nrow = g, ncol = n)
close(con)
phase <- factor(rep(c("control", "use", "withdrawal"), each = n / 3))
design <- model.matrix(~ 0 + phase); colnames(design) <- levels(phase)
cm <- makeContrasts(withdrawal - control, use - control, withdrawal - use, levels = design)
best <- Inf
for (r in seq_len(as.integer(args[5]))) {
  tm <- system.time({
    fit <- lmFit(y, design)
    fit2 <- contrasts.fit(fit, cm)
    fit2 <- eBayes(fit2)
  })[["elapsed"]]
  best <- min(best, tm)
}
cat(sprintf("RESULT %s %.4f %.6g\n", as.character(packageVersion("limma")), best, fit2$df.prior[1]))
"""


def generate(g: int, n: int, missing: float, seed: int = 1) -> np.ndarray:
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


def core(y: np.ndarray) -> float:
    from kratom_omics.tl._limma import contrasts_fit, ebayes, lm_fit

    n = y.shape[1]
    design = np.eye(3)[np.repeat([0, 1, 2], n // 3)]
    fit = lm_fit(y, design)
    eb = ebayes(contrasts_fit(fit, CONTRASTS), fit)
    return float(np.asarray(eb.df_prior).ravel()[0])


def make_adata(y: np.ndarray):
    import anndata as ad
    import pandas as pd

    n = y.shape[1]
    phase = pd.Categorical(np.repeat(["control", "use", "withdrawal"], n // 3), ordered=True)
    return ad.AnnData(X=y.T, obs=pd.DataFrame({"phase": phase}, index=[f"s{i}" for i in range(n)]))


def api(adata) -> None:
    import kratom_omics as kom

    kom.tl.differential(
        adata, "phase", ["withdrawal - control", "use - control", "withdrawal - use"]
    )


def run_inmoose(y: np.ndarray, repeats: int) -> float:
    """Best time of inmoose's limma port (lmFit + contrasts_fit + eBayes) on the same data."""
    import pandas as pd
    from inmoose import limma

    n = y.shape[1]
    design = pd.DataFrame(np.eye(3)[np.repeat([0, 1, 2], n // 3)])
    data = pd.DataFrame(y)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = limma.lmFit(data, design)
        cm = pd.DataFrame(CONTRASTS, index=fit.coefficients.columns)
        limma.eBayes(limma.contrasts_fit(fit, cm))
        best = min(best, time.perf_counter() - t0)
    return best


def best_of(func, y, repeats: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = func(y)
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_memory(func, y) -> int:
    tracemalloc.start()
    func(y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run_r(y: np.ndarray, repeats: int, lib: str, tmp: Path) -> tuple[str, float, float]:
    path = tmp / "y.bin"
    np.ascontiguousarray(y.T).tofile(path)  # column-major features x samples for R's matrix()
    script = tmp / "bench.R"
    script.write_text(R_CODE)
    out = subprocess.run(
        ["Rscript", str(script), str(path), str(y.shape[0]), str(y.shape[1]), lib, str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    _, version, seconds, df_prior = line.split()
    path.unlink()
    return version, float(seconds), float(df_prior)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-r", action="store_true")
    parser.add_argument(
        "--skip-python-peers",
        action="store_true",
        help="do not time inmoose's limma port (timed when installed: pip install inmoose)",
    )
    parser.add_argument(
        "--r-lib",
        default=str(Path("~/.local/share/limma-3.62").expanduser()),
        help="library path of limma for R ('' for the system limma)",
    )
    args = parser.parse_args()
    import anndata  # noqa: F401  (imported before timing)

    import kratom_omics as kom

    kom.tl.differential  # noqa: B018  (loads the namespace before timing)
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in args.cases:
            g, n, miss = CASES[name]
            y = generate(g, n, miss)
            size = y.nbytes
            t_core, df_prior = best_of(core, y, args.repeats)
            adata = make_adata(y)  # X is a view of y: no copy
            t_api, _ = best_of(api, adata, args.repeats)
            peak = peak_memory(core, y)
            peak_api = peak_memory(api, adata)
            del adata
            r_version, t_r, r_df = ("-", float("nan"), float("nan"))
            if not args.skip_r:
                r_version, t_r, r_df = run_r(y, args.repeats, args.r_lib, Path(tmpdir))
                if not np.isclose(r_df, df_prior, rtol=1e-5):
                    print(f"warning: df.prior differs: R {r_df} vs {df_prior}", file=sys.stderr)
            t_inm = float("nan")
            if not args.skip_python_peers:
                try:
                    t_inm = run_inmoose(y, 1 if miss else args.repeats)
                except ImportError:
                    print("inmoose not installed: Python peer skipped", file=sys.stderr)
            rows.append((name, size, t_core, t_api, t_r, peak, peak_api, r_version, t_inm))
            print(
                f"{name}: core {t_core:.2f}s api {t_api:.2f}s R {t_r:.2f}s inmoose {t_inm:.2f}s "
                f"peak {peak / size:.2f}x "
                f"(api {peak_api / size:.2f}x) of {size / 1e6:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    print(f"limma {rows[0][7]}, numpy {np.__version__}, Python {sys.version.split()[0]}\n")
    print(
        "| case | input MB | R limma (s) | inmoose (s) | kratom-omics core (s) | ratio R/core "
        "| ratio inmoose/core | kom.tl.differential (s) | ratio R/API | peak mem core / input "
        "| peak mem API / input |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, size, t_core, t_api, t_r, peak, peak_api, _, t_inm in rows:
        print(
            f"| {name} | {size / 1e6:.0f} | {t_r:.2f} | {t_inm:.2f} | {t_core:.2f} "
            f"| {t_r / t_core:.1f} | {t_inm / t_core:.1f} | {t_api:.2f} | {t_r / t_api:.1f} "
            f"| {peak / size:.2f} | {peak_api / size:.2f} |"
        )


if __name__ == "__main__":
    main()
