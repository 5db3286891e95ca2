rule figures:
    """The report figures of one modality, drawn beside the other modalities' jobs (the report
    only assembles them), and its volcano plot of the withdrawal contrast (the last configured
    contrast naming withdrawal): the volcano panel of the report's figure, drawn once for both."""
    input:
        "results/{modality}/biomarkers.h5ad",
    output:
        figures="results/{modality}/report_figures.json",
        volcano=report(
            "results/figures/{modality}_volcano.png",
            caption="../report/volcano.rst",
            category="Figures",
            labels={"modality": "{modality}", "figure": "volcano"},
        ),
    params:
        contrast=next((c for c in config["contrasts"] if config["phases"][-1] in c), config["contrasts"][0]),
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/figures/{modality}.log",
    # Which ready job runs first: a modality's analysis before any figures (its later steps first:
    # load and preprocess 3 < differential and biomarkers 4), then figures 1, then the study 0.
    # Two modalities run through while the third starts on the core a figures job leaves free, so
    # the figures jobs spread over the run instead of queueing at its end.
    priority: 1
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "kratom-omics report-figures {wildcards.modality:q}={input:q} --out {output.figures:q} "
        "--volcano {output.volcano:q} --contrast {params.contrast:q} 2> {log:q}"


rule report:
    """One self-contained HTML report over all modalities, with every table as TSV in
    results/tables/ (the one table folder: differential, F test, candidates, samples, provenance);
    each modality's figures come from its figures job, the views across modalities are drawn here."""
    input:
        data=expand("results/{modality}/biomarkers.h5ad", modality=MODALITIES),
        figures=expand("results/{modality}/report_figures.json", modality=MODALITIES),
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
        figures=lambda w, input: " ".join(
            f"--figures-from {q(f'{m}={path}')}" for m, path in zip(MODALITIES, input.figures)
        ),
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
        "kratom-omics report {params.inputs} {params.figures} --out {output.html:q} "
        "--tables-dir {output.tables:q} --title {params.title} 2> {log:q}"
