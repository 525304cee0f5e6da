"""``black-thursday-2020``: ETH on 2020-03-12, replayed from real 10-minute bars, with the real gas
spike; static margins against keeper-recalibrated margins in one experiment."""

from __future__ import annotations

from experiments.spec import (
    AgentsSpec,
    AmmSpec,
    ExperimentSpec,
    GasSpec,
    MarketSpec,
    ScenarioSpec,
    VariantSpec,
)

SPEC = ExperimentSpec(
    name="black-thursday-2020",
    description=(
        "Replay of 2020-03-12 (ETH from 10-minute bars, BTC from hourly Binance bars, both "
        "interpolated to one-minute steps) with the real gas-price series of that day; prices at "
        "the day's open (ETH ~$195, BTC ~$7,900). Variant 'static' keeps venue margins fixed; "
        "variant 'recalibrated' lets EWMA keepers propose volatility-scaled perp maintenance "
        "margins and lending LTVs (policy 'predictive') through guarded, time-locked governance."
    ),
    scenario=ScenarioSpec(
        steps=1_440,
        step_seconds=60,
        market=MarketSpec(
            path_model="replay",
            replay="eth-2020-03-12",
            # 2020 books were thinner than today's: half the default depth [R]
            impact_depth_usd=(1.0e9, 2.0e9),
        ),
        # On-chain liquidity in March 2020 was a fraction of today's (Uniswap v2 launched in May
        # 2020; Maker's keepers sold into Uniswap v1 and Oasis) [R]
        amm=AmmSpec(liquidity_usd=(30e6, 15e6)),
        gas=GasSpec(replay="auto"),
        agents=AgentsSpec(recalibrate=True),
    ),
    variants=(
        VariantSpec(name="static", overrides=(("recalibration.policy", "static"),)),
        VariantSpec(name="recalibrated", overrides=(("recalibration.policy", "predictive"),)),
    ),
    replications=2,
    seed=20_200_312,
)
