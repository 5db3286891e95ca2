rule preprocess:
    """Filter flagged and sparse features, transform, normalise and (only if asked) impute."""
    input:
        "results/{modality}/loaded.h5ad",
    output:
        "results/{modality}/preprocessed.h5ad",
    params:
        flags=preprocess_flags,
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/preprocess/{modality}.log",
    priority: 3  # see rule figures
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics preprocess {input:q} {output:q} {params.flags} 2> {log:q}"
