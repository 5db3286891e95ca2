def preprocess_flags(wildcards):
    pp = {
        "remove_flagged": True,
        "transform": "log2",
        "pseudocount": 0,
        "min_valid": 0.7,
        "valid_mode": "any_group",
        "normalize": "median",
        "impute": "none",
    }
    pp.update(modality_config(wildcards).get("preprocess", {}))
    flags = ["--remove-flagged" if pp["remove_flagged"] else "--no-remove-flagged"]
    for key in ("transform", "pseudocount", "min_valid", "valid_mode", "normalize", "impute"):
        flags.append(f"--{key.replace('_', '-')} {q(pp[key])}")
    return " ".join(flags)


rule preprocess:
    """Filter flagged and sparse features, transform, normalise and (only if asked) impute."""
    input:
        "results/{modality}/loaded.h5ad",
    output:
        "results/{modality}/preprocessed.h5ad",
    params:
        flags=preprocess_flags,
    log:
        "logs/preprocess/{modality}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "kratom-omics preprocess {input:q} {output:q} {params.flags} 2> {log:q}"
