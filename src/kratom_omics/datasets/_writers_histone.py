"""Write simulated histone data in the formats real tools produce.

:func:`write_epiprofile` writes an EpiProfile 2.0 ``histone_ratios.xls`` (and optionally the
single-PTM
table); :func:`write_densitometry` writes a western-blot densitometry table. The readers
:func:`kratom_omics.io.read_epiprofile` and :func:`kratom_omics.io.read_densitometry` read them
back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._core import get_matrix
from .._files import atomic_path, atomic_write_text
from ..errors import InputFormatError, KeyNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["write_densitometry", "write_epiprofile", "write_featurecounts", "write_peaks"]

#: Single marks EpiProfile 2.0 reports in ``histone_ratios_single_PTMs.xls`` (H3 and H4), in its
#: order.
SINGLE_PTM_TARGETS: tuple[str, ...] = (
    "H3K4me1", "H3K4me2", "H3K4me3", "H3K4ac", "H3K9me1", "H3K9me2", "H3K9me3", "H3K9ac",
    "H3S10ph", "H3K14ac", "H3K18me1", "H3K18ac", "H3K23me1", "H3K23ac",
    "H31K27me1", "H31K27me2", "H31K27me3", "H31K27ac", "H31K36me1", "H31K36me2", "H31K36me3",
    "H33K27me1", "H33K27me2", "H33K27me3", "H33K27ac", "H33K36me1", "H33K36me2", "H33K36me3",
    "H3K56me1", "H3K56me2", "H3K56me3", "H3K56ac", "H3K79me1", "H3K79me2", "H3K79me3", "H3K79ac",
    "H3K122ac", "H4K5ac", "H4K8ac", "H4K12ac", "H4K16ac", "H4K20me1", "H4K20me2", "H4K20me3",
    "H4K20ac",
)  # fmt: skip


def _rt_default(var: pd.DataFrame) -> np.ndarray:
    """Plausible retention times (min): families elute in order, forms a little apart."""
    fam = var["peptide_family"].astype(str).to_numpy()
    codes = pd.factorize(fam)[0]
    within = pd.Series(np.ones(len(fam))).groupby(codes).cumsum().to_numpy() - 1
    return 12.0 + 4.0 * codes + 0.35 * within


def write_epiprofile(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    ratio_layer: str | None = "raw",
    area_layer: str | None = "area",
    rt_layer: str | None = "rt",
    single_ptms_path: str | os.PathLike | None = None,
) -> Path:
    """Write histone peptidoform ratios as EpiProfile 2.0's ``histone_ratios.xls``.

    Parameters
    ----------
    adata
        Samples x peptidoforms with ``.var`` columns ``peptide_family`` (``H3_9_17``), ``sequence``
        and ``peptidoform`` (``K9ac``, ``unmod``), e.g.
        ``kom.datasets.simulate(modality="histone")``.
    path
        Output file: tab-separated text with CRLF line ends, as EpiProfile writes it (whatever
        the name, ``histone_ratios.xls`` included); a ``.xlsx`` name writes the table as Excel
        saves it when the text is opened and saved as a workbook (one sheet named after the file,
        numbers as number cells).
    ratio_layer, area_layer, rt_layer
        Layers holding ratios, peak areas and retention times (``None`` = ``.X`` for ratios). Areas
        default to the ratios times 1e9 and retention times to evenly spaced values when the layer
        is absent.
    single_ptms_path
        Also write ``histone_ratios_single_PTMs.xls`` here: the summed ratio of every form carrying
        each single mark, for the marks EpiProfile reports.

    Returns
    -------
    The path written. Missing values (NaN) are written as 0, as EpiProfile writes undetected forms.
    """
    need = ["peptide_family", "sequence", "peptidoform"]
    missing = [c for c in need if c not in adata.var.columns]
    if missing:
        raise KeyNotFoundError(
            f"write_epiprofile: adata.var lacks column(s) {missing}; expected peptidoform "
            "annotations as "
            "written by kom.datasets.simulate(modality='histone') or kom.io.read_epiprofile."
        )
    ratio = get_matrix(adata, ratio_layer)
    area = (
        get_matrix(adata, area_layer)
        if area_layer is not None and area_layer in adata.layers
        else ratio * 1e9
    )
    var = adata.var
    if rt_layer is not None and rt_layer in adata.layers:
        rt = get_matrix(adata, rt_layer)
    else:
        rt = np.broadcast_to(_rt_default(var), ratio.shape)
    ratio = np.nan_to_num(ratio, nan=0.0)
    area = np.nan_to_num(area, nan=0.0)
    rt = np.nan_to_num(rt, nan=0.0)
    runs = [str(s) for s in adata.obs_names]
    bad = [r for r in runs if "\t" in r or "\n" in r]
    if bad:
        raise InputFormatError(
            f"write_epiprofile: sample name(s) {bad} contain a tab or line break."
        )
    run_cells = [f"{i},{r}" for i, r in enumerate(runs, start=1)]
    n = len(runs)
    lines = [
        "\t".join(["", *run_cells, "", *run_cells, "", *run_cells]),
        "\t".join(["Peptide", *["Ratio"] * n, "", *["Area"] * n, "", *["RT(min)"] * n]),
    ]
    fam = var["peptide_family"].astype(str).to_numpy()
    order = np.argsort(pd.factorize(fam)[0], kind="stable")
    current = None
    for g in order:
        family = fam[g]
        if family != current:
            lines.append(f"{var['sequence'].iloc[g]}({family})")
            current = family
        cells = [f"{family} {var['peptidoform'].iloc[g]}"]
        cells += [f"{v:f}" for v in ratio[:, g]]
        cells.append("")
        cells += [f"{v:e}" for v in area[:, g]]
        cells.append("")
        cells += [f"{v:.2f}" for v in rt[:, g]]
        lines.append("\t".join(cells))
    out = Path(path)
    if out.suffix.lower() == ".xlsx":
        _write_workbook(lines, out)
    else:
        atomic_write_text("\r\n".join(lines) + "\r\n", out, newline="")
    if single_ptms_path is not None:
        _write_single_ptms(ratio, var, run_cells, Path(single_ptms_path))
    return out


def _write_workbook(lines: list[str], path: Path) -> None:
    """Tab-separated lines as one sheet of an .xlsx, numbers as number cells (as Excel converts
    them when it opens the text)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = path.stem[:31]
    for line in lines:
        row: list[str | float | None] = []
        for cell in line.split("\t"):
            try:
                row.append(float(cell))
            except ValueError:
                row.append(cell or None)
        sheet.append(row)
    with atomic_path(path) as tmp:
        book.save(tmp)


