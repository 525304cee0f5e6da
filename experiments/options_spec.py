"""Declaration of a scenario's option venues and option agents (``ScenarioSpec.options``).

Both venues are off by default, so the perp/lending scenarios are unchanged; the options
experiments (``hedging-frequency``, ``options-amm-stress``) switch them on. Fields are addressed by
dotted path like every spec field (``options.amm=true``, ``options.amm_params.fee_scale=2``,
``options.market_makers=["band:0.05", "ww:2"]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agents.hedging import HedgeParams, HedgeRule
from experiments.overrides import require as _require
from protocols.options_amm_params import OptionsAmmParams
from protocols.pm_params import PmExchangeParams

__all__ = ["HEDGER_RULES", "OptionsSpec", "hedge_params", "hedger_label", "parse_hedger"]

HEDGER_RULES: dict[str, HedgeRule] = {
    "interval": HedgeRule.FIXED_INTERVAL,
    "band": HedgeRule.DELTA_BAND,
    "ww": HedgeRule.WHALLEY_WILMOTT,
}
"""Market-maker hedging rules by spec name. The number after the colon is the rule's width: the
seconds between hedges (``interval:3600``), the half-width of the delta band as a fraction of the
book's option notional in coins (``band:0.05``), or the Whalley-Wilmott absolute risk aversion per
million USD (``ww:10`` is 1e-5 per USD: relative risk aversion 10 on a $1M desk)."""

_WW_UNIT_PER_USD = 1e-6


def parse_hedger(text: str, path: str = "OptionsSpec.market_makers") -> tuple[HedgeRule, float]:
    """``"<rule>:<width>"`` as ``(rule, width)``; a :class:`SpecError` naming ``path`` otherwise."""
    name, _, width = str(text).partition(":")
    rule = HEDGER_RULES.get(name)
    try:
        value = float(width)
    except ValueError:
        value = float("nan")
    _require(
        rule is not None and math.isfinite(value) and value > 0,
        path,
        f"each entry must be '<rule>:<width>' with rule in {sorted(HEDGER_RULES)} and width > 0",
        text,
    )
    return rule, value  # type: ignore[return-value]


def hedge_params(
    text: str, *, step_seconds: int, book_notional_base: float, cost_frac: float
) -> HedgeParams:
    """The :class:`agents.hedging.HedgeParams` of one market-maker entry, for a book of
    ``book_notional_base`` coins of option notional on a world of ``step_seconds`` steps."""
    rule, width = parse_hedger(text)
    if rule is HedgeRule.FIXED_INTERVAL:
        steps = max(1, round(width / step_seconds))
        return HedgeParams(rule=rule, interval_steps=steps, cost_frac=cost_frac)
    if rule is HedgeRule.DELTA_BAND:
        band = width * max(book_notional_base, 1.0)
        return HedgeParams(rule=rule, band_base=band, cost_frac=cost_frac)
    return HedgeParams(rule=rule, risk_aversion=width * _WW_UNIT_PER_USD, cost_frac=cost_frac)


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionsSpec:
    """Option venues on one underlying and the agents that trade them.

    Parameters
    ----------
    asset
        Underlying of both venues (one of ``market.assets``).
    amm, amm_params, amm_liquidity_usd
        The options AMM (Lyra v1 mechanics, DOMAIN.md A6), its parameters and the USDC its LPs
        put in at the start. Lyra's sETH market held about $10-30M of LP capital in 2022 [R].
    pm_exchange, pm_params, pm_insurance_fund_usd, pm_backstop_usd
        The portfolio-margin exchange, its parameters, the insurance fund it starts with, and the
        capital of its backstop liquidity provider (it takes over liquidated positions, as
        Deribit's backstop providers do).
    n_protection_buyers, n_speculators, n_vol_sellers
        Option traders of each style (``agents.option_trader``). Protection buyers and speculators
        trade on the AMM when it exists (else on the exchange); volatility sellers write on the
        exchange (they need margin), or on nothing if it is off.
    option_trader_capital_median_usd, option_trader_capital_sigma
        Lognormal endowments of option traders.
    option_trader_period_seconds
        Mean time between an option trader's decisions.
    vol_seller_leverage
        Target initial-margin use of a volatility seller, as a fraction of its equity.
    n_lps, lp_capital_median_usd, lp_max_drawdown_frac
        Options-AMM LPs who deposit at the start and withdraw when the pool's share price falls
        more than ``lp_max_drawdown_frac`` below its peak (or its delta grows too large).
    lp_exit_on_breaker
        Whether LPs also withdraw when a breaker trips. Off by default: a queued withdrawal
        reserves pool liquidity, so every LP leaving on the first IV-variance trip drains free
        liquidity and trips the 3-day liquidity breaker, a run the scenario should not impose.
    market_makers
        One delta-hedging market maker per entry, ``"<rule>:<width>"`` (:data:`HEDGER_RULES`).
        They quote options on the exchange and hedge on the perp.
    mm_capital_usd
        USDC each market maker deposits on the exchange (its perp hedge account gets a third).
    mm_quote_spread_vol_points
        Half-spread of market-maker quotes around the mark, vol points.
    mm_period_seconds
        How often a market maker checks its hedge (each rule then decides whether to trade).
    mm_initial_straddles_base
        At the start each market maker sells this many at-the-money straddles (calls plus puts,
        in coins, on the board nearest ``mm_initial_tenor_days``) to a client account, so every
        rule starts from the same book: the controlled set-up of ``hedging-frequency``.
    """

    asset: str = "ETH"
    amm: bool = False
    amm_params: OptionsAmmParams = field(default_factory=OptionsAmmParams)
    amm_liquidity_usd: float = 20e6
    pm_exchange: bool = False
    pm_params: PmExchangeParams = field(default_factory=PmExchangeParams)
    pm_insurance_fund_usd: float = 2e6
    pm_backstop_usd: float = 10e6
    n_protection_buyers: int = 40
    n_speculators: int = 40
    n_vol_sellers: int = 20
    option_trader_capital_median_usd: float = 50_000.0
    option_trader_capital_sigma: float = 1.0
    option_trader_period_seconds: float = 4 * 3600.0
    vol_seller_leverage: float = 0.5
    n_lps: int = 20
    lp_capital_median_usd: float = 500_000.0
    lp_max_drawdown_frac: float = 0.10
    lp_exit_on_breaker: bool = False
    market_makers: tuple[str, ...] = ("band:0.05", "ww:10")
    mm_capital_usd: float = 5e6
    mm_quote_spread_vol_points: float = 1.0
    mm_period_seconds: float = 60.0
    mm_initial_straddles_base: float = 0.0
    mm_initial_tenor_days: float = 7.0

    def __post_init__(self) -> None:
        name = "OptionsSpec"
        for fld in (
            "n_protection_buyers",
            "n_speculators",
            "n_vol_sellers",
            "n_lps",
        ):
            v = getattr(self, fld)
            _require(isinstance(v, int) and v >= 0, f"{name}.{fld}", "must be an int >= 0", v)
        for fld in (
            "amm_liquidity_usd",
            "pm_insurance_fund_usd",
            "pm_backstop_usd",
            "option_trader_capital_median_usd",
            "option_trader_capital_sigma",
            "option_trader_period_seconds",
            "lp_capital_median_usd",
            "mm_capital_usd",
            "mm_period_seconds",
            "mm_initial_tenor_days",
        ):
            v = getattr(self, fld)
            _require(math.isfinite(v) and v > 0, f"{name}.{fld}", "must be a finite number > 0", v)
        for fld in ("vol_seller_leverage", "lp_max_drawdown_frac"):
            v = getattr(self, fld)
            _require(0.0 < v <= 1.0, f"{name}.{fld}", "must be in (0, 1]", v)
        for fld in ("mm_quote_spread_vol_points", "mm_initial_straddles_base"):
            v = getattr(self, fld)
            _require(math.isfinite(v) and v >= 0, f"{name}.{fld}", "must be >= 0", v)
        for i, text in enumerate(self.market_makers):
            parse_hedger(text, path=f"{name}.market_makers[{i}]")

    @property
    def enabled(self) -> bool:
        """Whether the scenario has any option venue."""
        return self.amm or self.pm_exchange


def hedger_label(entry: str) -> str:
    """Column-safe label of a market-maker spec entry: ``"band:0.05"`` -> ``"band-0.05"``."""
    return str(entry).replace(":", "-")
