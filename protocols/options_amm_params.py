"""Parameters of :class:`protocols.options_amm.OptionsAMM`: Lyra v1 pricing, fees, trade limits,
circuit breakers and LP queue, plus the pool's delta-hedge rule and two governed levers.

Defaults are Lyra v1's sETH values (DOMAIN.md A6 [S]; derivexyz/v1-core
``test/utils/defaultParams.ts``: ``DEFAULT_PRICING_PARAMS``, ``DEFAULT_TRADE_LIMIT_PARAMS``,
``DEFAULT_VARIANCE_FEE_PARAMS``, ``DEFAULT_LIQUIDITY_POOL_PARAMS``, ``DEFAULT_GREEK_CACHE_PARAMS``).
The hedge parameters are this simulator's choices ([R]). The bundle is frozen and keyword-only;
recalibration builds a new one with :func:`dataclasses.replace` (``fee_scale``, ``vol_scale`` and
``iv_floor`` are the governed levers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from protocols.option_series import ListingParams

__all__ = ["DAY_SECONDS", "WEEK_SECONDS", "OptionsAmmParams"]

DAY_SECONDS = 86_400.0
WEEK_SECONDS = 7 * DAY_SECONDS

# (rule text, predicate) per field; each field is checked once in __post_init__.
_POSITIVE = ("> 0 and finite", lambda v: math.isfinite(v) and v > 0.0)
_NON_NEGATIVE = (">= 0 and finite", lambda v: math.isfinite(v) and v >= 0.0)
_FRACTION = ("in [0, 1)", lambda v: 0.0 <= v < 1.0)
_HALF = ("in [0, 0.5)", lambda v: 0.0 <= v < 0.5)


@dataclass(frozen=True, kw_only=True)
class OptionsAmmParams:
    """Everything the options AMM's rules depend on (DOMAIN.md A6).

    Parameters
    ----------
    listing
        Which boards and strikes are listed (:class:`~protocols.option_series.ListingParams`).
    option_price_fee_coef, option_price_fee_1x_seconds, option_price_fee_2x_seconds
        ``optionPriceFee = fee(T) * premium`` with the time weighting of
        :func:`~protocols.options_amm_pricing.time_weighted_fee` (1% at 6 weeks, 2x at 16 weeks).
    spot_price_fee_coef, spot_price_fee_1x_seconds, spot_price_fee_2x_seconds
        ``spotPriceFee = fee(T) * spot * amount`` (1%, 6 weeks, 12 weeks).
    vega_fee_coef
        ``vegaUtilFee = coef * vegaUtil * amount`` (sETH 100; sBTC 15000).
    standard_size_base
        Trade size (coins) that moves a board's base IV by one vol point (5).
    skew_adjustment_factor
        Skew move per standard size, in vol points / 100 (0.75).
    variance_fee_coef, variance_vega_coef, min_variance_vega, variance_skew_coef,
    reference_skew, min_variance_skew, iv_variance_coef, min_iv_variance
        ``varianceFee = c (minVega + vega kv) (minSkew + |skew - refSkew| ks)
        (minIvVar + ivVariance ki) amount`` with c 0.25, kv 0.01, minVega 0, ks 3, refSkew 1,
        minSkew 1, ki 1.5, minIvVar 1.
    min_delta
        Call delta of a traded strike must lie in ``[min_delta, 1 - min_delta]`` (0.15).
    min_base_iv, max_base_iv, min_skew, max_skew, min_vol, max_vol
        Post-trade bounds: a buy may not push base IV, skew or vol above the max, a sell not below
        the min (Lyra checks only the side the trade moves towards).
    trading_cutoff_seconds
        No trades when less than this remains to expiry (12 h).
    iv_gwav_seconds, skew_gwav_seconds
        GWAV windows of the variance measures: ``ivVariance = |GWAV_IV(1 day) - baseIV|``,
        ``skewVariance = |GWAV_skew(3 days) - skew|``.
    gwav_skew_floor, gwav_skew_cap
        Skews are clamped to ``[0.5, 2]`` before they enter their GWAV.
    liquidity_cb_threshold, liquidity_cb_seconds
        Liquidity breaker: ``freeLiquidity / NAV < 1%`` blocks the LP queue for 3 days.
    iv_variance_cb_threshold, iv_variance_cb_seconds
        IV-variance breaker: ``max_board ivVariance > 0.10``, 12 h.
    skew_variance_cb_threshold, skew_variance_cb_seconds
        Skew-variance breaker: ``max_strike skewVariance > 0.35``, 12 h.
    board_settlement_cb_seconds
        Every board settlement blocks the LP queue for 6 h (0 disables it).
    deposit_delay_seconds, withdrawal_delay_seconds, withdrawal_fee_frac
        LP queue: 1 week each way; 1% of a withdrawal stays in the pool (for remaining LPs).
    hedge_band_nav_frac
        The pool re-hedges when ``|net delta| x spot`` exceeds this fraction of NAV [R]. Lyra's
        hedger brings net delta to zero whenever it may interact.
    hedge_interval_seconds
        Shortest time between two hedge checks [R] (Lyra's ``interactionDelay`` test default is
        24 h, too slow for crash replays at one-minute steps).
    hedge_margin_frac
        USDC margin the pool keeps on the perp account, as a fraction of the hedge notional
        (0.5: 2x leverage) [R]; Lyra's Synthetix short used ``shortBuffer`` 2 (200% collateral).
    fee_scale
        Governed multiplier on every fee (1 = Lyra's fees).
    vol_scale
        Governed multiplier on every vol the pool prices and marks at (1 = Lyra's marks); the
        trade limits still apply to the unscaled ``baseIV x skew``.
    iv_floor
        Governed floor on the vol every price and mark uses, after ``vol_scale`` (0 = none).
    """

    listing: ListingParams = field(default_factory=ListingParams)
    # pricing [S] DEFAULT_PRICING_PARAMS (sETH)
    option_price_fee_coef: float = 0.01
    option_price_fee_1x_seconds: float = 6 * WEEK_SECONDS
    option_price_fee_2x_seconds: float = 16 * WEEK_SECONDS
    spot_price_fee_coef: float = 0.01
    spot_price_fee_1x_seconds: float = 6 * WEEK_SECONDS
    spot_price_fee_2x_seconds: float = 12 * WEEK_SECONDS
    vega_fee_coef: float = 100.0
    standard_size_base: float = 5.0
    skew_adjustment_factor: float = 0.75
    # variance fee [S] DEFAULT_VARIANCE_FEE_PARAMS
    variance_fee_coef: float = 0.25
    variance_vega_coef: float = 0.01
    min_variance_vega: float = 0.0
    variance_skew_coef: float = 3.0
    reference_skew: float = 1.0
    min_variance_skew: float = 1.0
    iv_variance_coef: float = 1.5
    min_iv_variance: float = 1.0
    # trade limits [S] DEFAULT_TRADE_LIMIT_PARAMS
    min_delta: float = 0.15
    min_base_iv: float = 0.35
    max_base_iv: float = 2.0
    min_skew: float = 0.5
    max_skew: float = 1.5
    min_vol: float = 0.55
    max_vol: float = 3.0
    trading_cutoff_seconds: float = 0.5 * DAY_SECONDS
    # GWAVs [S] DEFAULT_GREEK_CACHE_PARAMS
    iv_gwav_seconds: float = DAY_SECONDS
    skew_gwav_seconds: float = 3 * DAY_SECONDS
    gwav_skew_floor: float = 0.5
    gwav_skew_cap: float = 2.0
    # circuit breakers and LP queue [S] DEFAULT_LIQUIDITY_POOL_PARAMS
    liquidity_cb_threshold: float = 0.01
    liquidity_cb_seconds: float = 3 * DAY_SECONDS
    iv_variance_cb_threshold: float = 0.10
    iv_variance_cb_seconds: float = 0.5 * DAY_SECONDS
    skew_variance_cb_threshold: float = 0.35
    skew_variance_cb_seconds: float = 0.5 * DAY_SECONDS
    board_settlement_cb_seconds: float = 0.25 * DAY_SECONDS
    deposit_delay_seconds: float = WEEK_SECONDS
    withdrawal_delay_seconds: float = WEEK_SECONDS
    withdrawal_fee_frac: float = 0.01
    # the pool's delta hedge [R]
    hedge_band_nav_frac: float = 0.01
    hedge_interval_seconds: float = 3600.0
    hedge_margin_frac: float = 0.5
    # governed levers
    fee_scale: float = 1.0
    vol_scale: float = 1.0
    iv_floor: float = 0.0

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.listing, ListingParams):
            raise ValueError(f"{name}.listing: must be ListingParams, got {self.listing!r}")
        rules = {
            "option_price_fee_coef": _NON_NEGATIVE,
            "spot_price_fee_coef": _NON_NEGATIVE,
            "vega_fee_coef": _NON_NEGATIVE,
            "standard_size_base": _POSITIVE,
            "skew_adjustment_factor": _NON_NEGATIVE,
            "variance_fee_coef": _NON_NEGATIVE,
            "variance_vega_coef": _NON_NEGATIVE,
            "min_variance_vega": _NON_NEGATIVE,
            "variance_skew_coef": _NON_NEGATIVE,
            "reference_skew": _POSITIVE,
            "min_variance_skew": _NON_NEGATIVE,
            "iv_variance_coef": _NON_NEGATIVE,
            "min_iv_variance": _NON_NEGATIVE,
            "min_delta": _HALF,
            "min_base_iv": _NON_NEGATIVE,
            "max_base_iv": _POSITIVE,
            "min_skew": _NON_NEGATIVE,
            "max_skew": _POSITIVE,
            "min_vol": _NON_NEGATIVE,
            "max_vol": _POSITIVE,
            "trading_cutoff_seconds": _NON_NEGATIVE,
            "iv_gwav_seconds": _POSITIVE,
            "skew_gwav_seconds": _POSITIVE,
            "gwav_skew_floor": _POSITIVE,
            "gwav_skew_cap": _POSITIVE,
            "liquidity_cb_threshold": _FRACTION,
            "liquidity_cb_seconds": _NON_NEGATIVE,
            "iv_variance_cb_threshold": _POSITIVE,
            "iv_variance_cb_seconds": _NON_NEGATIVE,
            "skew_variance_cb_threshold": _POSITIVE,
            "skew_variance_cb_seconds": _NON_NEGATIVE,
            "board_settlement_cb_seconds": _NON_NEGATIVE,
            "deposit_delay_seconds": _NON_NEGATIVE,
            "withdrawal_delay_seconds": _NON_NEGATIVE,
            "withdrawal_fee_frac": _HALF,
            "hedge_band_nav_frac": _NON_NEGATIVE,
            "hedge_interval_seconds": _NON_NEGATIVE,
            "hedge_margin_frac": _POSITIVE,
            "fee_scale": _NON_NEGATIVE,
            "vol_scale": _POSITIVE,
            "iv_floor": _NON_NEGATIVE,
        }
        for fld, (rule, ok) in rules.items():
            value = getattr(self, fld)
            if not (isinstance(value, int | float) and ok(float(value))):
                raise ValueError(f"{name}.{fld}: must be {rule}, got {value!r}")
        ordered = (
            ("option_price_fee_1x_seconds", "option_price_fee_2x_seconds"),
            ("spot_price_fee_1x_seconds", "spot_price_fee_2x_seconds"),
            ("min_base_iv", "max_base_iv"),
            ("min_skew", "max_skew"),
            ("min_vol", "max_vol"),
            ("gwav_skew_floor", "gwav_skew_cap"),
        )
        for lo, hi in ordered:
            a, b = getattr(self, lo), getattr(self, hi)
            if not (math.isfinite(a) and a >= 0.0 and a < b):
                raise ValueError(f"{name}.{lo}: must be >= 0 and < {hi} ({b}), got {a!r}")
