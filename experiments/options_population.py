"""Create the option agents of a scenario (``ScenarioSpec.options``) and their opening books.

Called after the perp/lending population, so adding option agents never changes what the other
agents drew. Order: LPs seed the options AMM, market makers open their exchange and hedge accounts
(and, for the controlled hedging study, sell identical straddles to a client account), then option
traders are created and scheduled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import MarketMaker, OptionsLP, OptionStyle, OptionTrader, OptionVenue
from agents.hedging import DEFAULT_COST_FRAC
from experiments.options_spec import hedge_params
from experiments.world import STABLE_ASSET
from protocols.types import TxStatus

if TYPE_CHECKING:
    from experiments.model import EcosystemModel

__all__ = ["populate_options"]

# An LP watches its pool about twice a day; its delta limit is the pool's |net delta| x spot / NAV
# above which it withdraws (a pool that hedges keeps it near zero).
_LP_PERIOD_SECONDS = 12 * 3600.0
_LP_MAX_DELTA_FRAC = 0.5


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(median * np.exp(sigma * rng.standard_normal()))


def populate_options(model: EcosystemModel) -> None:
    """Create the option agents of ``model.spec.options`` and schedule their first activations."""
    opt = model.spec.options
    rng = model.rng
    scheduled: list = []
    amm, pm = model.options_amm, model.pm_exchange

    if amm is not None:
        _seed_amm(model, scheduled)

    if pm is not None:
        notional = 2.0 * opt.mm_initial_straddles_base  # calls plus puts, coins
        for entry in opt.market_makers:
            hedge = hedge_params(
                entry,
                step_seconds=model.step_seconds,
                book_notional_base=notional,
                cost_frac=DEFAULT_COST_FRAC,
            )
            maker = MarketMaker(
                model,
                period_seconds=opt.mm_period_seconds,
                asset=opt.asset,
                hedge=hedge,
                capital_usd=opt.mm_capital_usd,
                quote_spread_vol_points=opt.mm_quote_spread_vol_points,
                label=entry,
            )
            model.option_makers.append(maker)
            scheduled.append(maker)
        if opt.mm_initial_straddles_base > 0 and model.option_makers:
            _sell_straddles(model)

    option_venue = OptionVenue.AMM if amm is not None else OptionVenue.PM
    styles = [
        (OptionStyle.PROTECTION, opt.n_protection_buyers, option_venue),
        (OptionStyle.SPECULATOR, opt.n_speculators, option_venue),
        (OptionStyle.VOL_SELLER, opt.n_vol_sellers if pm is not None else 0, OptionVenue.PM),
    ]
    if pm is None and amm is None:
        styles = []
    for style, n, venue in styles:
        if venue is OptionVenue.PM and not model.option_makers:
            continue  # nobody to trade with on the exchange
        for _ in range(n):
            trader = OptionTrader(
                model,
                style=style,
                venue=venue,
                asset=opt.asset,
                capital_usd=_lognormal(
                    rng, opt.option_trader_capital_median_usd, opt.option_trader_capital_sigma
                ),
                period_seconds=opt.option_trader_period_seconds,
                leverage=opt.vol_seller_leverage,
            )
            scheduled.append(trader)

    for agent in scheduled:
        first = 1 + int(rng.integers(max(1, round(agent.period_steps))))
        model.schedule(agent, first)


def _seed_amm(model: EcosystemModel, scheduled: list) -> None:
    """The AMM's opening liquidity: from its LP agents (split by lognormal weights), or from the
    genesis holder when the scenario has no LPs."""
    opt = model.spec.options
    amm = model.options_amm
    if opt.n_lps == 0:
        model.endow(model._genesis, STABLE_ASSET, opt.amm_liquidity_usd)
        amm.seed(model._genesis, opt.amm_liquidity_usd)
        return
    weights = np.array(
        [_lognormal(model.rng, 1.0, 1.0) for _ in range(opt.n_lps)], dtype=np.float64
    )
    amounts = opt.amm_liquidity_usd * weights / weights.sum()
    for amount in amounts:
        lp = OptionsLP(
            model,
            period_seconds=_LP_PERIOD_SECONDS,
            capital_usd=float(amount),
            max_drawdown_frac=opt.lp_max_drawdown_frac,
            max_delta_frac=_LP_MAX_DELTA_FRAC,
            exit_on_breaker=opt.lp_exit_on_breaker,
        )
        # the warm start: the opening liquidity pre-dates step 0, so it skips the deposit queue
        status = amm.seed(lp.wallet, float(amount))
        if status is not TxStatus.OK:
            raise RuntimeError(f"options AMM: seeding LP {lp.unique_id} failed: {status.name}")
        lp.deposit_status = status
        scheduled.append(lp)


def _sell_straddles(model: EcosystemModel) -> None:
    """Every market maker sells the same at-the-money straddles to one client account (at the
    mark), so the hedging rules start from identical books."""
    opt = model.spec.options
    pm = model.pm_exchange
    size = opt.mm_initial_straddles_base
    spot = model.oracle_price(opt.asset)
    client = model.ledger.open_holder("world:option-client")
    account = pm.open_account(client)
    ids = [
        pm.series.find(
            is_call=is_call, strike_usd=spot, tenor_days=opt.mm_initial_tenor_days, step=0
        )
        for is_call in (True, False)
    ]
    premium = sum(pm.mark_price(i) for i in ids) * size * len(model.option_makers)
    cash = 2.0 * premium + 0.5 * size * spot * len(model.option_makers)  # premium, fees, margin
    model.endow(client, STABLE_ASSET, cash)
    pm.deposit(account, cash)
    for maker in model.option_makers:
        for sid in ids:
            status = pm.trade(account, maker.pm_account, sid, size, pm.mark_price(sid))
            if status is not TxStatus.OK:
                raise RuntimeError(
                    f"options.mm_initial_straddles_base: {maker.label} could not sell {size} of "
                    f"series {sid} ({status.name}); give market makers more capital "
                    "(options.mm_capital_usd) or sell fewer straddles"
                )
