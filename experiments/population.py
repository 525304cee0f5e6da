"""Create the agents of a scenario: counts, endowments, behaviour draws, and a warm start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import Arbitrageur, Borrower, Liquidator, PerpTrader, Strategy, Supplier

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["populate"]


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(median * np.exp(sigma * rng.standard_normal()))


def populate(model: EcosystemModel) -> None:
    """Create every agent of ``model.spec.agents`` and open their positions (warm start).

    Suppliers supply first, then borrowers borrow (and loop), then traders deposit their margin, so
    a run starts from a populated world rather than an empty one. Each agent's first scheduled
    activation is drawn uniformly within its period so activity is spread over time. Draws come
    from ``model.rng`` in a fixed order: same seed, same population.
    """
    spec = model.spec.agents
    rng = model.rng
    assets = model.base_assets
    prices = model.initial_prices_usd
    scheduled = []

    for _ in range(spec.n_suppliers):
        s = Supplier(
            model,
            period_seconds=spec.supplier_period_seconds,
            amount=_lognormal(rng, spec.supplier_capital_median_usd, spec.supplier_capital_sigma),
            run_utilisation=spec.supplier_run_utilisation,
            run_loss_frac=spec.supplier_run_loss_frac,
            return_utilisation=0.8 * spec.supplier_run_utilisation,
        )
        s.act()
        scheduled.append(s)

    lo, hi = spec.borrower_target_ltv_range
    for _ in range(spec.n_borrowers):
        asset = assets[0] if rng.random() < 0.7 or len(assets) == 1 else assets[1]
        capital = _lognormal(rng, spec.borrower_capital_median_usd, spec.borrower_capital_sigma)
        loops = (
            int(rng.integers(1, spec.borrower_max_loops + 1))
            if spec.borrower_max_loops > 0 and rng.random() < spec.borrower_loop_frac
            else 0
        )
        b = Borrower(
            model,
            period_seconds=spec.borrower_period_seconds,
            collateral_asset=asset,
            collateral_amount=capital / prices[asset],
            target_ltv_frac=float(rng.uniform(lo, hi)),
            loops=loops,
            attentive=bool(rng.random() < spec.borrower_attentive_frac),
        )
        b.act()
        scheduled.append(b)

    strategies = list(Strategy)
    for _ in range(spec.n_perp_traders):
        market = assets[int(rng.integers(len(assets)))]
        strategy = strategies[int(rng.choice(3, p=spec.trader_strategy_mix))]
        capital = _lognormal(rng, spec.trader_capital_median_usd, spec.trader_capital_sigma)
        multi = rng.random() < spec.trader_multi_asset_frac
        collateral = market if multi else model.stable_asset
        leverage = 1.0 + (spec.trader_leverage_max - 1.0) * float(rng.random()) ** 2
        t = PerpTrader(
            model,
            period_seconds=spec.trader_period_seconds,
            market=market,
            strategy=strategy,
            leverage=leverage,
            collateral_asset=collateral,
            collateral_amount=capital / prices[market] if multi else capital,
        )
        t.act()
        scheduled.append(t)

    for _ in range(spec.n_liquidators):
        model.liquidators.append(
            Liquidator(
                model,
                capital=_lognormal(
                    rng, spec.liquidator_capital_median_usd, spec.liquidator_capital_sigma
                ),
                gas_units=spec.liquidator_gas_units,
                min_profit_usd=spec.liquidator_min_profit_usd,
                max_per_step=spec.liquidator_max_per_step,
            )
        )
    for _ in range(spec.n_arbitrageurs):
        model.arbitrageurs.append(
            Arbitrageur(
                model,
                capital_usd=spec.arbitrageur_capital_usd,
                gas_units=spec.arbitrageur_gas_units,
                min_profit_usd=spec.arbitrageur_min_profit_usd,
            )
        )
    # keepers are created by experiments.recalibration, without drawing from model.rng

    # The opening positions pre-date step 0: let arbitrage re-align the AMMs with the reference
    # price once, then forget the order flow of the warm start (it is already in the start price).
    for arb in model.arbitrageurs:
        arb.act()
    model.market.discard_pending_flow()

    for agent in scheduled:
        first = 1 + int(rng.integers(max(1, round(agent.period_steps))))
        model.schedule(agent, first)
