"""Write panel_values.csv: a small western-blot-like panel (seeded numpy), input of make_reference.R."""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261127)
phases = ["control"] * 5 + ["use"] * 4 + ["withdrawal"] * 6
subjects = [f"R{i:02d}" for i in range(1, 6)] + [f"R{i:02d}" for i in (1, 2, 3, 4)]
subjects += [f"R{i:02d}" for i in (1, 2, 3, 4, 5, 6)]
effects = {  # log2 shift of use and withdrawal against control
    "H3K9ac": (-0.4, -1.0),
    "Hdac2": (0.2, 0.8),
    "Rab35": (0.3, 1.2),
    "H3": (0.0, 0.0),
}
shift = {"control": 0, "use": 1, "withdrawal": 2}
animal = {s: i for i, s in enumerate(sorted(set(subjects)))}
values = {}
for feature, (use, wd) in effects.items():
    mean = np.array([(0.0, use, wd)[shift[p]] for p in phases])
    subject_effect = rng.normal(0.0, 0.3, size=len(animal))  # repeated animals share an offset
    mean = mean + subject_effect[[animal[s] for s in subjects]]
    values[feature] = mean + rng.normal(0.0, 0.2, size=len(phases))
table = pd.DataFrame(values)
table.loc[[1, 10], "Rab35"] = np.nan  # missing values: one control, one withdrawal sample
table.insert(0, "subject", subjects)
table.insert(0, "phase", phases)
table.insert(0, "sample", [f"S{i:02d}" for i in range(1, len(phases) + 1)])
table.to_csv(Path(__file__).parent / "panel_values.csv", index=False, float_format="%.17g")
