rule study:
    """All modalities in one MuData (results/study.h5mu) with the shared sample sheet as its obs."""
    input:
        h5ad=expand("results/{modality}/biomarkers.h5ad", modality=MODALITIES),
        samples=SAMPLE_SHEET,
    output:
        "results/study.h5mu",
    params:
        inputs=" ".join(q(f"{m}={results_path(m, 'biomarkers.h5ad')}") for m in MODALITIES),
        samples=samples_flags(),
        join=JOIN,
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/study.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics study {params.inputs} --out {output:q} {params.samples} --join {params.join:q} "
        "2> {log:q}"
