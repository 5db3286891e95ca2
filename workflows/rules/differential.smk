rule differential:
    """Linear models with empirical-Bayes moderation (limma) for every contrast, FDR-adjusted."""
    input:
        "results/{modality}/preprocessed.h5ad",
    output:
        "results/{modality}/differential.h5ad",
    params:
        flags=differential_flags,
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/differential/{modality}.log",
    priority: 4  # see rule figures
    threads: differential_threads
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "kratom-omics differential {input:q} {output:q} {params.flags} 2> {log:q}"
