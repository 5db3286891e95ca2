rule fetch:
    """Download a result file or SDRF of a public dataset (PRIDE, MassIVE) named by source:.

    Runs on the submitting machine (cluster nodes often have no internet); an interrupted download
    resumes when the workflow runs again.
    """
    output:
        f"{DOWNLOADS}/{{accession}}/{{file}}",
    wildcard_constraints:
        accession=r"P[XR]D\d{6}|MSV\d{9}",
    localrule: True
    params:
        dest=lambda w, output: Path(output[0]).parents[len(Path(w.file).parts)],
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/fetch/{accession}/{file}.log",
    threads: 1
    resources:
        runtime=120,
    shell:
        "kratom-omics fetch {wildcards.accession:q} --files {wildcards.file:q} --no-sdrf "
        "--dest {params.dest:q} > {log:q} 2>&1"
