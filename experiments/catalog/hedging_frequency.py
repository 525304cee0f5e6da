"""``hedging-frequency``: how often should an option market maker delta-hedge? The frontier of
hedging cost against tracking error across rules and widths, on calm and stressed paths.

Every run holds one market maker per rule and width (``options.market_makers``). Each sells the
same at-the-money 7-day straddles to a client at the start and then hedges only by its own rule on
the perp exchange, paying the perp's real taker fee and skew slippage; the perp's other traders
keep trading around them. All hedgers of a run see the same path (common random numbers), and
replications give each rule several paths.
"""

from __future__ import annotations

from experiments.options_spec import OptionsSpec
from experiments.spec import AgentsSpec, ExperimentSpec, MarketSpec, ScenarioSpec, VariantSpec

# fixed interval: 4 h, 1 h, 15 min; delta band: 20% .. 2% of the book's notional in coins;
# Whalley-Wilmott: absolute risk aversion 30 .. 3000 per $1M (larger is a narrower band: for
# this book about 10% .. 2% of notional at the start)
HEDGERS = (
    "interval:14400",
    "interval:3600",
    "interval:900",
    "band:0.2",
    "band:0.1",
    "band:0.05",
    "band:0.02",
    "ww:30",
    "ww:300",
    "ww:3000",
)

SPEC = ExperimentSpec(
    name="hedging-frequency",
    description=(
        "Ten delta-hedging market makers (fixed interval 4 h / 1 h / 15 min, delta band 20% / 10% "
        "/ 5% / 2% of notional, Whalley-Wilmott risk aversion 30 / 300 / 3000 per $1M) each short "
        "100 ETH of 7-day at-the-money straddles, hedging on the perp for 3 days. Variant 'calm': "
        "GBM at 50% a year; variant 'stressed': Merton jumps (one a day on average, mean -3%, "
        "sd 5%) on 90% diffusive volatility. Outcome: hedging cost (fees + slippage) against "
        "tracking error (std of hourly P&L) per rule."
    ),
    scenario=ScenarioSpec(
        steps=3 * 1440,
        step_seconds=60,
        market=MarketSpec(path_model="gbm", vol_annual=(0.5, 0.45)),
        agents=AgentsSpec(n_keepers=0),
        options=OptionsSpec(
            pm_exchange=True,
            n_protection_buyers=0,
            n_speculators=0,
            n_vol_sellers=0,
            n_lps=0,
            market_makers=HEDGERS,
            mm_initial_straddles_base=100.0,
            mm_initial_tenor_days=7.0,
            mm_period_seconds=60.0,
        ),
    ),
    variants=(
        VariantSpec(name="calm", overrides=()),
        VariantSpec(
            name="stressed",
            overrides=(
                ("market.path_model", "merton"),
                ("market.vol_annual", (0.9, 0.8)),
                ("market.jump_intensity_per_year", 365.0),
                ("market.jump_mean", -0.03),
                ("market.jump_vol", 0.05),
            ),
        ),
    ),
    replications=4,
    seed=20_260_101,
)
