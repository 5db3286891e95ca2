rule load:
    """Read a tool output into AnnData and join the sample sheet (every mismatch is reported;
    bigWig tracks are summarised over their regions, each track file an input), then preprocess
    it: filter flagged and sparse features, transform, normalise and (only if asked) impute. Both
    steps run in one process (`kratom-omics steps`: the imports are paid once) and keep their
    outputs: loaded.h5ad as read, preprocessed.h5ad as analysed."""
    input:
        data=modality_input,
        samples=SAMPLE_SHEET,
        tracks=modality_tracks,
        regions=modality_regions,
    output:
        loaded="results/{modality}/loaded.h5ad",
        preprocessed="results/{modality}/preprocessed.h5ad",
    params:
        load=load_step,
        preprocess=lambda w, output: (
            f"preprocess {q(output.loaded)} {q(output.preprocessed)} {preprocess_flags(w)}"
        ),
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/load/{modality}.log",
    priority: 3  # see rule figures
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics steps {params.load:q} {params.preprocess:q} 2> {log:q}"
