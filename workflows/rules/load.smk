rule load:
    """Read a tool output into AnnData and join the sample sheet (every mismatch is reported);
    bigWig tracks are summarised over their regions (each track file is an input)."""
    input:
        data=modality_input,
        samples=SAMPLE_SHEET,
        tracks=modality_tracks,
        regions=modality_regions,
    output:
        "results/{modality}/loaded.h5ad",
    params:
        tracks=track_flags,
        format=lambda w: modality_config(w).get("format", "auto"),
        quantity=lambda w: (
            f"--quantity {q(modality_config(w)['quantity'])}" if modality_config(w).get("quantity") else ""
        ),
        sheet=lambda w: (
            f"--sheet {q(str(modality_config(w)['sheet']))}"
            if modality_config(w).get("sheet") not in (None, "")
            else ""
        ),
        samples=samples_flags(),
        join=JOIN,
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/load/{modality}.log",
    priority: 2  # see rule figures
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics load {input.data:q} {output:q} --format {params.format:q} {params.quantity} {params.sheet} "
        "{params.tracks} {params.samples} --join {params.join:q} 2> {log:q}"