def _write_single_ptms(
    ratio: np.ndarray, var: pd.DataFrame, run_cells: list[str], path: Path
) -> None:
    from ..io._epiprofile import parse_marks

    fam = var["peptide_family"].astype(str).to_numpy()
    forms = var["peptidoform"].astype(str).to_numpy()
    prefix = np.array([f.split("_")[0] for f in fam])
    # one row per (prefix, residue, modification) of each form; EpiProfile calls H3 K27/K36 "H31"
    keys = [
        [("H31" if p == "H3" and r in ("K27", "K36") else p) + r + m for r, m in parse_marks(f)]
        for p, f in zip(prefix, forms, strict=True)
    ]
    indicator = np.array([[t in k for k in keys] for t in SINGLE_PTM_TARGETS], dtype=np.float64)
    sums = indicator @ ratio.T
    lines = ["\t".join(["", *run_cells])]
    for t, row in zip(SINGLE_PTM_TARGETS, sums, strict=True):
        lines.append("\t".join([t, *(f"{v:f}" for v in row)]))
    atomic_write_text("\r\n".join(lines) + "\r\n", path, newline="")


def write_densitometry(table: pd.DataFrame | AnnData, path: str | os.PathLike) -> Path:
    """Write a long western-blot densitometry table (one row per sample, target and blot).

    Parameters
    ----------
    table
        The long table (columns ``sample``, ``target``, ``signal``, ``blot``, ``normalizer``,
        ``normalizer_signal``) or an AnnData holding it in ``.uns["densitometry"]`` as
        ``kom.datasets.simulate(modality="histone", assay="western")`` returns it.
    path
        ``.csv`` (comma-separated) or any other name (tab-separated).

    Returns
    -------
    The path written.
    """
    if not isinstance(table, pd.DataFrame):
        uns = getattr(table, "uns", {})
        if "densitometry" not in uns:
            raise KeyNotFoundError(
                "write_densitometry: the AnnData has no .uns['densitometry'] table; pass the long "
                "table "
                "or an object from kom.datasets.simulate(modality='histone', assay='western')."
            )
        table = pd.DataFrame(uns["densitometry"])
    required = ["sample", "target", "signal", "blot"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise KeyNotFoundError(
            f"write_densitometry: table lacks column(s) {missing}; expected {required} plus the "
            "normaliser."
        )
    out = Path(path)
    sep = "," if out.suffix.lower() == ".csv" else "\t"
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep=sep, index=False)
    return out


