"""``governance-sweep``: maintenance margin x recalibration sensitivity x time-lock delay, over two
crash-day replays and two synthetic stress days; the governance report ranks the settings.

Levers (a 3 x 3 x 3 grid, 27 settings):

- ``perp.mm_scale``: the multiplier on every perp maintenance (and initial) rate. With
  recalibration on it is the level a venue starts from: keepers propose absolute, volatility-scaled
  scales (``sigma_hat / sigma_ref``), so it also sets how far the first proposals have to move;
- ``agents.keeper_half_life_seconds``: the recalibration sensitivity, the half-life of the keepers'
  EWMA volatility forecast that drives the ``predictive`` policy (``scenario.recalibration``; 1 h
  reacts within the crash hour, 24 h hardly moves in a day). Other sensitivities are one
  ``--axis`` away, e.g. ``recalibration.predictive.multiplier`` or
  ``recalibration.damping.half_life_seconds`` with ``--set recalibration.policy=damping``;
- ``governance.timelock_seconds``: the delay between an accepted proposal and its effect (none,
  Aave-steward-like 30 min [R], and 4 h).

Scenarios (DOMAIN.md C, F): the 2020-03-12 and 2021-05-19 crash days replayed from real bars with
their gas series, one day of GARCH(1,1)-t returns at twice the baseline volatility, and one day of
Merton jump-diffusion with frequent negative jumps. Common random numbers: replication ``r`` of a
scenario sees the same agents and (synthetic) path under every setting.

Size: 27 settings x 4 scenarios x 3 replications = 324 runs of 1,440 one-minute steps with 521
agents; a run takes about 0.6 s, so about 2-3 minutes on two cores with ``--backend process``
(benchmarks/bench_sweep.py).
Shrink it with e.g. ``--set replications=1`` or ``--axis perp.mm_scale=1.0,2.0``.
"""

from __future__ import annotations

from dataclasses import replace

from experiments.overrides import apply_overrides
from experiments.spec import AgentsSpec, ExperimentSpec, MarketSpec, ScenarioSpec
from experiments.spec import VariantSpec as Scenario
from experiments.sweep import SweepAxis, SweepSpec

_DAY_STEPS = 1_440

BASE = ExperimentSpec(
    name="governance-base",
    description="One day, one-minute steps, a quarter of the baseline population, keepers propose.",
    scenario=ScenarioSpec(
        steps=_DAY_STEPS,
        step_seconds=60,
        market=MarketSpec(path_model="garch_t"),
        agents=AgentsSpec(
            n_perp_traders=325,
            n_borrowers=125,
            n_suppliers=60,
            n_liquidators=6,
            n_arbitrageurs=2,
            n_keepers=3,
            recalibrate=True,
        ),
    ),
)

SCENARIOS = (
    Scenario(
        name="crash-2020",
        overrides=(
            ("market.replay", "eth-2020-03-12"),  # before path_model: a replay needs a name
            ("market.path_model", "replay"),
            # thinner 2020 markets, as in the black-thursday-2020 entry [R]
            ("market.impact_depth_usd", (1.0e9, 2.0e9)),
            ("amm.liquidity_usd", (30e6, 15e6)),
        ),
    ),
    Scenario(
        name="crash-2021",
        overrides=(("market.replay", "eth-2021-05-19"), ("market.path_model", "replay")),
    ),
    Scenario(
        name="garch-stress",
        overrides=(("market.path_model", "garch_t"), ("market.vol_annual", (1.5, 1.2))),
    ),
    Scenario(
        name="jump-stress",
        overrides=(
            ("market.path_model", "merton"),
            # about three jumps a day of -3% +- 3% on top of the diffusion [C]
            ("market.jump_intensity_per_year", 1_100.0),
            ("market.jump_mean", -0.03),
            ("market.jump_vol", 0.03),
        ),
    ),
)

SWEEP = SweepSpec(
    name="governance-sweep",
    description=(
        "Perp maintenance margin scale x keeper EWMA half-life (recalibration sensitivity) x "
        "governance time-lock, 3 x 3 x 3 grid, over the 2020-03-12 and 2021-05-19 replays and "
        "GARCH-t and Merton stress days, 3 replications; governance report with ES95/ES99 of "
        "bad debt, insolvency probability, capital efficiency and a Pareto front."
    ),
    base=BASE,
    mode="grid",
    axes=(
        SweepAxis(path="perp.mm_scale", values=(0.75, 1.0, 1.5)),
        SweepAxis(path="agents.keeper_half_life_seconds", values=(3_600.0, 21_600.0, 86_400.0)),
        SweepAxis(path="governance.timelock_seconds", values=(0.0, 1_800.0, 14_400.0)),
    ),
    scenarios=SCENARIOS,
    replications=3,
    seed=20_260_601,
    common_random_numbers=True,
)


def tiny(**changes: object) -> SweepSpec:
    """A seconds-long version for tests: 2 x 2 settings, the two synthetic scenarios, one
    replication, 60 steps, 28 agents; ``changes`` replace SweepSpec fields."""
    base = apply_overrides(
        BASE,
        {
            "scenario.steps": 60,
            "scenario.agents.n_perp_traders": 12,
            "scenario.agents.n_borrowers": 8,
            "scenario.agents.n_suppliers": 4,
            "scenario.agents.n_liquidators": 1,
            "scenario.agents.n_arbitrageurs": 1,
            "scenario.agents.n_keepers": 2,
        },
    )
    small = replace(
        SWEEP,
        name="governance-sweep-tiny",
        base=base,
        axes=(
            SweepAxis(path="perp.mm_scale", values=(0.75, 1.5)),
            SweepAxis(path="governance.timelock_seconds", values=(0.0, 1_800.0)),
        ),
        scenarios=SCENARIOS[2:],
        replications=1,
    )
    return replace(small, **changes)
