"""Calibration and power of the moderation methods: limma, count-aware priors, detection model.

    python benchmarks/bench_methods.py                  # everything (about 6 minutes on 2 cores)
    python benchmarks/bench_methods.py --seeds 3 --skip-real
    python benchmarks/bench_methods.py --calibration 400   # limma's null: what departs from its model

For every method of ``kom.tl.differential(method=...)`` it reports, at BH 5 %, the number of
calls, the false discovery proportion (FDP: false calls / calls) and the power (true calls / true
changes), on

(a) the LFQ bench PXD028735 (DIA-NN pg_matrix, 3 vs 3: human 1:1 is the null, yeast A/B = 2 and
    E. coli A/B = 1/4 are true changes), read from ``../shared/realdata/einprot`` with the default
    recipe (``kom.pp.recipe``), contrast ``A - B``;
(b) simulations with planted MNAR (``kom.datasets.simulate``: 3,000 proteins, 4 per phase, one
    batch, missing not at random at 10/20/30 %, several seeds), contrast ``withdrawal - control``;
    peptide counts for the count methods drawn from each protein's true intensity (more peptides
    for abundant proteins, as in real data) and, as a calibration check, the same counts shuffled
    over the proteins (uninformative);
(c) nulls (every call is false): the null simulation (no changed protein; the two planted
    markers, which always change, are dropped) at each missingness level, the control samples of a
    simulation split 3 vs 3 (a permutation within one condition), and, on real data with peptide
    counts (MaxQuant ``1356_proteinGroups.txt``, three IP conditions x 3), samples regrouped so that
    each fake group holds one sample of every condition.

A method ships only if its FDR is <= 5 % on every one of them: the FDP of the LFQ bench, and on the
simulations and nulls the mean FDP over the seeds (the FDR; on a null every run with a call has
FDP 1, so the mean is the share of runs with a false call). Also reported: the per-feature
false-positive rate of the raw p-values on null features (nominal 0.05). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import kratom_omics as kom
from kratom_omics._defaults import DIFFERENTIAL_METHODS as METHODS
from kratom_omics.errors import KratomOmicsError

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "einprot"
ALPHA = 0.05


def score(table: pd.DataFrame, changed: pd.Series) -> dict[str, float]:
    """Calls, false calls, FDP and power of one contrast at BH ``ALPHA``."""
    truth = changed.reindex(table["feature"]).to_numpy(dtype=bool)
    called = (table["padj"] < ALPHA).to_numpy()
    pvalue = table["pvalue"].to_numpy(dtype=float)
    n_called = int(called.sum())
    false = int((called & ~truth).sum())
    n_true = int(truth.sum())
    tested_null = ~truth & np.isfinite(pvalue)
    return {
        "calls": n_called,
        "false": false,
        "fdp": false / n_called if n_called else 0.0,
        "power": (n_called - false) / n_true if n_true else float("nan"),
        # per-feature false-positive rate of the raw p-values (nominal 0.05)
        "fpr": float(np.mean(pvalue[tested_null] < ALPHA)) if tested_null.any() else np.nan,
    }


def run(adata, groupby: str, contrast: str, method: str, **kw):  # type: ignore[no-untyped-def]
    """``kom.tl.differential(method=...)``; its long table, or None and the error message."""
    try:
        kom.tl.differential(adata, groupby, contrast, method=method, key_added="bench", **kw)
    except KratomOmicsError as err:
        return None, str(err)
    return adata.uns.pop("bench")["table"], ""


# --------------------------------------------------------------------------------------------------
# (a) LFQ bench
# --------------------------------------------------------------------------------------------------


def lfq_bench() -> list[dict]:
    sheet = pd.read_csv(REAL / "PXD028735_sampleAnnot.txt", sep="\t")
    sheet = sheet.rename(columns={"group": "phase"})
    adata = kom.io.read_diann(REAL / "PXD028735.pg_matrix.tsv", samples=sheet, phases=None)
    report = pd.read_csv(REAL / "PXD028735.report.tsv", sep="\t", usecols=["Protein.Group"])
    n_with_counts = int(adata.var["protein_group"].isin(set(report["Protein.Group"])).sum())
    kom.pp.recipe(adata, groupby="phase")
    species = adata.var["protein_names"].str.extract(r"_(HUMAN|YEAST|ECOLI)")[0]
    changed = species.isin(["YEAST", "ECOLI"])
    rows = []
    for method in METHODS:
        t0 = time.perf_counter()
        if method in ("count_trend", "deqms"):
            rows.append(
                {
                    "data": "LFQ bench PXD028735",
                    "method": method,
                    "note": f"no peptide counts: the stored DIA-NN report covers {n_with_counts} of "
                    f"{adata.n_vars} protein groups",
                }
            )
            continue
        table, err = run(adata, "phase", "A - B", method)
        secs = time.perf_counter() - t0
        row = {"data": "LFQ bench PXD028735", "method": method, "seconds": round(secs, 2)}
        row.update(score(table, changed) if table is not None else {"note": err})
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# (b) simulations, (c) nulls
# --------------------------------------------------------------------------------------------------


def peptide_counts(true_mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = 2.0 ** ((true_mean - 21.0) / 1.5)
    return 1 + rng.negative_binomial(1.5, 1.5 / (1.5 + mean))


def simulate(  # type: ignore[no-untyped-def]
    seed: int, mnar: float, *, changed: float, n_per_phase: int, markers: bool = True
):
    adata = kom.datasets.simulate(
        seed=seed,
        n_features=3000,
        n_per_phase=n_per_phase,
        n_batches=1,
        fraction_changed=changed,
        missing_mnar=mnar,
        missing_mcar=0.02,
    )
    if not markers:  # the planted markers (Rab35, Hdac2) change in every simulation
        adata = adata[:, adata.var["marker"] == ""].copy()
    kom.pp.recipe(adata, transform="none", groupby="phase")
    rng = np.random.default_rng(seed + 1000)
    adata.var["n_peptides"] = peptide_counts(adata.var["true_mean"].to_numpy(), rng)
    adata.var["n_peptides_shuffled"] = rng.permutation(adata.var["n_peptides"].to_numpy())
    return adata


def method_variants() -> list[tuple[str, str, dict]]:
    out = []
    for m in METHODS:
        out.append((m, m, {}))
        if m in ("count_trend", "deqms"):
            out.append((f"{m} (shuffled counts)", m, {"n_peptides": "n_peptides_shuffled"}))
    return out


def simulations(seeds: list[int], levels: list[float]) -> list[dict]:
    rows = []
    for mnar in levels:
        for seed in seeds:
            adata = simulate(seed, mnar, changed=0.2, n_per_phase=4)
            changed = adata.var["true_log2fc_withdrawal_vs_control"] != 0
            for label, method, kw in method_variants():
                table, err = run(adata, "phase", "withdrawal - control", method, **kw)
                row = {"data": f"MNAR {mnar:.0%}", "seed": seed, "method": label}
                row.update(score(table, changed) if table is not None else {"note": err})
                rows.append(row)
    return rows


def nulls(seeds: list[int], levels: list[float]) -> list[dict]:
    """Every call is false. Each missingness level has its own seeds (``seed + 1000 * level
    index``), so the levels are independent samples; the rows are also pooled over the levels
    (``..., all levels``): the share of runs with a call has a binomial error of about
    +-0.013 over 300 runs against +-0.022 over 100."""
    rows = []
    for k, mnar in enumerate(levels):
        for seed in (s + 1000 * k for s in seeds):
            # null simulation: no protein changes (the planted markers dropped)
            adata = simulate(seed, mnar, changed=0.0, n_per_phase=4, markers=False)
            none = pd.Series(False, index=adata.var_names)
            for label, method, kw in method_variants():
                table, err = run(adata, "phase", "withdrawal - control", method, **kw)
                row = {"data": f"null sim, MNAR {mnar:.0%}", "seed": seed, "method": label}
                row.update(score(table, none) if table is not None else {"note": err})
                rows.append(row)
            # permutation within one condition: 6 control samples split 3 vs 3
            big = simulate(seed, mnar, changed=0.2, n_per_phase=6)
            ctrl = big[big.obs["phase"] == "control"].copy()
            ctrl.obs["fake"] = pd.Categorical(["g1", "g2", "g1", "g2", "g1", "g2"])
            none = pd.Series(False, index=ctrl.var_names)
            for label, method, kw in method_variants():
                table, err = run(ctrl, "fake", "g2 - g1", method, **kw)
                row = {"data": f"controls 3 vs 3, MNAR {mnar:.0%}", "seed": seed, "method": label}
                row.update(score(table, none) if table is not None else {"note": err})
                rows.append(row)
    pooled = [
        {**r, "data": r["data"].split(", MNAR")[0] + ", all levels"}
        for r in rows
        if ", MNAR" in r["data"]
    ]
    return rows + pooled


def real_null(n_layouts: int) -> list[dict]:
    """MaxQuant IP data (3 conditions x 3): fake groups of one sample per condition."""
    sheet = pd.read_csv(REAL / "1356_sampleAnnot.txt", sep="\t")
    sheet["phase"] = sheet["group"]
    full = kom.io.read_maxquant(
        REAL / "1356_proteinGroups.txt", samples=sheet[["sample", "phase"]], phases=None
    )
    conditions = list(dict.fromkeys(sheet["group"]))
    rng = np.random.default_rng(1356)
    seen: set[tuple[str, ...]] = set()
    rows = []
    while len(seen) < n_layouts:
        g1, g2 = [], []
        for cond in conditions:
            reps = sheet.loc[sheet["group"] == cond, "sample"].to_numpy()
            a, b = rng.choice(reps, 2, replace=False)
            g1.append(a)
            g2.append(b)
        key = tuple(sorted(g1)) + tuple(sorted(g2))
        if key in seen or tuple(sorted(g2)) + tuple(sorted(g1)) in seen:
            continue
        seen.add(key)
        adata = full[full.obs_names.isin(g1 + g2)].copy()
        adata.obs["fake"] = pd.Categorical(np.where(adata.obs_names.isin(g1), "g1", "g2"))
        kom.pp.recipe(adata, groupby="fake")
        adata.var["n_peptides"] = adata.var["n_peptides_razor_unique"].clip(lower=1)
        none = pd.Series(False, index=adata.var_names)
        for method in METHODS:
            table, err = run(adata, "fake", "g2 - g1", method)
            row = {"data": "MaxQuant IPs, one sample per condition in each fake group",
                   "seed": len(seen), "method": method}  # fmt: skip
            row.update(score(table, none) if table is not None else {"note": err})
            rows.append(row)
    return rows


def limma_calibration(n_seeds: int, mnar: float = 0.2) -> pd.DataFrame:
    """Where limma's excess false calls on the null simulation come from (``--calibration N``).

    limma on the all-null simulation (no protein changes, markers dropped, 4 per phase) as the
    benchmark draws it, and with each of its departures from limma's model switched off through
    the simulator's options: the 2 % of proteins with an 8-fold variance (not from the scaled
    inverse chi-square prior limma assumes) and the values missing not at random (the observed
    values of a group with missing values are the high ones). Reports the share of runs with a
    call (BH 5 %; nominal 0.05 when the model holds), its binomial standard error, the per-feature
    FPR of the raw p-values and the share of the calls that fall on outlier-variance proteins.
    """
    settings = {
        "as in the benchmark (outlier variances, MNAR)": {},
        "no outlier variances": {"fraction_outlier_variance": 0.0},
        "no MNAR": {"missing_mnar": 0.0},
        "neither (limma's model)": {"fraction_outlier_variance": 0.0, "missing_mnar": 0.0},
    }
    rows = []
    for label, options in settings.items():
        runs = calls = on_outliers = 0
        fpr = []
        for seed in range(1, n_seeds + 1):
            kw = {"missing_mnar": mnar, **options}
            adata = kom.datasets.simulate(
                seed=seed, n_features=3000, n_per_phase=4, n_batches=1, fraction_changed=0.0,
                missing_mcar=0.02, **kw,
            )  # fmt: skip
            adata = adata[:, adata.var["marker"] == ""].copy()
            kom.pp.recipe(adata, transform="none", groupby="phase")
            table, _ = run(adata, "phase", "withdrawal - control", "limma")
            called = table.loc[table["padj"] < ALPHA, "feature"]
            runs += int(len(called) > 0)
            calls += len(called)
            on_outliers += int(adata.var.loc[called, "outlier_variance"].sum())
            fpr.append(float(np.nanmean(table["pvalue"] < ALPHA)))
        share = runs / n_seeds
        rows.append(
            {
                "null simulation": label,
                "runs": n_seeds,
                "P(any call)": share,
                "se": math.sqrt(share * (1 - share) / n_seeds),
                "fpr": float(np.mean(fpr)),
                "calls on outlier-variance proteins": f"{on_outliers} of {calls}",
            }
        )
    return pd.DataFrame(rows)


def summarise(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if "note" not in df:
        df["note"] = ""
    df["note"] = df["note"].fillna("")
    agg = df.groupby(["data", "method"], sort=False).agg(
        runs=("method", "size"),
        calls=("calls", "mean"),
        fdr=("fdp", "mean"),
        max_fdp=("fdp", "max"),
        power=("power", "mean"),
        fpr=("fpr", "mean"),
        note=("note", "first"),
    )
    return agg.reset_index()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds per simulated setting")
    ap.add_argument("--null-seeds", type=int, default=100, help="seeds per null setting")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--layouts", type=int, default=20, help="fake groupings of the real null")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="CSV of every run")
    ap.add_argument(
        "--calibration",
        type=int,
        default=0,
        metavar="N",
        help="only the decomposition of limma's false calls on the null simulation, N seeds",
    )
    args = ap.parse_args()
    logging.getLogger("kratom_omics").setLevel(logging.WARNING)
    if args.calibration:
        cal = limma_calibration(args.calibration)
        sys.stdout.write(cal.to_markdown(index=False, floatfmt=".3f") + "\n")
        return
    seeds = list(range(1, args.seeds + 1))
    rows: list[dict] = []
    if not args.skip_real and REAL.is_dir():
        rows += lfq_bench()
        rows += real_null(args.layouts)
    rows += simulations(seeds, args.levels)
    rows += nulls(list(range(1, args.null_seeds + 1)), args.levels)
    if args.out:
        pd.DataFrame(rows).to_csv(args.out, index=False)
    table = summarise(rows)
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        sys.stdout.write(table.to_markdown(index=False, floatfmt=".3f") + "\n")
    known = table[table["fdr"].notna()]
    bar = known.groupby("method").agg(worst_fdr=("fdr", "max"), worst_fpr=("fpr", "max"))
    sys.stdout.write(
        "\nworst FDR (mean FDP over the runs of a data set) and worst null FPR of each method "
        "(bar: FDR <= 0.05):\n"
    )
    sys.stdout.write(bar.to_markdown(floatfmt=".3f") + "\n")


if __name__ == "__main__":
    main()
