# Configuration and sample sheet: validated before any job runs.
import shlex

import pandas as pd
from snakemake.utils import validate

import kratom_omics as kom
from kratom_omics.errors import KratomOmicsError

validate(config, "../schemas/config.schema.yaml")

try:
    SAMPLES = kom.io.read_samples(config["samples"], phases=config["phases"])
except KratomOmicsError as exc:
    raise WorkflowError(f"sample sheet: {exc}") from None
validate(SAMPLES.reset_index(names="sample").astype(str), "../schemas/samples.schema.yaml")

MODALITIES = list(config["modalities"])
for _name, _mod in config["modalities"].items():
    if not Path(_mod["input"]).exists():
        raise WorkflowError(
            f"modalities.{_name}.input: {_mod['input']!r} does not exist; "
            "set it to your tool's output in config/config.yaml."
        )

wildcard_constraints:
    modality="|".join(MODALITIES),


def q(value):
    """Quote a value for the shell."""
    return shlex.quote(str(value))


def modality_config(wildcards):
    return config["modalities"][wildcards.modality]


def all_outputs():
    out = ["results/report.html"]
    for m in MODALITIES:
        out += [
            f"results/tables/{m}_differential.tsv",
            f"results/tables/{m}_biomarkers.tsv",
            f"results/figures/{m}_volcano.png",
        ]
    return out
