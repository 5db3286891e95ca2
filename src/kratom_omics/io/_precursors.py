"""Precursor-level tables combined into protein groups, and FASTA identifiers made accessions.

Some exports hold precursors (or fragments) rather than protein groups: DIA-NN's
``report.pr_matrix.tsv``, Spectronaut reports without ``PG.Quantity``. Their quantities are
combined into one value per protein group and run with **MaxLFQ** (Cox et al. 2014, MCP 13:2513),
as DIA-NN computes its own ``PG.MaxLFQ``; the steps follow ``diann_maxlfq`` of DIA-NN's R package
(github.com/vdemichev/diann-rpackage):

1. quantities are taken on the natural-log scale; zeros and missing values are missing;
2. for every pair of runs the median of the log ratios of the precursors seen in both is taken;
3. the run abundances ``x`` solve the least-squares system of those pairwise medians, with a weak
   tie (weight ``1e-4`` times the run's number of pairs, at least ``1e-4``) of each run to its most
   intense precursor, which fixes the overall level and the runs that share no precursor (the
   system is symmetric positive definite and solved by Cholesky, as DIA-NN does);
4. a protein group seen in one run, or through one precursor, gets its most intense precursor.

The result is ``exp(x)``; a run without any precursor of the group stays missing. The work grows
with the number of precursors times the square of the number of runs (pairwise medians), as in
MaxLFQ itself: about 0.6 ms per protein group at 100 runs.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "accessions",
    "maxlfq",
    "one_per_run",
    "passing_rows",
    "peptide_counts",
    "precursor_runs",
    "precursors_to_groups",
]

_REG = 1e-4
_CHUNK_CELLS = 1 << 22  # pairwise-difference cells at a time (32 MB of float64)


def maxlfq(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Protein-group quantities from precursor quantities with MaxLFQ (see the module docstring).

    Parameters
    ----------
    values
        Precursors x runs, linear quantities; NaN or ``<= 0`` for missing.
    groups
        Integer code (``0 .. n_groups - 1``) of each precursor's protein group.
    n_groups
        Number of protein groups.

    Returns
    -------
    Protein groups x runs, linear quantities, NaN where a group has no precursor in a run.
    """
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    n_runs = values.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(values > 0, np.log(values), np.nan)
    out = np.full((n_groups, n_runs), np.nan)  # log abundances of groups with >= 2 precursors
    single = np.zeros(n_groups, dtype=bool)
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    result = np.full((n_groups, n_runs), np.nan)
    for k in np.unique(counts[counts > 0]):
        members = np.flatnonzero(counts == k)
        rows = order[starts[members][:, None] + np.arange(k)[None, :]]  # groups x k
        if k == 1:  # one precursor: its own quantities, not round-tripped through log
            result[members] = np.where(values[rows[:, 0]] > 0, values[rows[:, 0]], np.nan)
            single[members] = True
            continue
        block = logs[rows]  # groups x k x runs
        per = max(1, _CHUNK_CELLS // (k * n_runs * n_runs // 2 + 1))
        for at in range(0, len(members), per):
            out[members[at : at + per]] = _solve(block[at : at + per])
    with np.errstate(over="ignore"):
        result[~single] = np.exp(out[~single])
    return result


def _median(diff: np.ndarray) -> np.ndarray:
    """Median over axis 1 ignoring NaN (NaN where nothing is left); faster than ``nanmedian``
    for the few precursors of a group: one sort, then the middle one or two of the seen."""
    if diff.shape[1] == 2:  # the median of two is their mean
        first, second = diff[:, 0], diff[:, 1]
        both = 0.5 * (first + second)
        return np.where(np.isnan(first), second, np.where(np.isnan(second), first, both))
    ordered = np.sort(diff, axis=1)  # NaN sorts last
    n = (~np.isnan(diff)).sum(axis=1)
    lo = np.maximum(n - 1, 0) // 2  # the middle one (odd n) or the lower of the two (even n)
    hi = n // 2
    low = np.take_along_axis(ordered, lo[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, hi[:, None], axis=1)[:, 0]
    med = 0.5 * (low + high)
    med[n == 0] = np.nan
    return med


def _solve(block: np.ndarray) -> np.ndarray:
    """MaxLFQ log abundances of a block of groups (groups x precursors x runs, log, NaN)."""
    from scipy.linalg import cho_factor, cho_solve

    seen = ~np.isnan(block)
    n_groups, k, n_runs = block.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: runs without a pair
        ref = np.nanmax(block, axis=1)  # groups x runs: the most intense precursor
    # median of log(x_i / x_j) over the shared precursors, for i < j (it is antisymmetric)
    med = np.full((n_groups, n_runs, n_runs), np.nan)
    upper_i, upper_j = np.triu_indices(n_runs, 1)
    step = max(1, _CHUNK_CELLS // max(1, n_groups * k))
    for at in range(0, len(upper_i), step):
        i, j = upper_i[at : at + step], upper_j[at : at + step]
        m = _median(block[:, :, i] - block[:, :, j])  # groups x pairs
        med[:, i, j] = m
        med[:, j, i] = -m
    pair = ~np.isnan(med)
    eye = np.eye(n_runs, dtype=bool)
    pair &= ~eye
    n_pairs = pair.sum(axis=2).astype(np.float64)
    a = -pair.astype(np.float64)
    b = np.where(pair, med, 0.0).sum(axis=2)
    reg = _REG * np.maximum(n_pairs, 1.0)
    has = seen.any(axis=1)
    a[:, eye] = n_pairs + reg
    b = b + np.where(has, ref, 0.0) * reg
    x = np.empty((n_groups, n_runs))
    for g in range(n_groups):  # symmetric positive definite: Cholesky, as DIA-NN solves it
        x[g] = cho_solve(cho_factor(a[g], check_finite=False), b[g], check_finite=False)
    x[~has] = np.nan
    return x


def precursors_to_groups(
    values: np.ndarray, groups: Sequence[object] | pd.Series | pd.Index
) -> tuple[np.ndarray, pd.Index]:
    """MaxLFQ of precursor rows grouped by a label; returns ``(groups x runs, group labels)`` with
    the groups in order of first appearance."""
    import pandas as pd

    codes, labels = pd.factorize(pd.Series(groups), sort=False)
    if (codes < 0).any():  # a missing label: callers drop such rows first
        raise ValueError("precursor rows without a protein group")
    return maxlfq(values, codes, len(labels)), pd.Index(labels)


# identifiers ----------------------------------------------------------------------------------
_COUNT = re.compile(r"^\s*\d+/")
_ENTRY_SPLIT = re.compile(r"\s*;\s*|/(?=[A-Za-z]{2,}\|)")
_FASTA = re.compile(
    r"^(?P<prefix>(?:CON__|REV__|DECOY_|contam_|rev_)?)[A-Za-z]{2,}\|(?P<acc>[^|]+)\|"
)


def accessions(ids: pd.Series) -> pd.Series:
    """FASTA-style protein identifiers as accessions, ``;``-joined.

    ``1/sp|O75475|PSIP1_HUMAN`` (OpenSWATH/PyProphet and libraries built from them: a count, then
    entries joined by ``/``) -> ``O75475``; ``2/sp|P0CX49|RL18A_YEAST/sp|P0CX50|RL18B_YEAST`` ->
    ``P0CX49;P0CX50``; ``sp|Q5U316|RAB35_RAT;tr|F1LQ99|F1LQ99_RAT`` -> ``Q5U316;F1LQ99``.
    Identifiers that are already accessions are kept; a contaminant or decoy prefix is kept.
    """
    import pandas as pd

    out: list[object] = []
    for text in ids.astype(object).tolist():
        if text is None or (isinstance(text, float) and np.isnan(text)):
            out.append(np.nan)
            continue
        cleaned = []
        for entry in _ENTRY_SPLIT.split(_COUNT.sub("", str(text).strip())):
            if not entry:
                continue
            m = _FASTA.match(entry)
            cleaned.append(f"{m['prefix']}{m['acc']}" if m else entry)
        out.append(";".join(dict.fromkeys(cleaned)) if cleaned else np.nan)
    return pd.Series(out, index=ids.index, dtype=object)


# long reports ---------------------------------------------------------------------------------
def passing_rows(
    values: pd.DataFrame, filters: Mapping[str, float], *, decoy: str | None, source: str
) -> np.ndarray:
    """Rows of a long report kept: not decoys (``values[decoy]`` non-zero) and within every
    q-value cut-off (``values[column] <= cut``). The decoys removed and the rows passing are noted
    in the provenance."""
    from ._choices import note_choice

    keep = np.ones(len(values), dtype=bool)
    if decoy is not None:
        is_decoy = (values[decoy].fillna(0) != 0).to_numpy()
        if is_decoy.any():
            note_choice("decoys", int(is_decoy.sum()), source=source, why="decoy rows removed")
        keep &= ~is_decoy
    for col, cut in filters.items():
        keep &= (values[col] <= cut).to_numpy()
    note_choice(
        "q_value_filters",
        dict(filters),
        source=source,
        why=f"{int(keep.sum())} of {len(keep)} precursor rows pass",
    )
    return keep


def report_runs(rows: pd.DataFrame, run: str, source: str) -> list[str]:
    """The runs of a long report in order of first appearance; an empty run cell is an error
    naming its lines."""
    import pandas as pd

    from ..errors import InputFormatError

    empty = rows[run].isna().to_numpy()
    if empty.any():
        lines = [int(v) for v in rows.index[empty][:10]]
        raise InputFormatError(f"{source}: empty {run!r} on line(s) {lines}.")
    return list(pd.unique(rows[run].astype(str)))


def one_per_run(
    long: pd.DataFrame, *, run: str, group: str, quantity: str, runs: Sequence[str], source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Protein-group quantities repeated on every precursor row of a long report, one per run.

    Returns ``(groups x runs values, first row of each group)`` with the groups in order of
    first appearance; a run/group pair whose rows disagree takes its first value (a warning and a
    provenance note say how many).
    """
    import pandas as pd

    from ._choices import note_choice

    pairs = long.drop_duplicates(subset=[run, group, quantity])
    clash = pairs.duplicated(subset=[run, group], keep=False)
    if clash.any():
        note_choice(
            "differing_quantities",
            int(clash.sum()),
            source=source,
            why=f"run/protein-group pairs with differing {quantity} across precursor rows: the "
            "first is used",
            level=logging.WARNING,
        )
    pairs = pairs.drop_duplicates(subset=[run, group])
    groups = pd.Index(pd.unique(pairs[group]))
    wide = pairs.pivot(index=group, columns=run, values=quantity)
    wide = wide.reindex(index=groups, columns=list(runs))
    first = pairs.drop_duplicates(subset=[group]).set_index(group).loc[groups]
    return wide.reset_index(drop=True), first.reset_index(names=group)


def precursor_runs(
    long: pd.DataFrame, *, run: str, group: str, precursor: str, quantity: str, runs: Sequence[str]
) -> tuple[np.ndarray, pd.Index, pd.DataFrame]:
    """Precursor quantities of a long report combined into protein groups with :func:`maxlfq`.

    Rows are pivoted to precursors x runs (a precursor seen twice in a run keeps its largest
    quantity, as ``diann_maxlfq`` does). Returns ``(groups x runs, group labels, first row of each
    group)``.
    """

    rows = long.dropna(subset=[quantity])
    rows = rows[rows[quantity] > 0]
    wide = rows.pivot_table(
        index=[group, precursor], columns=run, values=quantity, aggfunc="max", sort=False
    ).reindex(columns=list(runs))
    matrix, groups = precursors_to_groups(
        wide.to_numpy(dtype=np.float64), wide.index.get_level_values(0)
    )
    first = long.drop_duplicates(subset=[group]).set_index(group).reindex(groups)
    return matrix, groups, first.reset_index(names=group)


def peptide_counts(
    rows: pd.DataFrame,
    groups: pd.Index,
    *,
    group: str,
    sequence: str | None,
    precursor: str | None,
) -> dict[str, np.ndarray]:
    """``n_peptides`` (distinct ``sequence``) and ``n_precursors`` (distinct ``precursor``) per
    protein group (0 for a group without rows); without a sequence column ``n_peptides`` counts
    precursors."""
    out = {}
    for key, col in (("n_peptides", sequence), ("n_precursors", precursor)):
        if col is not None and col in rows:
            n = rows.groupby(group, sort=False)[col].nunique()
            out[key] = n.reindex(groups).fillna(0).to_numpy(dtype=np.int64)
    if "n_peptides" not in out and "n_precursors" in out:
        out["n_peptides"] = out["n_precursors"]
    return out
