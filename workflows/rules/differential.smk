rule differential:
    """Linear models with empirical-Bayes moderation (limma) for every contrast, FDR-adjusted, then
    the candidate withdrawal markers flagged (prior candidates such as Rab35, HDAC2, H3K9ac, and new
    ones). Both steps run in one process (`kratom-omics steps`: the imports are paid once) and
    keep their outputs: differential.h5ad with the results, biomarkers.h5ad with the flags."""
    input:
        data="results/{modality}/preprocessed.h5ad",
        candidates=config.get("biomarkers", {}).get("candidates", "config/candidates.tsv"),
    output:
        differential="results/{modality}/differential.h5ad",
        biomarkers="results/{modality}/biomarkers.h5ad",
    params:
        differential=lambda w, input, output: (
            f"differential {q(input.data)} {q(output.differential)} {differential_flags(w)}"
        ),
        biomarkers=lambda w, input, output: (
            f"biomarkers {q(output.differential)} {q(output.biomarkers)} "
            f"--candidates {q(input.candidates)} --alpha {q(biomarker_option('alpha'))} "
            f"--min-abs-log2fc {q(biomarker_option('min_abs_log2fc'))}"
        ),
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
        "kratom-omics steps {params.differential:q} {params.biomarkers:q} 2> {log:q}"
