"""``baseline``: one synthetic week of GARCH-t one-minute returns for ETH and BTC."""

from __future__ import annotations

from experiments.spec import AgentsSpec, ExperimentSpec, MarketSpec, ScenarioSpec

SPEC = ExperimentSpec(
    name="baseline",
    description=(
        "One synthetic week (10,080 one-minute steps) of correlated GARCH(1,1)-t returns for ETH "
        "and BTC; one reference market with transient price impact, one AMM per asset, Chainlink-"
        "style oracles, an Aave v3 lending market and a cross-margined perp exchange that both "
        "liquidate into the same AMMs; 2,084 agents; keepers forecast volatility but do not "
        "propose (static margins)."
    ),
    scenario=ScenarioSpec(
        steps=10_080,
        step_seconds=60,
        market=MarketSpec(path_model="garch_t"),
        agents=AgentsSpec(),
    ),
    replications=1,
    seed=20_240_101,
)
