"""Named experiments. ``CATALOG`` maps a name to its :class:`ExperimentSpec`."""

from __future__ import annotations

from experiments.catalog import (
    baseline,
    black_thursday,
    governance_sweep,
    hedging_frequency,
    options_amm_stress,
    recalibration_policies,
)
from experiments.spec import ExperimentSpec

__all__ = ["CATALOG", "SWEEPS", "get"]

CATALOG: dict[str, ExperimentSpec] = {
    baseline.SPEC.name: baseline.SPEC,
    black_thursday.SPEC.name: black_thursday.SPEC,
    recalibration_policies.SPEC.name: recalibration_policies.SPEC,
    hedging_frequency.SPEC.name: hedging_frequency.SPEC,
    options_amm_stress.SPEC.name: options_amm_stress.SPEC,
}

# Named sweeps (experiments/sweep.py), run with ``cascadelab sweep NAME``.
SWEEPS = {governance_sweep.SWEEP.name: governance_sweep.SWEEP}


def get(name: str) -> ExperimentSpec:
    """The catalog entry ``name``; a ``KeyError`` lists the known names."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(
            f"unknown experiment {name!r}; known: {', '.join(sorted(CATALOG))}"
        ) from None
