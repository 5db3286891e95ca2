"""Study designs shared by the simulators: samples, phases, subjects, batches, time points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import DesignError

#: Markers planted in every protein simulation: (use effect, withdrawal effect) in log2 units.
PROTEIN_MARKERS: dict[str, tuple[float, float]] = {"Rab35": (0.4, 1.5), "Hdac2": (0.3, 1.0)}
#: Histone marks lowered by withdrawal: every peptidoform carrying the mark gets these log2 effects.
HISTONE_MARKERS: dict[str, tuple[float, float]] = {"H3K9ac": (-0.5, -1.2), "H4K12ac": (-0.4, -1.0)}


@dataclass(frozen=True)
class StudyDesign:
    """Phases in order, the withdrawal phase and its time points, and the per-sample table."""

    obs: pd.DataFrame
    phases: tuple[str, ...]
    withdrawal: str
    timepoints: tuple[float, ...]


def make_design(
    *,
    phases: Sequence[str] = DEFAULT_PHASES,
    n_per_phase: int = 6,
    timepoints: Sequence[float] | None = None,
    repeated: bool = False,
    n_batches: int = 2,
) -> StudyDesign:
    """Build the sample table of a simulated study.

    ``repeated=False`` gives one animal per sample; ``repeated=True`` samples each of ``n_per_phase``
    animals in every phase (and every withdrawal time point). With ``timepoints`` the last phase is
    followed at those times (``n_per_phase`` samples at each). Batches are assigned so that every batch
    holds every phase (a design in which batch is estimable as a covariate).
    """
    phases = tuple(str(p) for p in phases)
    if len(phases) < 2:
        raise DesignError(f"phases={list(phases)}: at least two phases are needed.")
    if n_per_phase < 2:
        raise DesignError(f"n_per_phase={n_per_phase}: at least two samples per phase are needed.")
    if n_batches < 1:
        raise DesignError(f"n_batches={n_batches}: expected 1 or more.")
    tps = tuple(float(t) for t in timepoints) if timepoints else ()
    withdrawal = phases[-1]
    rows = []
    next_subject = 1
    for phase in phases:
        slots: Sequence[float | None] = tps if (phase == withdrawal and tps) else (None,)
        for tp in slots:
            for i in range(n_per_phase):
                if repeated:
                    subject = f"R{i + 1:02d}"
                else:
                    subject = f"R{next_subject:02d}"
                    next_subject += 1
                tag = phase if tp is None else f"{phase}_d{tp:g}"
                rows.append(
                    {
                        "sample": f"{subject}_{tag}" if repeated else f"{tag}_{i + 1:02d}",
                        "phase": phase,
                        "subject": subject,
                        "timepoint": np.nan if tp is None else tp,
                        "slot": i,
                    }
                )
    obs = pd.DataFrame(rows).set_index("sample")
    obs.index.name = None
    obs["batch"] = [f"B{(slot % n_batches) + 1}" for slot in obs["slot"]]
    obs = obs.drop(columns="slot")
    obs["phase"] = pd.Categorical(obs["phase"], categories=list(phases), ordered=True)
    obs["subject"] = obs["subject"].astype("category")
    obs["batch"] = obs["batch"].astype("category")
    if not tps:
        obs = obs.drop(columns="timepoint")
    return StudyDesign(obs=obs, phases=phases, withdrawal=withdrawal, timepoints=tps)


def contrast_names(phases: Sequence[str]) -> list[str]:
    """The contrasts whose true effects a simulation records: each phase against the first, and the
    last phase against the one before it (withdrawal against use)."""
    ref = phases[0]
    names = [f"{p} - {ref}" for p in phases[1:]]
    if len(phases) > 2:
        names.append(f"{phases[-1]} - {phases[-2]}")
    return names


def truth_column(contrast: str) -> str:
    """Column of ``.var`` that holds the true log2 effect of ``contrast`` ("withdrawal - control" ->
    ``true_log2fc_withdrawal_vs_control``)."""
    a, b = (s.strip() for s in contrast.split(" - "))
    return f"true_log2fc_{a}_vs_{b}"


def rat_genes(n: int = 0) -> list[str]:
    """The shipped rat gene symbols, extended with LOC ids (as the rat genome names unnamed genes) to ``n``."""
    text = resources.files("kratom_omics.datasets").joinpath("rat_genes.txt").read_text()
    genes = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return genes + [f"LOC{100360000 + i}" for i in range(n - len(genes))]
