rule differential:
    """Linear models with empirical-Bayes moderation (limma) for every contrast, FDR-adjusted."""
    input:
        "results/{modality}/preprocessed.h5ad",
    output:
        h5ad="results/{modality}/differential.h5ad",
        table=report(
            "results/tables/{modality}_differential.tsv",
            caption="../report/differential.rst",
            category="Differential abundance",
            labels={"modality": "{modality}", "table": "moderated t"},
        ),
        f_table="results/tables/{modality}_differential_F.tsv",
    params:
        flags=differential_flags,
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/differential/{modality}.log",
    threads: differential_threads
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "kratom-omics differential {input:q} {output.h5ad:q} {params.flags} "
        "--table {output.table:q} --f-table {output.f_table:q} 2> {log:q}"
