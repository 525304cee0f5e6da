"""``recalibration-policies``: every recalibration policy on the replayed crashes of 2020-03-12 and
2021-05-19 and on a synthetic stress day, with faulty and malicious keepers in every run.

Variants are ``<scenario>-<policy>``; replication ``r`` of a scenario sees the same agents (and, for
the synthetic day, the same path) under every policy (common random numbers), so differences
between policies of one scenario are the policies' doing. Per policy the report compares bad debt,
liquidated volume, insurance-fund drawdown, procyclicality (peak-to-trough margin ratio, largest
one-day margin increase) and capital efficiency (maintenance margin per notional); the policy
figures are :func:`experiments.policy_figures.plot_policy_outcomes` and
:func:`experiments.policy_figures.plot_margin_paths`.

Size: 3 scenarios x 7 policies x 2 replications = 42 runs of 1,440 one-minute steps with the
black-thursday population (2,084 agents + 4 faulty keepers).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from experiments.catalog import black_thursday
from experiments.recalibration_spec import RecalibrationSpec
from experiments.spec import AgentsSpec, ExperimentSpec, VariantSpec

SCENARIOS: dict[str, tuple[tuple[str, Any], ...]] = {
    # the black-thursday-2020 world: ETH 10-minute bars, thin 2020 books and pools [R]
    "2020": (),
    "2021": (
        ("market.replay", "eth-2021-05-19"),
        ("market.impact_depth_usd", (2.0e9, 4.0e9)),
        ("amm.liquidity_usd", (150e6, 100e6)),
    ),
    # one day of Merton jump-diffusion: 100% diffusive vol and about three -3% +- 3% jumps a day
    # (DOMAIN.md C stress defaults, scaled to a crash day [C/R])
    "stress": (
        ("market.path_model", "merton"),
        ("market.vol_annual", (1.0, 0.8)),
        ("market.jump_intensity_per_year", 1_100.0),
        ("market.jump_mean", -0.03),
        ("market.jump_vol", 0.03),
        ("market.impact_depth_usd", (2.0e9, 4.0e9)),
        ("amm.liquidity_usd", (150e6, 100e6)),
    ),
}

POLICY_VARIANTS: dict[str, tuple[tuple[str, Any], ...]] = {
    "static": (("recalibration.policy", "static"),),
    "scheduled": (("recalibration.policy", "scheduled"),),
    "breaker": (("recalibration.policy", "circuit_breaker"),),
    "breaker-ramp": (
        ("recalibration.policy", "circuit_breaker"),
        ("recalibration.options.deleverage_ramp_seconds", 7_200.0),
    ),
    "damping": (("recalibration.policy", "damping"),),
    "damping-apc": (
        ("recalibration.policy", "damping"),
        ("recalibration.options.apc", "buffer"),
    ),
    "predictive": (
        ("recalibration.policy", "predictive"),
        ("recalibration.forecaster", "hgb"),
    ),
}
"""Policy variants: the five policies, the breaker with liquidation-free deleveraging instead of
a jump, and damping with the EMIR 25% anti-procyclicality buffer. ``predictive`` uses the shipped
gradient-boosting forecaster with a vol-of-vol add-on."""

FAULTY = ("stale", "out_of_bounds", "forged", "replay")

SPEC = ExperimentSpec(
    name="recalibration-policies",
    description=(
        "Static, scheduled, circuit-breaker (jump, or a 2-hour deleveraging ramp), continuous "
        "damping (with and without a 25% anti-procyclicality buffer) and predictive (gradient "
        "boosting + vol-of-vol) recalibration of perp margins and lending LTVs, on the "
        "2020-03-12 and 2021-05-19 replays and a Merton stress day; three honest keepers race "
        "with 1-3 minute latencies, and stale, out-of-bounds, forged and replaying keepers submit "
        "alongside them (all must be rejected)."
    ),
    scenario=dataclasses.replace(
        black_thursday.SPEC.scenario,
        agents=AgentsSpec(recalibrate=True),
        recalibration=RecalibrationSpec(faulty=FAULTY),
    ),
    variants=tuple(
        VariantSpec(name=f"{scenario}-{policy}", overrides=(*s_over, *p_over))
        for scenario, s_over in SCENARIOS.items()
        for policy, p_over in POLICY_VARIANTS.items()
    ),
    replications=2,
    seed=20_210_519,
)


def scenario_and_policy(variant: str) -> tuple[str, str]:
    """Split a variant name ``<scenario>-<policy>`` of this experiment."""
    scenario, _, policy = variant.partition("-")
    return scenario, policy
