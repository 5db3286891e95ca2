"""Run names as tools write them, reduced to the name a sample sheet uses.

One rule serves every loader and the sample-sheet matcher (:func:`normalize_run_name`), so a name
reduced by a loader (featureCounts' BAM columns, DIA-NN's run paths) and the same file named in a
sample sheet meet on the same sample name.
"""

from __future__ import annotations

import re

__all__ = ["normalize_run_name"]

_RUN_SUFFIXES = re.compile(
    r"(\.(raw|mzml|mzxml|wiff2?|d|dia|mgf|mzml\.gz|raw\.dia|quant|htrms|bam|sam|cram|bw|bigwig))+$",
    re.IGNORECASE,
)
_ALIGNMENT = re.compile(r"\.(bam|sam|cram)$", re.IGNORECASE)
# Steps of alignment pipelines that name their BAM files, each a word after '.', '_' or '-':
# sorting, duplicate marking/removal, filtering, the aligner, mapping-quality cut-offs.
_STEPS = (
    r"sorted|sort|srt|dedup|dedupped|deduplicated|markdup|markdups|mkdup|rmdup|nodup|filtered|"
    r"filt|bowtie2|bt2|bwa|aligned|mapped|uniq|unique|final|clean|q\d+|mapq\d+"
)
# Suffixes that only alignment pipelines write (removed from any name): STAR's
# ``Aligned.sortedByCoord.out`` / ``Aligned.out`` / ``Aligned.toTranscriptome.out`` (written right
# after the prefix, often without a separator), nf-core's ``.mLb.clN`` / ``.mRp.clN`` / ``.mLb.mkD``
# (merged library, cleaned / duplicates marked), and dot-separated pipeline steps (``.sorted``).
_PIPELINE = re.compile(
    r"(Aligned\.(sortedByCoord\.|toTranscriptome\.)?out"
    r"|\.m(Lb|Rp)(\.(clN|mkD))?|\.(clN|mkD)"
    rf"|\.({_STEPS}))+$",
    re.IGNORECASE,
)
# After an alignment extension (``S1_sorted.bam``) the steps may also follow '_' or '-'.
_ALIGNED_STEPS = re.compile(
    rf"(Aligned\.(sortedByCoord\.|toTranscriptome\.)?out|\.m(Lb|Rp)(\.(clN|mkD))?|\.(clN|mkD)"
    rf"|[._-]({_STEPS}))+$",
    re.IGNORECASE,
)


def normalize_run_name(name: str) -> str:
    """Reduce a run name or file path to the sample name: ``D:\\data\\S1.raw`` -> ``S1``.

    Removed, in order:

    - directories (``/`` or ``\\``);
    - file extensions of mass-spectrometry runs (``.raw``, ``.mzML``, ``.d``, ``.wiff``, ...),
      alignments (``.bam``, ``.sam``, ``.cram``) and signal tracks (``.bw``, ``.bigWig``);
    - suffixes of alignment pipelines: STAR's ``Aligned.sortedByCoord.out``
      (``S1_Aligned.sortedByCoord.out.bam`` -> ``S1``), nf-core's ``.mLb.clN``
      and ``.mRp.clN``, and processing steps after a dot (``.sorted``, ``.dedup``, ``.markdup``,
      ``.filtered``, ``.q30``, ...). In the name of an alignment file (``.bam``, ``.sam``,
      ``.cram``) the steps may also follow ``_`` or ``-`` (``rat_07_filtered.bam`` -> ``rat_07``).

    A name that would be reduced to nothing is kept as it was.

    Returns
    -------
    The sample name.
    """
    base = re.split(r"[\\/]", str(name).strip().rstrip("\\/"))[-1]
    aligned = bool(_ALIGNMENT.search(base))
    stem = _RUN_SUFFIXES.sub("", base)
    pattern = _ALIGNED_STEPS if aligned else _PIPELINE
    reduced = pattern.sub("", stem)
    if reduced != stem:
        reduced = reduced.rstrip("._-")
    return reduced or stem or base
