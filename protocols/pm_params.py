"""Parameters and records of :class:`protocols.pm_exchange.PortfolioMarginExchange`.

A frozen, keyword-only bundle validated on construction; recalibration replaces it with
:func:`dataclasses.replace` (the scenario ``grid`` is the main lever: a wider spot range or bigger
vol shocks raise every portfolio-margin account's requirement at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

from protocols.margin.scenario_grid import ScenarioGrid, deribit_grid
from protocols.margin.standard_margin import StandardMarginParams, aevo_params
from protocols.option_series import ListingParams

__all__ = [
    "PERP",
    "TOL_USD",
    "LiquidationMode",
    "MarginMode",
    "PmExchangeParams",
    "PmLiquidationSummary",
    "as_margin_mode",
]

PERP = -1
"""Instrument id of the exchange's delta-one perpetual (options use their series ids, >= 0)."""

TOL_USD = 1e-6
"""USD amounts below this count as zero (equity within it of a requirement meets it)."""


@dataclass(frozen=True, slots=True)
class PmLiquidationSummary:
    """What one :meth:`PortfolioMarginExchange.liquidate` call did (USD amounts).

    ``volume_usd`` and ``adl_volume_usd`` are underlying notional ``|q| S`` closed;
    ``penalty_usd`` went to the insurance fund, ``auction_discount_usd`` to the backstop.
    """

    n_accounts: int = 0
    volume_usd: float = 0.0
    penalty_usd: float = 0.0
    auction_discount_usd: float = 0.0
    bad_debt_usd: float = 0.0
    insurance_paid_usd: float = 0.0
    adl_volume_usd: float = 0.0


class MarginMode(IntEnum):
    """How an account's margin is computed (switchable per account)."""

    STANDARD = 0
    """Per-position Deribit rules, USD variant (DOMAIN.md A1; ``standard_margin``)."""
    PORTFOLIO = 1
    """Scenario-grid portfolio margin of the whole account (DOMAIN.md A2; ``portfolio_margin``)."""


def as_margin_mode(value: object, where: str) -> MarginMode:
    """``value`` as a :class:`MarginMode`, or a ``ValueError`` naming ``where`` and the rule."""
    try:
        return MarginMode(value)
    except ValueError:
        rule = "must be a MarginMode (0 STANDARD, 1 PORTFOLIO)"
        raise ValueError(f"{where}: {rule}, got {value!r}") from None


class LiquidationMode(IntEnum):
    """How a liquidated chunk is priced when the backstop takes it."""

    PENALTY = 0
    """At the mark; a penalty on the closed notional goes to the insurance fund."""
    AUCTION = 1
    """Dutch auction: mark minus a discount that grows per round until the backstop bids."""


