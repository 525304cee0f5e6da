"""Parameters of :class:`protocols.perp.PerpExchange`: margin tiers, markets, collateral, engine.

All bundles are frozen, keyword-only dataclasses validated in ``__post_init__``; recalibration
builds a new bundle with :func:`dataclasses.replace` (``mm_scale`` is the governed lever).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BINANCE_BTCUSDT_2021_TIERS",
    "SETTLEMENT_ASSET",
    "USD_TOL",
    "MarginTier",
    "PerpCollateralParams",
    "PerpMarketParams",
    "PerpParams",
    "maintenance_amounts_usd",
]

SETTLEMENT_ASSET = "USDC"
USD_TOL = 1e-6
"""USD amounts below this are treated as zero (float noise)."""
"""PnL, fees and funding settle in this asset; every account holds a slot for it."""


def _fail(cls: str, field: str, rule: str, value: object) -> ValueError:
    return ValueError(f"{cls}.{field}: must be {rule}, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginTier:
    """One notional bracket of a tiered margin table.

    Parameters
    ----------
    notional_floor_usd
        Lower end of the bracket (USD notional of the position); the first tier starts at 0.
    maintenance_margin_frac
        Maintenance margin rate (MMR) applied to the notional inside this bracket.
    max_leverage
        Largest leverage allowed in this bracket; the initial margin rate is ``1 / max_leverage``.
    """

    notional_floor_usd: float
    maintenance_margin_frac: float
    max_leverage: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.notional_floor_usd) and self.notional_floor_usd >= 0.0):
            raise _fail(
                "MarginTier", "notional_floor_usd", "finite and >= 0", self.notional_floor_usd
            )
        if not 0.0 < self.maintenance_margin_frac <= 1.0:
            raise _fail(
                "MarginTier", "maintenance_margin_frac", "in (0, 1]", self.maintenance_margin_frac
            )
        if not (math.isfinite(self.max_leverage) and self.max_leverage >= 1.0):
            raise _fail("MarginTier", "max_leverage", "finite and >= 1", self.max_leverage)
        if 1.0 / self.max_leverage < self.maintenance_margin_frac:
            raise _fail(
                "MarginTier",
                "max_leverage",
                "<= 1 / maintenance_margin_frac (initial >= maintenance)",
                self.max_leverage,
            )


# Binance USDⓈ-M BTCUSDT tiers, announcement of 2021-03-18, DOMAIN.md A4 [S].
BINANCE_BTCUSDT_2021_TIERS: tuple[MarginTier, ...] = tuple(
    MarginTier(notional_floor_usd=f, maintenance_margin_frac=m, max_leverage=lev)
    for f, m, lev in (
        (0.0, 0.004, 125.0),
        (50_000.0, 0.005, 100.0),
        (250_000.0, 0.01, 50.0),
        (1_000_000.0, 0.025, 20.0),
        (10_000_000.0, 0.05, 10.0),
        (20_000_000.0, 0.10, 5.0),
        (50_000_000.0, 0.125, 4.0),
        (100_000_000.0, 0.15, 3.0),
        (200_000_000.0, 0.25, 2.0),
        (300_000_000.0, 0.50, 1.0),
    )
)


def maintenance_amounts_usd(floors_usd: np.ndarray, mmr: np.ndarray) -> np.ndarray:
    """Cumulative maintenance amounts that make the tiered maintenance margin continuous.

    Notes
    -----
    ``cum_i = cum_{i-1} + floor_i * (MMR_i - MMR_{i-1})`` with ``cum_0 = 0`` (DOMAIN.md A4 [C]), so
    ``MM(n) = n * MMR_i - cum_i`` takes the same value on both sides of every floor.
    """
    floors_usd = np.asarray(floors_usd, dtype=np.float64)
    mmr = np.asarray(mmr, dtype=np.float64)
    return np.cumsum(floors_usd * np.diff(mmr, prepend=0.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class PerpMarketParams:
    """One perpetual market (linear, USDC-margined) on a base asset.

    Parameters
    ----------
    asset
        Base asset symbol; its index price is ``oracles[asset].price_usd``.
    tiers
        Margin brackets, floors strictly increasing from 0, MMR non-decreasing, leverage
        non-increasing.
    taker_fee_frac
        Fee on traded notional, paid to the vault (Binance VIP0 taker 0.04% [R]).
    skew_scale_usd
        Net open interest (USD) at which the premium would reach 100% (Synthetix ``skewScale``
        idea); premium = net OI / skew scale, clamped.
    max_premium_frac
        Clamp of the premium of mark over index.
    """

    asset: str
    # ETH reuses the BTCUSDT table by default: no separate ETH table was obtained, DOMAIN.md A4 [R].
    tiers: tuple[MarginTier, ...] = BINANCE_BTCUSDT_2021_TIERS
    taker_fee_frac: float = 0.0004
    # [R] calibration, not a venue value: a $50M net skew gives a 0.05% premium, the edge of the
    # Binance funding clamp band; at 1e9 the baseline world's skew pinned the premium at its cap.
    skew_scale_usd: float = 1.0e11
    max_premium_frac: float = 0.01  # [R]

    def __post_init__(self) -> None:
        if not self.asset:
            raise _fail("PerpMarketParams", "asset", "a non-empty symbol", self.asset)
        if not self.tiers or not all(isinstance(t, MarginTier) for t in self.tiers):
            raise _fail("PerpMarketParams", "tiers", "a non-empty tuple of MarginTier", self.tiers)
        if self.tiers[0].notional_floor_usd != 0.0:
            raise _fail(
                "PerpMarketParams",
                "tiers",
                "starting at notional_floor_usd 0",
                self.tiers[0].notional_floor_usd,
            )
        for lo, hi in zip(self.tiers, self.tiers[1:], strict=False):
            if hi.notional_floor_usd <= lo.notional_floor_usd:
                raise _fail(
                    "PerpMarketParams",
                    "tiers",
                    "strictly increasing in notional_floor_usd",
                    hi.notional_floor_usd,
                )
            if hi.maintenance_margin_frac < lo.maintenance_margin_frac:
                raise _fail(
                    "PerpMarketParams",
                    "tiers",
                    "non-decreasing in maintenance_margin_frac",
                    hi.maintenance_margin_frac,
                )
            if hi.max_leverage > lo.max_leverage:
                raise _fail(
                    "PerpMarketParams", "tiers", "non-increasing in max_leverage", hi.max_leverage
                )
        if not 0.0 <= self.taker_fee_frac < 0.1:
            raise _fail("PerpMarketParams", "taker_fee_frac", "in [0, 0.1)", self.taker_fee_frac)
        if not (math.isfinite(self.skew_scale_usd) and self.skew_scale_usd > 0.0):
            raise _fail("PerpMarketParams", "skew_scale_usd", "finite and > 0", self.skew_scale_usd)
        if not 0.0 <= self.max_premium_frac < 1.0:
            raise _fail("PerpMarketParams", "max_premium_frac", "in [0, 1)", self.max_premium_frac)


@dataclass(frozen=True, slots=True, kw_only=True)
class PerpCollateralParams:
    """An asset accepted as margin, valued at ``oracle price * haircut``."""

    asset: str
    haircut: float

    def __post_init__(self) -> None:
        if not self.asset:
            raise _fail("PerpCollateralParams", "asset", "a non-empty symbol", self.asset)
        if not 0.0 < self.haircut <= 1.0:
            raise _fail("PerpCollateralParams", "haircut", "in (0, 1]", self.haircut)


# Derive standard manager collateral discounts: ETH 0.8, BTC 0.75, DOMAIN.md A5 [S].
_DEFAULT_COLLATERAL = (
    PerpCollateralParams(asset=SETTLEMENT_ASSET, haircut=1.0),
    PerpCollateralParams(asset="ETH", haircut=0.8),
    PerpCollateralParams(asset="BTC", haircut=0.75),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PerpParams:
    """Everything the perp exchange's rules depend on.

    Parameters
    ----------
    markets
        One :class:`PerpMarketParams` per base asset (unique assets).
    collateral
        Accepted collateral; must include the settlement asset ``"USDC"``.
    mm_scale
        Governed multiplier on every maintenance rate (and so every maintenance amount) and on
        every initial rate, so initial margin stays >= maintenance margin.
    liquidation_fee_frac
        Clearance fee on liquidated notional, to the insurance fund ([R] Binance 0.5-1.25%,
        DOMAIN.md A4).
    liquidation_chunk_frac
        Fraction of each position (at the start of a liquidation) closed per round (Hyperliquid
        liquidates large positions 20% at a time, DOMAIN.md A4 [S]).
    funding_interval_seconds, interest_rate_per_interval, funding_clamp
        Binance funding: ``F = P + clamp(I - P, -clamp, +clamp)`` per 8 h interval with
        ``I = 0.01%`` and clamp 0.05% [S Binance funding FAQ, R values].
    """

    markets: tuple[PerpMarketParams, ...] = (
        PerpMarketParams(asset="ETH"),
        PerpMarketParams(asset="BTC"),
    )
    collateral: tuple[PerpCollateralParams, ...] = _DEFAULT_COLLATERAL
    mm_scale: float = 1.0
    liquidation_fee_frac: float = 0.01
    liquidation_chunk_frac: float = 0.2
    funding_interval_seconds: float = 28_800.0
    interest_rate_per_interval: float = 0.0001
    funding_clamp: float = 0.0005

    def __post_init__(self) -> None:
        if not self.markets or not all(isinstance(m, PerpMarketParams) for m in self.markets):
            raise _fail(
                "PerpParams", "markets", "a non-empty tuple of PerpMarketParams", self.markets
            )
        names = [m.asset for m in self.markets]
        if len(set(names)) != len(names):
            raise _fail("PerpParams", "markets", "unique by asset", names)
        if not self.collateral or not all(
            isinstance(c, PerpCollateralParams) for c in self.collateral
        ):
            raise _fail(
                "PerpParams",
                "collateral",
                "a non-empty tuple of PerpCollateralParams",
                self.collateral,
            )
        coll = [c.asset for c in self.collateral]
        if len(set(coll)) != len(coll):
            raise _fail("PerpParams", "collateral", "unique by asset", coll)
        if SETTLEMENT_ASSET not in coll:
            raise _fail("PerpParams", "collateral", f"including {SETTLEMENT_ASSET!r}", coll)
        if not (math.isfinite(self.mm_scale) and self.mm_scale > 0.0):
            raise _fail("PerpParams", "mm_scale", "finite and > 0", self.mm_scale)
        if not 0.0 <= self.liquidation_fee_frac < 0.5:
            raise _fail(
                "PerpParams", "liquidation_fee_frac", "in [0, 0.5)", self.liquidation_fee_frac
            )
        if not 0.0 < self.liquidation_chunk_frac <= 1.0:
            raise _fail(
                "PerpParams", "liquidation_chunk_frac", "in (0, 1]", self.liquidation_chunk_frac
            )
        if not (
            math.isfinite(self.funding_interval_seconds) and self.funding_interval_seconds > 0.0
        ):
            raise _fail(
                "PerpParams",
                "funding_interval_seconds",
                "finite and > 0",
                self.funding_interval_seconds,
            )
        if not abs(self.interest_rate_per_interval) < 0.01:
            raise _fail(
                "PerpParams",
                "interest_rate_per_interval",
                "in (-0.01, 0.01)",
                self.interest_rate_per_interval,
            )
        if not 0.0 <= self.funding_clamp < 0.1:
            raise _fail("PerpParams", "funding_clamp", "in [0, 0.1)", self.funding_clamp)

    @property
    def market_assets(self) -> tuple[str, ...]:
        """Base assets of the markets, in order."""
        return tuple(m.asset for m in self.markets)

    @property
    def collateral_assets(self) -> tuple[str, ...]:
        """Collateral assets, in order."""
        return tuple(c.asset for c in self.collateral)

    def tier_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Tier tables packed for the kernels, ``mm_scale`` applied.

        Returns
        -------
        floors_usd, mmr, maintenance_amount_usd, imr : (n_markets, max_tiers) float arrays
            Rows padded with ``inf`` floors (never selected).
        n_tiers : (n_markets,) int64
        """
        n_m = len(self.markets)
        width = max(len(m.tiers) for m in self.markets)
        floors = np.full((n_m, width), np.inf)
        mmr = np.zeros((n_m, width))
        cum = np.zeros((n_m, width))
        imr = np.zeros((n_m, width))
        n_tiers = np.zeros(n_m, dtype=np.int64)
        for i, market in enumerate(self.markets):
            k = len(market.tiers)
            n_tiers[i] = k
            floors[i, :k] = [t.notional_floor_usd for t in market.tiers]
            mmr[i, :k] = [t.maintenance_margin_frac * self.mm_scale for t in market.tiers]
            cum[i, :k] = maintenance_amounts_usd(floors[i, :k], mmr[i, :k])
            imr[i, :k] = [self.mm_scale / t.max_leverage for t in market.tiers]
        return floors, mmr, cum, imr, n_tiers
