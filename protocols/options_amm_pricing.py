"""Lyra v1 pricing rules of the options AMM: IV impact, fees, trade bounds, circuit-breaker triggers
and the geometric time-weighted average (GWAV) behind the variance measures (DOMAIN.md A6 [S];
derivexyz/v1-core ``OptionMarketPricer.sol``, ``OptionGreekCache.sol``, ``libraries/GWAV.sol``,
``libraries/BlackScholes.sol``, ``LiquidityPool.sol::_updateCBs``).

The fee, impact, bound and breaker rules are pure functions of scalars; :class:`GeometricTwap` is
the small GWAV accumulator. Option prices and Greeks come from
:mod:`protocols.margin.greek_kernels`; nothing here re-implements them.

Vega units: the greek kernels give ``vega_per_vol_point = dV/dsigma / 100``. Lyra's ``vega`` is
``dV/dsigma`` (per 1.00 of vol), so the variance fee uses ``100 x vega_per_vol_point``; Lyra's
*standard* vega is ``dV/dsigma x sqrt(30 / days) / 100`` = ``vega_per_vol_point x
std_vega_factor(T)``, the vega normalised to a 30-day option (:func:`std_vega_factor`).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from protocols.options_amm_params import DAY_SECONDS, OptionsAmmParams

__all__ = [
    "BREAKER_NAMES",
    "FeeBreakdown",
    "GeometricTwap",
    "breaker_timeouts",
    "iv_impact",
    "marked_vol",
    "std_vega_factor",
    "time_weighted_fee",
    "trade_fees",
    "within_trade_limits",
]

BREAKER_NAMES = ("liquidity", "iv_variance", "skew_variance", "board_settlement")
"""Circuit breakers of the pool, the keys of ``OptionsAMM.breaker_trips``."""

_STD_VEGA_MIN_DAYS = 7  # BlackScholes.sol VEGA_STANDARDISATION_MIN_DAYS


def time_weighted_fee(
    coef: float, t_seconds: float, one_x_seconds: float, two_x_seconds: float
) -> float:
    """Fee coefficient at time to expiry ``t_seconds``.

    Notes
    -----
    ``fee(T) = coef`` for ``T <= A``, else ``coef (1 + (T - A) / (B - A))``: twice the coefficient
    at ``B`` (``getTimeWeightedFee``).
    """
    if t_seconds <= one_x_seconds:
        return coef
    return coef * (1.0 + (t_seconds - one_x_seconds) / (two_x_seconds - one_x_seconds))


def marked_vol(raw_vol: float | np.ndarray, params: OptionsAmmParams) -> float | np.ndarray:
    """``max(raw_vol x vol_scale, iv_floor)``: the vol prices and marks use (scalar or array)."""
    return np.maximum(raw_vol * params.vol_scale, params.iv_floor)


def iv_impact(
    base_iv: float,
    skew: float,
    size_base: float,
    is_buy: bool,
    params: OptionsAmmParams,
) -> tuple[float, float]:
    """Post-trade ``(base_iv, skew)`` of a trade of ``size_base`` coins.

    Notes
    -----
    ``orderSize = amount / standardSize``; base IV moves by ``orderSize / 100`` (one standard size
    is one vol point) and skew by ``orderSize / 100 x skewAdjustmentFactor``, up when the user buys
    and down when the user sells (``ivImpactForTrade``).
    """
    move = size_base / params.standard_size_base / 100.0
    sign = 1.0 if is_buy else -1.0
    return base_iv + sign * move, skew + sign * move * params.skew_adjustment_factor


def within_trade_limits(
    base_iv: float, skew: float, call_delta: float, is_buy: bool, params: OptionsAmmParams
) -> bool:
    """Whether a trade's post-trade marks respect Lyra's trade limits.

    Notes
    -----
    A buy must keep base IV, skew and ``vol = baseIV x skew`` at or below their maxima, a sell at
    or above their minima (``updateCacheAndGetTradeResult`` checks only the side the trade moves
    towards, so a trade back towards the band is always allowed). The strike's call delta at the
    post-trade vol must lie in ``[min_delta, 1 - min_delta]`` either way.
    """
    p, vol = params, base_iv * skew
    if not p.min_delta <= call_delta <= 1.0 - p.min_delta:
        return False
    if is_buy:
        return vol <= p.max_vol and base_iv <= p.max_base_iv and skew <= p.max_skew
    return vol >= p.min_vol and base_iv >= p.min_base_iv and skew >= p.min_skew


def std_vega_factor(t_seconds: float) -> float:
    """Factor from vega per vol point to Lyra's standard vega: ``sqrt(30 / days)``.

    ``days`` is the whole number of days to expiry, at least 7 (``_getVegaNormalisationFactor``).
    """
    days = math.floor(max(t_seconds, _STD_VEGA_MIN_DAYS * DAY_SECONDS) / DAY_SECONDS)
    return math.sqrt(30.0 / days)


@dataclass(frozen=True, slots=True)
class FeeBreakdown:
    """The four fee components of one trade, USD, already multiplied by ``fee_scale``."""

    option_price_usd: float
    spot_price_usd: float
    vega_util_usd: float
    variance_usd: float

    @property
    def total_usd(self) -> float:
        """Sum of the components."""
        return self.option_price_usd + self.spot_price_usd + self.vega_util_usd + self.variance_usd


def trade_fees(
    params: OptionsAmmParams,
    *,
    size_base: float,
    premium_usd: float,
    spot_usd: float,
    t_seconds: float,
    vol: float,
    vega_per_vol_point: float,
    skew: float,
    iv_variance: float,
    pre_std_vega: float,
    post_std_vega: float,
    nav_usd: float,
) -> FeeBreakdown:
    """Lyra v1 fees of a trade (``getTradeResult``), each times ``params.fee_scale``.

    Parameters
    ----------
    size_base
        Coins traded (> 0).
    premium_usd
        ``price x size_base`` at the post-trade vol.
    spot_usd, t_seconds
        Spot price and time to expiry.
    vol
        Post-trade vol of the traded strike (``volTraded``).
    vega_per_vol_point
        Vega of one option at ``vol``, USD per vol point.
    skew
        Post-trade skew of the strike.
    iv_variance
        ``|GWAV_IV - baseIV|`` of the board before the trade.
    pre_std_vega, post_std_vega
        The pool's net standard vega before and after the trade (USD per vol point, 30-day
        normalised; negative when the pool is short vega).
    nav_usd
        Pool NAV before the trade (> 0).

    Notes
    -----
    ``optionPriceFee = fee_opt(T) premium``; ``spotPriceFee = fee_spot(T) S amount``;
    ``vegaUtilFee = vegaFeeCoef x volTraded |post| / NAV x amount``, only if ``|post| > |pre|``;
    ``varianceFee = c (minVega + 100 vega kv) (minSkew + |skew - refSkew| ks)
    (minIvVar + ivVariance ki) amount``.
    """
    p = params
    opt = time_weighted_fee(
        p.option_price_fee_coef,
        t_seconds,
        p.option_price_fee_1x_seconds,
        p.option_price_fee_2x_seconds,
    )
    spot = time_weighted_fee(
        p.spot_price_fee_coef, t_seconds, p.spot_price_fee_1x_seconds, p.spot_price_fee_2x_seconds
    )
    vega_util = 0.0
    if abs(post_std_vega) > abs(pre_std_vega):
        vega_util = vol * abs(post_std_vega) / nav_usd
    variance = (
        p.variance_fee_coef
        * (p.min_variance_vega + 100.0 * vega_per_vol_point * p.variance_vega_coef)
        * (p.min_variance_skew + abs(skew - p.reference_skew) * p.variance_skew_coef)
        * (p.min_iv_variance + iv_variance * p.iv_variance_coef)
    )
    k = p.fee_scale
    return FeeBreakdown(
        option_price_usd=k * opt * premium_usd,
        spot_price_usd=k * spot * spot_usd * size_base,
        vega_util_usd=k * p.vega_fee_coef * vega_util * size_base,
        variance_usd=k * variance * size_base,
    )


def breaker_timeouts(
    max_iv_variance: float,
    max_skew_variance: float,
    free_liquidity_frac: float,
    params: OptionsAmmParams,
) -> dict[str, float]:
    """The breakers whose thresholds are crossed, with their timeouts in seconds (``_updateCBs``).

    Notes
    -----
    IV variance trips when ``max |GWAV_IV - IV| > threshold``, skew variance when
    ``max |GWAV_skew - skew| > threshold``, liquidity when ``free / NAV < threshold`` (all strict).
    The pool then sets ``CB = max(CB, now + max(timeouts))``.
    """
    p = params
    out: dict[str, float] = {}
    if free_liquidity_frac < p.liquidity_cb_threshold:
        out["liquidity"] = p.liquidity_cb_seconds
    if max_iv_variance > p.iv_variance_cb_threshold:
        out["iv_variance"] = p.iv_variance_cb_seconds
    if max_skew_variance > p.skew_variance_cb_threshold:
        out["skew_variance"] = p.skew_variance_cb_seconds
    return out


class GeometricTwap:
    """Geometric time-weighted average of a piecewise-constant positive value (Lyra's GWAV).

    Parameters
    ----------
    value
        The value from ``t_seconds`` on (and, as in Lyra, assumed before it too).
    t_seconds
        Time of the first observation.
    horizon_seconds
        Longest window that will be asked for; older observations are dropped.

    Notes
    -----
    With ``Q(t) = integral of ln v(s) ds`` (v held at its last written value),
    ``GWAV(t, w) = exp((Q(t) - Q(t - w)) / w)``. Lyra's ``_write`` accumulates ``q`` the same way
    and ``getGWAVForPeriod`` scales the nearest observations to the window's ends.
    """

    def __init__(self, value: float, t_seconds: float, *, horizon_seconds: float) -> None:
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"GeometricTwap.value: must be > 0 and finite, got {value!r}")
        self._t = [float(t_seconds)]
        self._q = [0.0]
        self._log_v = [math.log(value)]
        self._horizon = float(horizon_seconds)

    @property
    def last(self) -> float:
        """The latest written value."""
        return math.exp(self._log_v[-1])

    def write(self, value: float, t_seconds: float) -> None:
        """Record that the value is ``value`` from ``t_seconds`` on (a later write at the same
        time replaces it)."""
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"GeometricTwap.write: value must be > 0 and finite, got {value!r}")
        t = float(t_seconds)
        if t < self._t[-1]:
            raise ValueError(
                f"GeometricTwap.write: t_seconds must be >= the last write {self._t[-1]}, got {t}"
            )
        if t == self._t[-1]:
            self._log_v[-1] = math.log(value)
            return
        self._q.append(self._q[-1] + self._log_v[-1] * (t - self._t[-1]))
        self._t.append(t)
        self._log_v.append(math.log(value))
        # keep one observation at or before t - horizon, drop the older ones
        keep = bisect.bisect_right(self._t, t - self._horizon) - 1
        if keep > 0:
            del self._t[:keep], self._q[:keep], self._log_v[:keep]

    def _integral(self, t: float) -> float:
        i = max(bisect.bisect_right(self._t, t) - 1, 0)
        return self._q[i] + self._log_v[i] * (t - self._t[i])

    def average(self, t_seconds: float, window_seconds: float) -> float:
        """GWAV over ``[t_seconds - window_seconds, t_seconds]`` (the value at ``t`` if the
        window is 0)."""
        if window_seconds <= 0.0:
            i = max(bisect.bisect_right(self._t, t_seconds) - 1, 0)
            return math.exp(self._log_v[i])
        q1 = self._integral(t_seconds)
        q0 = self._integral(t_seconds - window_seconds)
        return math.exp((q1 - q0) / window_seconds)
