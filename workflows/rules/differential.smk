def differential_flags(wildcards):
    d = config.get("differential", {})
    flags = [f"--contrast {q(c)}" for c in config["contrasts"]]
    flags += [f"--covariate {q(c)}" for c in d.get("covariates", [])]
    flags.append("--trend" if d.get("trend", False) else "--no-trend")
    flags.append("--robust" if d.get("robust", False) else "--no-robust")
    flags.append(f"--fdr {q(d.get('fdr', 'bh'))}")
    return " ".join(flags)


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
    log:
        "logs/differential/{modality}.log",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "kratom-omics differential {input:q} {output.h5ad:q} {params.flags} "
        "--table {output.table:q} --f-table {output.f_table:q} 2> {log:q}"
