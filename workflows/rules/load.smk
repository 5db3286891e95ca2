rule load:
    """Read a tool output into AnnData and join the sample sheet (every mismatch is reported)."""
    input:
        data=modality_input,
        samples=SAMPLE_SHEET,
    output:
        "results/{modality}/loaded.h5ad",
    params:
        format=lambda w: modality_config(w).get("format", "auto"),
        quantity=lambda w: (
            f"--quantity {q(modality_config(w)['quantity'])}" if modality_config(w).get("quantity") else ""
        ),
        samples=samples_flags(),
        join=JOIN,
    conda:
        "../envs/kratom-omics.yaml"
    log:
        "logs/load/{modality}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics load {input.data:q} {output:q} --format {params.format:q} {params.quantity} "
        "{params.samples} --join {params.join:q} 2> {log:q}"
