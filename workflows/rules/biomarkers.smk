rule biomarkers:
    """Flag candidate withdrawal markers (prior candidates such as Rab35, HDAC2, H3K9ac, and new ones)."""
    input:
        h5ad="results/{modality}/differential.h5ad",
        candidates=config.get("biomarkers", {}).get("candidates", "config/candidates.tsv"),
    output:
        "results/{modality}/biomarkers.h5ad",
    params:
        alpha=biomarker_option("alpha"),
        lfc=biomarker_option("min_abs_log2fc"),
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/biomarkers/{modality}.log",
    priority: 5  # see rule figures
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics biomarkers {input.h5ad:q} {output:q} --candidates {input.candidates:q} "
        "--alpha {params.alpha:q} --min-abs-log2fc {params.lfc:q} 2> {log:q}"
