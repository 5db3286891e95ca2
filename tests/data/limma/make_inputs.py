"""Write the input matrices of the limma reference fixtures (run from this directory).

    python make_inputs.py && Rscript make_reference.R 3.54 && Rscript make_reference.R 3.62

Seeded, so re-running reproduces the committed CSVs byte for byte.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

rng = np.random.default_rng(20240611)


def write_matrix(name: str, y: np.ndarray, samples: list[str]) -> None:
    df = pd.DataFrame(y, index=[f"f{i:03d}" for i in range(y.shape[0])], columns=samples)
    df.index.name = "feature"
    df.to_csv(f"{name}.csv", float_format="%.17g", na_rep="NA")


def intensities(n_feat: int, groups: np.ndarray, effects: dict[int, float]) -> np.ndarray:
    mean = rng.uniform(18, 30, n_feat)
    sd = 0.15 + 1.5 / (mean - 15.0)  # mean-variance trend: low intensities are noisier
    sd *= np.sqrt(rng.chisquare(6, n_feat) / 6)
    y = mean[:, None] + sd[:, None] * rng.standard_normal((n_feat, groups.size))
    n_de = n_feat // 10
    for g, eff in effects.items():
        y[:n_de, groups == g] += eff * rng.choice([-1, 1], n_de)[:, None]
    return y


# two groups, 3 vs 3, complete
groups = np.repeat([0, 1], 3)
samples = [f"s{i + 1}" for i in range(6)]
pd.DataFrame({"sample": samples, "group": np.where(groups == 0, "A", "B")}).to_csv(
    "samples_two.csv", index=False
)
write_matrix("y_two", intensities(200, groups, {1: 1.5}), samples)

# three phases x 4, an unbalanced batch and subjects
phase = np.repeat([0, 1, 2], 4)
samples = [f"r{i + 1:02d}" for i in range(12)]
names = np.array(["control", "use", "withdrawal"])
batch = np.array(["b1", "b1", "b1", "b2", "b1", "b1", "b2", "b2", "b1", "b1", "b1", "b2"])
sheet = pd.DataFrame(
    {
        "sample": samples,
        "phase": names[phase],
        "batch": batch,
        "dose": np.round(rng.uniform(0, 5, 12), 3),
    }
)
sheet.to_csv("samples_phase.csv", index=False)

y = intensities(240, phase, {1: 0.8, 2: 1.6})
y[:, batch == "b2"] += 0.4
y[232:, :] += rng.standard_normal((8, 12)) * 3  # outlying variances for robust=TRUE
write_matrix("y_phase", y, samples)
w = rng.uniform(0.2, 2.0, y.shape)
write_matrix("weights_phase", w, samples)

yna = y.copy()
miss = rng.random(yna.shape) < 0.08
miss &= (yna < np.quantile(yna, 0.6)) | (rng.random(yna.shape) < 0.5)
yna[miss] = np.nan
yna[0, phase == 2] = np.nan  # whole withdrawal group missing
yna[1, :] = np.nan
yna[1, [0, 4, 8]] = y[1, [0, 4, 8]]  # one sample per phase: zero residual df
yna[2, batch == "b2"] = np.nan  # batch b2 absent: nuisance coefficient not estimable
yna[3, phase == 0] = np.nan  # control missing
yna[3, 4] = np.nan
yna[4, :] = np.nan
yna[4, [0, 1, 4, 5]] = y[4, [0, 1, 4, 5]]  # withdrawal missing and df 2
for i in range(5, 240):  # keep at least one value per feature
    if np.isnan(yna[i]).all():
        yna[i, 0] = y[i, 0]
write_matrix("y_phase_na", yna, samples)

# paired: 6 subjects, control then withdrawal
subject = np.tile([f"m{i + 1}" for i in range(6)], 2)
ph2 = np.repeat(["control", "withdrawal"], 6)
samples = [f"p{i + 1:02d}" for i in range(12)]
pd.DataFrame({"sample": samples, "phase": ph2, "subject": subject}).to_csv(
    "samples_paired.csv", index=False
)
yp = intensities(200, (ph2 == "withdrawal").astype(int), {1: 0.7})
yp += rng.normal(0, 1.0, (200, 6))[:, np.tile(np.arange(6), 2)]  # subject effects
write_matrix("y_paired", yp, samples)
