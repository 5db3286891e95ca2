rule volcano:
    """Volcano plot of the withdrawal contrast (the last configured contrast naming withdrawal)."""
    input:
        "results/{modality}/biomarkers.h5ad",
    output:
        report(
            "results/figures/{modality}_volcano.png",
            caption="../report/volcano.rst",
            category="Figures",
            labels={"modality": "{modality}", "figure": "volcano"},
        ),
    params:
        contrast=q(next((c for c in config["contrasts"] if config["phases"][-1] in c), config["contrasts"][0])),
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/plot/{modality}_volcano.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "kratom-omics plot volcano {input:q} {output:q} --contrast {params.contrast} 2> {log:q}"


rule report:
    """One self-contained HTML report over all modalities, with every table as TSV in
    results/tables/ (the one table folder: differential, F test, candidates, samples, provenance)."""
    input:
        expand("results/{modality}/biomarkers.h5ad", modality=MODALITIES),
    output:
        html=report("results/report.html", caption="../report/report.rst", category="Report"),
        tables=report(
            directory("results/tables"),
            patterns=["{name}.tsv"],
            caption="../report/tables.rst",
            category="Tables",
        ),
    params:
        inputs=" ".join(q(f"{m}={results_path(m, 'biomarkers.h5ad')}") for m in MODALITIES),
        title=q(config.get("report", {}).get("title", "kratom-omics report")),
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/report.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics report {params.inputs} --out {output.html:q} --tables-dir {output.tables:q} "
        "--title {params.title} 2> {log:q}"