def write_featurecounts(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    layer: str | None = "raw",
    program: str = "featureCounts v2.0.3",
    summary: bool = False,
    zero_based_starts: bool = False,
) -> Path:
    """Write read counts as a featureCounts table (``counts.txt``).

    Parameters
    ----------
    adata
        Samples x regions counts with ``.var`` columns ``chrom``, ``start`` (0-based), ``end``,
        ``strand`` and ``length`` (e.g. ``kom.datasets.simulate(modality="histone",
        assay="counts")``); the BAM column names come from ``.obs["bam"]`` or ``<sample>.bam``.
    path
        Output file.
    layer
        Layer holding the counts (``None`` = ``.X``).
    program
        Program and version written on the comment line.
    summary
        Also write ``<path>.summary`` as featureCounts does: ``Assigned`` = each sample's total
        count, the other statuses made up (``Unassigned_NoFeatures`` about as many reads again,
        ``Unassigned_MultiMapping`` a tenth, every other status 0), one column per BAM file.
    zero_based_starts
        Write the 0-based starts of ``.var`` as ``Start`` (what featureCounts gives for a SAF
        made from BED coordinates without adding 1, as nf-core pipelines make it), so a region
        starting at 0 has ``Start`` 0.

    Returns
    -------
    The path written (tab-separated; 1-based inclusive coordinates, as featureCounts writes them).
    """
    need = ["chrom", "start", "end"]
    missing = [c for c in need if c not in adata.var.columns]
    if missing:
        raise KeyNotFoundError(f"write_featurecounts: adata.var lacks column(s) {missing}.")
    counts = get_matrix(adata, layer)
    if np.isnan(counts).any() or (counts != np.round(counts)).any():
        raise InputFormatError(
            "write_featurecounts: the counts hold missing or fractional values; pass layer= naming "
            "the integer read counts."
        )
    var = adata.var
    bams = (
        [str(b) for b in adata.obs["bam"]]
        if "bam" in adata.obs.columns
        else [f"{s}.bam" for s in adata.obs_names]
    )
    start = var["start"].to_numpy(dtype=np.int64) + (0 if zero_based_starts else 1)
    end = var["end"].to_numpy(dtype=np.int64)
    table = pd.DataFrame(
        {
            "Geneid": list(adata.var_names),
            "Chr": var["chrom"].astype(str).to_numpy(),
            "Start": start,
            "End": end,
            "Strand": var["strand"].astype(str).to_numpy() if "strand" in var.columns else "+",
            "Length": var["length"].to_numpy(dtype=np.int64)
            if "length" in var.columns
            else end - start + 1,
        }
    )
    for j, bam in enumerate(bams):
        table[bam] = counts[j].astype(np.int64)
    out = Path(path)
    command = " ".join(
        f'"{a}"' for a in ["featureCounts", "-a", "regions.saf", "-F", "SAF", "-o", out.name, *bams]
    )
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as fh:
        fh.write(f"# Program:{program}; Command:{command}\n")
        table.to_csv(fh, sep="\t", index=False, lineterminator="\n")
    if summary:
        _write_summary(counts.sum(axis=1), bams, out.with_name(out.name + ".summary"))
    return out


#: The statuses of featureCounts 2.0's ``.summary``, in its order.
SUMMARY_STATUSES: tuple[str, ...] = (
    "Assigned", "Unassigned_Unmapped", "Unassigned_Read_Type", "Unassigned_Singleton",
    "Unassigned_MappingQuality", "Unassigned_Chimera", "Unassigned_FragmentLength",
    "Unassigned_Duplicate", "Unassigned_MultiMapping", "Unassigned_Secondary",
    "Unassigned_NonSplit", "Unassigned_NoFeatures", "Unassigned_Overlapping_Length",
    "Unassigned_Ambiguity",
)  # fmt: skip


def _write_summary(assigned: np.ndarray, bams: list[str], path: Path) -> None:
    made_up = {
        "Assigned": assigned,
        "Unassigned_NoFeatures": np.round(assigned * 0.9),
        "Unassigned_MultiMapping": np.round(assigned * 0.1),
    }
    lines = ["\t".join(["Status", *bams])]
    for status in SUMMARY_STATUSES:
        values = made_up.get(status, np.zeros(len(bams)))
        lines.append("\t".join([status, *(str(int(v)) for v in values)]))
    atomic_write_text("\n".join(lines) + "\n", path, newline="")


