"""Files users pass as data that are not data: recognised, and refused with what to do instead.

These records have no reader; their detectors run after the data formats', so a file is refused
here only when no reader claims it.
"""

from __future__ import annotations

import re

from ._format import Format, Probe

__all__ = ["OTHER_FILES"]


def _sample_sheet(pr: Probe) -> bool:
    """a sample sheet: a sample/run column and a phase/group/condition column"""
    cols = {c.lower() for c in pr.columns}
    named = bool(cols & {"sample", "sample name", "raw.file", "raw file", "run", "sample_id"})
    grouped = bool(cols & {"phase", "group", "condition", "bioreplicate", "treatment"})
    measured = any("intensity" in c or "abundance" in c for c in cols)
    return named and grouped and not measured and len(cols) <= 30


_MSSTATS = {"ProteinName", "PeptideSequence", "PrecursorCharge", "Run", "Intensity"}


def _sdrf(pr: Probe) -> bool:
    """SDRF: 'source name' and 'characteristics[...]' columns"""
    cols = {c.lower() for c in pr.columns}
    return "source name" in cols and any(c.startswith("characteristics[") for c in cols)


def _msstats(pr: Probe) -> bool:
    """MSstats input: 'ProteinName', 'PeptideSequence', 'PrecursorCharge', 'Run', 'Intensity'
    columns"""
    return pr.colset >= _MSSTATS


def _featurecounts_summary(pr: Probe) -> bool:
    """featureCounts .summary: 'Status' column with 'Assigned', 'Unassigned_*' rows"""
    first = pr.row(1)
    return bool(pr.columns) and pr.columns[0] == "Status" and bool(first) and first[0] == "Assigned"


_INT = re.compile(r"^\d+$")


def _bed(pr: Probe) -> bool:
    """BED/MACS2 peaks: chromosome, start and end columns without a header (or MACS2's
    peaks.xls header 'chr start end length ...')"""
    if pr.columns[:4] == ["chr", "start", "end", "length"]:
        return True
    rows = [r for r in (pr.row(i) for i in range(min(5, len(pr.content)))) if r]
    return bool(rows) and all(
        len(r) >= 3 and _INT.match(r[1]) and _INT.match(r[2]) and r[0] for r in rows
    )


OTHER_FILES: tuple[Format, ...] = (
    Format(
        name="sdrf",
        label="SDRF sample metadata",
        reader=None,
        detect=_sdrf,
        refuse="an SDRF file describes samples, it holds no measurements: pass it as the sample "
        "sheet (samples=, CLI --samples) and the tool's quantification table as the data.",
    ),
    Format(
        name="sample_sheet",
        label="sample sheet",
        reader=None,
        detect=_sample_sheet,
        refuse="this looks like a sample sheet (sample and group columns), not a table of "
        "measurements: pass it as samples= (CLI --samples) and the tool's output as the data.",
    ),
    Format(
        name="msstats",
        label="MSstats input",
        reader=None,
        detect=_msstats,
        refuse="this is an MSstats input table (one row per peptide, charge and run), not a "
        "protein table: pass the tool's protein-level output (FragPipe combined_protein.tsv, "
        "MaxQuant proteinGroups.txt, ...).",
    ),
    Format(
        name="featurecounts_summary",
        label="featureCounts summary",
        reader=None,
        detect=_featurecounts_summary,
        refuse="this is featureCounts' .summary (read assignment statistics), not the counts: pass "
        "the counts table featureCounts wrote beside it (the same name without .summary; the "
        "summary's statuses then become .obs columns), or read it alone with "
        "kom.io.read_featurecounts_summary(path).",
    ),
    Format(
        name="bed",
        label="BED / MACS2 peaks",
        reader=None,
        detect=_bed,
        refuse="this is a BED/MACS2 peak file (regions, not counts per sample): read it with "
        "kom.io.read_peaks(path), or count reads in the peaks with featureCounts and read the "
        "counts table.",
    ),
)
