"""Gene annotations (GTF/GFF3), promoters, gene bodies, nearest TSS and genome bins."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError
from kratom_omics.io._regions import annotate_nearest_gene, resolve_region_chroms

# Ensembl GTF lines (1-based, inclusive): a + gene, a - gene, a gene without a name
GTF = """#!genome-build mRatBN7.2
#!genome-version mRatBN7.2
12\tensembl\tgene\t40151001\t40170000\t.\t+\t.\tgene_id "ENSRNOG00000001311"; gene_version "7"; gene_name "Rab35"; gene_source "ensembl"; gene_biotype "protein_coding";
12\tensembl\ttranscript\t40151001\t40170000\t.\t+\t.\tgene_id "ENSRNOG00000001311"; transcript_id "ENSRNOT00000001745"; gene_name "Rab35";
12\tensembl\texon\t40151001\t40151300\t.\t+\t.\tgene_id "ENSRNOG00000001311"; transcript_id "ENSRNOT00000001745"; gene_name "Rab35"; exon_number "1";
20\tensembl\tgene\t44300001\t44330000\t.\t-\t.\tgene_id "ENSRNOG00000000584"; gene_version "8"; gene_name "Hdac2"; gene_source "ensembl"; gene_biotype "protein_coding";
20\tensembl\tgene\t500\t900\t.\t+\t.\tgene_id "ENSRNOG00000070001"; gene_version "1"; gene_source "ensembl"; gene_biotype "lncRNA";
MT\tensembl\tgene\t2740\t3694\t.\t+\t.\tgene_id "ENSRNOG00000029707"; gene_name "mt-Nd1"; gene_source "ensembl"; gene_biotype "protein_coding";
"""

GFF3 = """##gff-version 3
##sequence-region   12 1 46669029
12\tensembl\tgene\t40151001\t40170000\t.\t+\t.\tID=gene:ENSRNOG00000001311;Name=Rab35;biotype=protein_coding;gene_id=ENSRNOG00000001311;version=7
12\tensembl\tmRNA\t40151001\t40170000\t.\t+\t.\tID=transcript:ENSRNOT00000001745;Parent=gene:ENSRNOG00000001311;Name=Rab35-201
20\tensembl\tncRNA_gene\t44300001\t44330000\t.\t-\t.\tID=gene:ENSRNOG00000099999;Name=Snhg99;biotype=lncRNA
###
##FASTA
>12
ACGT
"""

# UCSC refGene-style GTF: no gene rows, two transcripts of one gene
UCSC_GTF = """chr12\trefGene\ttranscript\t40151001\t40160000\t.\t+\t.\tgene_id "Rab35"; transcript_id "NM_001"; gene_name "Rab35";
chr12\trefGene\texon\t40151001\t40151300\t.\t+\t.\tgene_id "Rab35"; transcript_id "NM_001"; gene_name "Rab35";
chr12\trefGene\ttranscript\t40150001\t40170000\t.\t+\t.\tgene_id "Rab35"; transcript_id "NM_002"; gene_name "Rab35";
"""


def test_read_gtf_gz_genes_and_tss(tmp_path: Path) -> None:
    path = tmp_path / "Rattus_norvegicus.mRatBN7.2.gtf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(GTF)
    genes = kom.io.read_annotation(path)
    assert list(genes.index) == [
        "ENSRNOG00000001311",
        "ENSRNOG00000000584",
        "ENSRNOG00000070001",
        "ENSRNOG00000029707",
    ]
    rab = genes.loc["ENSRNOG00000001311"]
    assert (rab["chrom"], rab["start"], rab["end"], rab["gene"]) == (
        "12",
        40151000,
        40170000,
        "Rab35",
    )
    assert rab["tss"] == 40151000  # + strand: first base (0-based)
    hdac = genes.loc["ENSRNOG00000000584"]
    assert hdac["tss"] == 44329999  # - strand: last base
    assert genes.loc["ENSRNOG00000070001", "gene"] == "ENSRNOG00000070001"  # no name: the id
    assert genes.loc["ENSRNOG00000070001", "biotype"] == "lncRNA"


def test_read_gff3_with_fasta_section(tmp_path: Path) -> None:
    path = tmp_path / "genes.gff3"
    path.write_text(GFF3)
    genes = kom.io.read_annotation(path)
    assert list(genes.index) == ["ENSRNOG00000001311", "ENSRNOG00000099999"]  # gene: stripped
    assert genes["gene"].tolist() == ["Rab35", "Snhg99"]
    assert genes["tss"].tolist() == [40151000, 44329999]


def test_ucsc_gtf_genes_from_transcripts(tmp_path: Path) -> None:
    path = tmp_path / "refGene.gtf"
    path.write_text(UCSC_GTF)
    genes = kom.io.read_annotation(path)
    assert genes.shape[0] == 1
    assert (genes["start"].iat[0], genes["end"].iat[0]) == (40150000, 40170000)


def test_promoters_and_bodies_strand_aware(tmp_path: Path) -> None:
    path = tmp_path / "genes.gtf"
    path.write_text(GTF)
    prom = kom.io.read_regions(path, upstream=2000, downstream=500)
    # + gene, TSS 40151000: [TSS - 2000, TSS + 500)
    assert prom.loc["Rab35_promoter", ["start", "end"]].tolist() == [40149000, 40151500]
    # - gene, TSS 44329999: upstream lies to the right: [TSS - 500 + 1, TSS + 2000 + 1)
    assert prom.loc["Hdac2_promoter", ["start", "end"]].tolist() == [44329500, 44332000]
    # near the chromosome start the window is cut at 0
    assert prom.loc["ENSRNOG00000070001_promoter", "start"] == 0
    assert (prom["end"] - prom["start"]).loc["Rab35_promoter"] == 2500
    assert prom.loc["Hdac2_promoter", "gene_id"] == "ENSRNOG00000000584"
    body = kom.io.read_regions(path, feature="gene_body")
    assert body.loc["Hdac2_body", ["start", "end"]].tolist() == [44300000, 44330000]


def test_bad_gtf_coordinates_name_the_line(tmp_path: Path) -> None:
    bad = GTF.replace(
        "40151001\t40170000\t.\t+\t.\tgene_id", "40171001\t40170000\t.\t+\t.\tgene_id", 1
    )
    path = tmp_path / "bad.gtf"
    path.write_text(bad)
    with pytest.raises(InputFormatError, match=r"bad\.gtf'?: line 3 has start '40171001'"):
        kom.io.read_annotation(path)
    path.write_text(GTF.replace("\t44300001\t", "\tabc\t"))
    with pytest.raises(InputFormatError, match=r"line 6 has start 'abc'.*1-based integers"):
        kom.io.read_annotation(path)
    path.write_text("12\tensembl\tgene\t1\t10\n")
    with pytest.raises(InputFormatError, match="line 1 has fewer than 9 tab-separated columns"):
        kom.io.read_annotation(path)


def test_bed_regions_take_nearest_tss_within_distance(tmp_path: Path) -> None:
    gtf = tmp_path / "genes.gtf"
    gtf.write_text(GTF)
    bed = tmp_path / "peaks.bed"
    bed.write_text(
        "track name=peaks\n"
        "chr12\t40150000\t40150500\tp1\n"  # 500 bases before Rab35's TSS (40151000)
        "chr12\t40150900\t40151200\tp2\n"  # holds the TSS: distance 0
        "chr12\t40100000\t40100100\tp3\n"  # 50 kb away: no gene
        "chr20\t44335000\t44335100\tp4\n"  # 5001 bases right of Hdac2's TSS (44329999)
        "chrM\t2800\t2900\tp5\n"  # MT in the GTF
    )
    reg = kom.io.read_regions(bed, annotation=gtf, max_distance=5001)
    assert reg["gene"].tolist() == ["Rab35", "Rab35", "", "Hdac2", "mt-Nd1"]
    assert reg["tss_distance"].tolist() == [501, 0, -1, 5001, 61]
    reg = kom.io.read_regions(bed, annotation=gtf, max_distance=5000)
    assert reg.loc["p4", "gene"] == ""


def test_nearest_tss_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    genes = pd.DataFrame(
        {
            "chrom": rng.choice(["chr1", "chr2"], 300),
            "tss": rng.integers(0, 1_000_000, 300),
            "gene": [f"g{i}" for i in range(300)],
            "gene_id": [f"G{i}" for i in range(300)],
        }
    )
    s = rng.integers(0, 1_000_000, 500)
    regions = pd.DataFrame(
        {
            "chrom": rng.choice(["chr1", "chr2"], 500),
            "start": s,
            "end": s + rng.integers(1, 3000, 500),
        }
    )
    got = annotate_nearest_gene(regions, genes, max_distance=2000)
    for i in range(len(regions)):
        g = genes[genes["chrom"] == regions["chrom"].iat[i]]
        t = g["tss"].to_numpy()
        a, b = regions["start"].iat[i], regions["end"].iat[i]
        d = np.where(t < a, a - t, np.where(t >= b, t - b + 1, 0))
        best = d.min()
        expect = best if best <= 2000 else -1
        assert got["tss_distance"].iat[i] == expect
        if expect >= 0:
            assert got["gene"].iat[i] in set(g["gene"].to_numpy()[d == best])


def test_resolve_chrom_names() -> None:
    track = ["chr1", "chr2", "chrX", "chrM"]
    assert resolve_region_chroms(track, ["1", "chrX", "MT", "Un1"]) == {
        "1": "chr1",
        "chrX": "chrX",
        "MT": "chrM",
    }
    assert resolve_region_chroms(["1", "MT"], ["chr1", "chrM"]) == {"chr1": "1", "chrM": "MT"}
    assert resolve_region_chroms(track, ["NC_005100.4"], {"NC_005100.4": "chr1"}) == {
        "NC_005100.4": "chr1"
    }


def test_genome_bins(tmp_path: Path) -> None:
    bins = kom.io.genome_bins({"chr1": 12_000, "chr2": 5_000}, 5000)
    assert bins.shape == (4, 3)
    assert bins.loc["chr1:10000-12000", "end"] == 12_000  # last bin ends at the chromosome end
    sizes = tmp_path / "rn7.chrom.sizes"
    sizes.write_text("chr1\t12000\nchr2\t5000\n")
    pd.testing.assert_frame_equal(kom.io.genome_bins(sizes, 5000), bins)
    sliding = kom.io.genome_bins({"chr1": 10_000}, 5000, step=2500)
    assert sliding["start"].tolist() == [0, 2500, 5000, 7500]
    with pytest.raises(InputFormatError, match="width=0"):
        kom.io.genome_bins({"chr1": 10}, 0)


def test_region_table_checks() -> None:
    with pytest.raises(InputFormatError, match=r"no column\(s\) \['end'\]"):
        kom.io.read_regions(pd.DataFrame({"chrom": ["chr1"], "start": [0]}))
    with pytest.raises(InputFormatError, match="start -5 and end 10; regions are 0-based"):
        kom.io.read_regions(pd.DataFrame({"chrom": ["chr1"], "start": [-5], "end": [10]}))
    with pytest.raises(InputFormatError, match="has end 'x'; expected an integer"):
        kom.io.read_regions(pd.DataFrame({"chrom": ["chr1"], "start": [0], "end": ["x"]}))
    reg = kom.io.read_regions(pd.DataFrame({"chrom": ["chr1"], "start": [0], "end": [10]}))
    assert list(reg.index) == ["chr1:0-10"]
