"""Calibration and power of the moderation methods: limma, count-aware priors, detection model.

    python benchmarks/bench_methods.py                  # everything (about 2 minutes on 2 cores)
    python benchmarks/bench_methods.py --seeds 3 --skip-real

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
(c) nulls: the null simulation (no changed proteins besides the two planted markers) at each
    missingness level, the control samples of a simulation split 3 vs 3 (a permutation within one
    condition: every call is false), and, on real data with peptide counts (MaxQuant
    ``1356_proteinGroups.txt``, three IP conditions x 3), samples regrouped so that each fake group
    holds one sample of every condition (every call is false).

A method ships only if its FDR is <= 5 % on every one of them: the FDP of the LFQ bench, and on the
simulations and nulls the mean FDP over the seeds (the FDR; on a null every run with a call has
FDP 1, so the mean is the share of runs with a false call). Also reported: the per-feature
false-positive rate of the raw p-values on null features (nominal 0.05). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import logging
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


def simulate(seed: int, mnar: float, *, changed: float, n_per_phase: int):  # type: ignore[no-untyped-def]
    adata = kom.datasets.simulate(
        seed=seed,
        n_features=3000,
        n_per_phase=n_per_phase,
        n_batches=1,
        fraction_changed=changed,
        missing_mnar=mnar,
        missing_mcar=0.02,
    )
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
    rows = []
    for mnar in levels:
        for seed in seeds:
            # null simulation: only the two planted markers change
            adata = simulate(seed, mnar, changed=0.0, n_per_phase=4)
            changed = adata.var["true_log2fc_withdrawal_vs_control"] != 0
            for label, method, kw in method_variants():
                table, err = run(adata, "phase", "withdrawal - control", method, **kw)
                row = {"data": f"null sim, MNAR {mnar:.0%}", "seed": seed, "method": label}
                row.update(score(table, changed) if table is not None else {"note": err})
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
    return rows


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
    ap.add_argument("--null-seeds", type=int, default=50, help="seeds per null setting")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--layouts", type=int, default=20, help="fake groupings of the real null")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="CSV of every run")
    args = ap.parse_args()
    logging.getLogger("kratom_omics").setLevel(logging.WARNING)
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