def write_peaks(
    peaks: pd.DataFrame,
    path: str | os.PathLike,
    *,
    kind: str = "narrowPeak",
    name: str = "MACS",
) -> Path:
    """Write peaks as MACS2/MACS3 writes them: narrowPeak, broadPeak, gappedPeak, summits.bed or
    peaks.xls.

    Parameters
    ----------
    peaks
        One row per peak with ``chrom``, ``start`` (0-based), ``end`` and optionally ``name``,
        ``signal_value`` (fold enrichment), ``p_value`` and ``q_value`` (-log10) and ``peak``
        (summit offset from ``start``); missing ones are made up (the summit in the middle,
        fold enrichment 2, -log10 p 5, -log10 q 3).
    path
        Output file.
    kind
        ``"narrowPeak"`` (BED6+4, score ``int(10 * q_value)`` as MACS2 writes it), ``"broadPeak"``
        (BED6+3), ``"gappedPeak"`` (BED12+3 with one block spanning the peak, itemRgb ``0``),
        ``"summits"`` (BED5: the summit base, the name and the q-value as a float) or ``"xls"``
        (MACS2's tab-separated ``peaks.xls``: ``#`` lines with the command and parameters, a blank
        line, then the header and 1-based starts and summits).
    name
        The experiment name in the peak names (``<name>_peak_<n>``) and the xls header.

    Returns
    -------
    The path written.
    """
    kinds = ("narrowPeak", "broadPeak", "gappedPeak", "summits", "xls")
    if kind not in kinds:
        raise InputFormatError(f"write_peaks: kind={kind!r}; expected one of {list(kinds)}.")
    need = [c for c in ("chrom", "start", "end") if c not in peaks.columns]
    if need:
        raise KeyNotFoundError(f"write_peaks: the peak table lacks column(s) {need}.")
    n = len(peaks)
    chrom = peaks["chrom"].astype(str).to_numpy()
    start = peaks["start"].to_numpy(dtype=np.int64)
    end = peaks["end"].to_numpy(dtype=np.int64)

    def column(col: str, default: np.ndarray) -> np.ndarray:
        return peaks[col].to_numpy() if col in peaks.columns else default

    names = column("name", np.array([f"{name}_peak_{i + 1}" for i in range(n)], dtype=object))
    fold = column("signal_value", np.full(n, 2.0)).astype(np.float64)
    p = column("p_value", np.full(n, 5.0)).astype(np.float64)
    q = column("q_value", np.full(n, 3.0)).astype(np.float64)
    summit = column("peak", (end - start) // 2).astype(np.int64)
    score = (10 * q).astype(np.int64)
    rows: list[str] = []
    for i in range(n):
        bed6 = [chrom[i], str(start[i]), str(end[i]), str(names[i]), str(score[i]), "."]
        stats = [f"{fold[i]:.5f}", f"{p[i]:.5f}", f"{q[i]:.5f}"]
        if kind == "narrowPeak":
            rows.append("\t".join([*bed6, *stats, str(summit[i])]))
        elif kind == "broadPeak":
            rows.append("\t".join([*bed6, *stats]))
        elif kind == "gappedPeak":
            blocks = [str(start[i]), str(end[i]), "0", "1", str(end[i] - start[i]), "0"]
            rows.append("\t".join([*bed6, *blocks, *stats]))
        elif kind == "summits":
            s = start[i] + summit[i]
            rows.append("\t".join([chrom[i], str(s), str(s + 1), str(names[i]), f"{q[i]:.5f}"]))
        else:
            length = end[i] - start[i]
            pileup = f"{fold[i] * 10:.2f}"
            cells = [chrom[i], str(start[i] + 1), str(end[i]), str(length)]
            cells += [str(start[i] + summit[i] + 1), pileup, *stats[1:2], stats[0], stats[2]]
            rows.append("\t".join([*cells, str(names[i])]))
    if kind == "xls":
        header = [
            "# This file is generated by MACS version 2.2.9.1",
            f"# Command line: callpeak -t {name}.bam -f BAM -g hs -n {name}",
            "# ARGUMENTS LIST:",
            f"# name = {name}",
            "# format = BAM",
            "# qvalue cutoff = 5.00e-02",
            "",
            "# tag size is determined as 50 bps",
            "# total tags in treatment: 1000000",
            "# d = 200",
            "chr\tstart\tend\tlength\tabs_summit\tpileup\t-log10(pvalue)\tfold_enrichment\t"
            "-log10(qvalue)\tname",
        ]
        rows = header + rows
    out = Path(path)
    atomic_write_text("\n".join(rows) + "\n", out, newline="")
    return out