def _fail(fld: str, rule: str, value: object) -> ValueError:
    return ValueError(f"PmExchangeParams.{fld}: must be {rule}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class PmExchangeParams:
    """Listing, margin, fees and liquidation of a portfolio-margin exchange.

    Parameters
    ----------
    listing
        Which option series are listed (:class:`~protocols.option_series.ListingParams`).
    grid
        Scenario grid of portfolio margin (default Deribit S:PM, ``deribit_grid()``: +/-16% in
        9 moves x vol up/same/down, maintenance = scan, ``IM = 1.25 MM`` [S/R], DOMAIN.md A2).
    standard
        Rates of standard margin, USD-margined (default Aevo's USD variant of Deribit's rules,
        ``aevo_params()``, DOMAIN.md A1 [S]).
    default_mode
        Margin mode of a new account when none is given.
    option_fee_frac, option_fee_cap_frac
        Option trading fee per coin ``min(option_fee_frac S, option_fee_cap_frac premium)``,
        charged to taker and maker alike: Deribit ETH options 0.03% of the underlying capped at
        12.5% of the option price [S] (support.deribit.com/hc/en-us/articles/25944746248989).
    perp_taker_fee_frac, perp_maker_fee_frac
        Perpetual fee as a fraction of traded notional: Deribit ETH perpetual 0.05% taker, 0.00%
        maker [S] (same page).
    liquidation_mode
        :class:`LiquidationMode`.
    liquidation_chunk_frac
        Size of one liquidation chunk as a fraction of each position when the liquidation began
        (Hyperliquid liquidates large positions 20% at a time [S, DOMAIN.md A4]; 25% here).
    liquidation_target_mm_mult
        Liquidation stops once ``equity >= liquidation_target_mm_mult x MM`` (1.0: Deribit stops
        "as soon as MM < equity" [S, DOMAIN.md A1]; 1.25 aims at about IM).
    penalty_frac
        PENALTY mode: fee per closed chunk as a fraction of its underlying notional ``|q| S``,
        paid to the insurance fund (capped by the account's remaining equity). Deribit charges
        0.19% of the underlying on liquidated ETH options [S, Deribit fee table as copied by
        docs.dopp.finance/product/fees]; applying it to the perpetual as well is [R].
    auction_step_frac, auction_max_discount_frac
        AUCTION mode: the discount offered to the backstop after ``r`` rounds is
        ``min(r x auction_step_frac, auction_max_discount_frac)`` of the chunk's underlying
        notional. The cap defaults to dYdX v4's 1.5% maximum liquidation penalty [S, DOMAIN.md A4];
        the step (10 bp per round) is a model choice.
    auction_backstop_mm_share
        The backstop's bid schedule: it takes a chunk once the discount is at least this share
        of the maintenance margin the chunk releases (its risk buffer, as Hyperliquid's backstop
        vault keeps the MM [S, DOMAIN.md A4]); a model choice. Past the cap it takes the chunk at
        the cap (the backstop is the liquidity of last resort).
    max_liquidation_rounds
        Safety bound on chunks closed per account per :meth:`liquidate` call.
    """

    listing: ListingParams = field(default_factory=ListingParams)
    grid: ScenarioGrid = field(default_factory=deribit_grid)
    standard: StandardMarginParams = field(default_factory=aevo_params)
    default_mode: MarginMode = MarginMode.PORTFOLIO
    option_fee_frac: float = 0.0003
    option_fee_cap_frac: float = 0.125
    perp_taker_fee_frac: float = 0.0005
    perp_maker_fee_frac: float = 0.0
    liquidation_mode: LiquidationMode = LiquidationMode.PENALTY
    liquidation_chunk_frac: float = 0.25
    liquidation_target_mm_mult: float = 1.0
    penalty_frac: float = 0.0019
    auction_step_frac: float = 0.001
    auction_max_discount_frac: float = 0.015
    auction_backstop_mm_share: float = 0.25
    max_liquidation_rounds: int = 400

    def __post_init__(self) -> None:
        for fld, cls in (
            ("listing", ListingParams),
            ("grid", ScenarioGrid),
            ("standard", StandardMarginParams),
        ):
            if not isinstance(getattr(self, fld), cls):
                raise _fail(fld, f"a {cls.__name__}", type(getattr(self, fld)).__name__)
        for fld, enum in (("default_mode", MarginMode), ("liquidation_mode", LiquidationMode)):
            try:
                object.__setattr__(self, fld, enum(getattr(self, fld)))
            except ValueError:
                raise _fail(fld, f"a {enum.__name__}", getattr(self, fld)) from None
        for fld in (
            "option_fee_frac",
            "option_fee_cap_frac",
            "perp_taker_fee_frac",
            "perp_maker_fee_frac",
            "penalty_frac",
            "auction_step_frac",
            "auction_max_discount_frac",
            "auction_backstop_mm_share",
        ):
            v = getattr(self, fld)
            if not (isinstance(v, int | float) and math.isfinite(v) and 0.0 <= v < 1.0):
                raise _fail(fld, "in [0, 1)", v)
        if not 0.0 < self.liquidation_chunk_frac <= 1.0:
            raise _fail("liquidation_chunk_frac", "in (0, 1]", self.liquidation_chunk_frac)
        target = self.liquidation_target_mm_mult
        if not (math.isfinite(target) and target >= 1.0):
            raise _fail("liquidation_target_mm_mult", ">= 1 and finite", target)
        if self.auction_step_frac == 0.0 and self.liquidation_mode is LiquidationMode.AUCTION:
            raise _fail("auction_step_frac", "> 0 in AUCTION mode", self.auction_step_frac)
        rounds = self.max_liquidation_rounds
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise _fail("max_liquidation_rounds", "an int >= 1", rounds)

    def trade_fees(
        self, is_perp: bool, qty_base: float, price_usd: float, index_usd: float
    ) -> tuple[float, float]:
        """``(taker_fee_usd, maker_fee_usd)`` of a trade of ``qty_base`` coins at ``price_usd``.

        Options: ``min(option_fee_frac S, option_fee_cap_frac price)`` per coin, both sides;
        perp: ``perp_{taker,maker}_fee_frac`` of the notional ``qty price``.
        """
        if is_perp:
            notional = qty_base * price_usd
            return notional * self.perp_taker_fee_frac, notional * self.perp_maker_fee_frac
        per_coin = min(self.option_fee_frac * index_usd, self.option_fee_cap_frac * price_usd)
        return qty_base * per_coin, qty_base * per_coin
