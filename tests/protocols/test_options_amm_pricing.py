"""Options AMM pricing rules (Lyra v1, DOMAIN.md A6): fees against hand computations, IV impact,
trade limits, breaker thresholds, the GWAV accumulator, and parameter validation."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.options_amm_params import DAY_SECONDS, WEEK_SECONDS, OptionsAmmParams
from protocols.options_amm_pricing import (
    GeometricTwap,
    breaker_timeouts,
    iv_impact,
    std_vega_factor,
    time_weighted_fee,
    trade_fees,
    within_trade_limits,
)

P = OptionsAmmParams()


def test_time_weighted_fee_is_flat_to_a_then_linear_to_twice_at_b() -> None:
    a, b = 6 * WEEK_SECONDS, 16 * WEEK_SECONDS
    assert time_weighted_fee(0.01, 1 * DAY_SECONDS, a, b) == 0.01
    assert time_weighted_fee(0.01, a, a, b) == 0.01
    assert time_weighted_fee(0.01, 11 * WEEK_SECONDS, a, b) == pytest.approx(0.015)
    assert time_weighted_fee(0.01, b, a, b) == pytest.approx(0.02)


def test_iv_impact_one_standard_size_is_one_vol_point_and_075_skew_points() -> None:
    # DOMAIN.md A6: orderSize = 5 / 5 = 1 -> baseIV +1/100, skew +0.75/100 when the user buys
    base, skew = iv_impact(0.60, 1.10, 5.0, True, P)
    assert base == pytest.approx(0.61) and skew == pytest.approx(1.1075)
    base, skew = iv_impact(0.60, 1.10, 12.5, False, P)
    assert base == pytest.approx(0.575) and skew == pytest.approx(1.10 - 0.01875)


def test_std_vega_factor_normalises_to_thirty_days_with_a_seven_day_floor() -> None:
    assert std_vega_factor(30 * DAY_SECONDS) == pytest.approx(1.0)
    assert std_vega_factor(120 * DAY_SECONDS) == pytest.approx(0.5)
    assert std_vega_factor(2 * DAY_SECONDS) == pytest.approx(math.sqrt(30 / 7))
    assert std_vega_factor(7.9 * DAY_SECONDS) == pytest.approx(math.sqrt(30 / 7))  # whole days


def test_trade_fees_match_a_hand_computation() -> None:
    # 2 options, 8 weeks to expiry, spot 2000, premium 300, post-trade vol 0.8, skew 1.2
    fees = trade_fees(
        P,
        size_base=2.0,
        premium_usd=300.0,
        spot_usd=2000.0,
        t_seconds=8 * WEEK_SECONDS,
        vol=0.8,
        vega_per_vol_point=2.5,
        skew=1.2,
        iv_variance=0.04,
        pre_std_vega=-100.0,
        post_std_vega=-150.0,
        nav_usd=1_000_000.0,
    )
    # option fee: 0.01 x (1 + 2/10) x 300 = 3.6; spot fee: 0.01 x (1 + 2/6) x 2000 x 2 = 53.333
    assert fees.option_price_usd == pytest.approx(3.6)
    assert fees.spot_price_usd == pytest.approx(160.0 / 3.0)
    # vega util: 0.8 x 150 / 1e6 = 1.2e-4; fee 100 x 1.2e-4 x 2 = 0.024
    assert fees.vega_util_usd == pytest.approx(0.024)
    # variance: 0.25 x (0 + 250 x 0.01) x (1 + 0.2 x 3) x (1 + 0.04 x 1.5) x 2 = 2.12
    assert fees.variance_usd == pytest.approx(0.25 * 2.5 * 1.6 * 1.06 * 2.0)
    assert fees.total_usd == pytest.approx(3.6 + 160.0 / 3.0 + 0.024 + 2.12)


def _fees(params: OptionsAmmParams, pre: float, post: float):
    return trade_fees(
        params,
        size_base=1.0,
        premium_usd=100.0,
        spot_usd=3000.0,
        t_seconds=7 * DAY_SECONDS,
        vol=0.6,
        vega_per_vol_point=1.5,
        skew=1.0,
        iv_variance=0.0,
        pre_std_vega=pre,
        post_std_vega=post,
        nav_usd=1e5,
    )


def test_vega_util_fee_only_when_net_std_vega_magnitude_grows() -> None:
    assert _fees(P, -100.0, -120.0).vega_util_usd == pytest.approx(100 * 0.6 * 120 / 1e5)
    assert _fees(P, -120.0, -100.0).vega_util_usd == 0.0
    assert _fees(P, 50.0, -50.0).vega_util_usd == 0.0  # |post| == |pre|: not an increase


def test_fee_scale_multiplies_every_component() -> None:
    base = _fees(P, -100.0, -120.0)
    scaled = _fees(dataclasses.replace(P, fee_scale=2.5), -100.0, -120.0)
    for name in ("option_price_usd", "spot_price_usd", "vega_util_usd", "variance_usd"):
        assert getattr(scaled, name) == pytest.approx(2.5 * getattr(base, name))


def test_trade_limits_check_only_the_side_the_trade_moves_to() -> None:
    # a buy is refused above a maximum, a sell below a minimum; the other side is not checked
    assert within_trade_limits(1.9, 1.0, 0.5, True, P)
    assert not within_trade_limits(2.01, 1.0, 0.5, True, P)  # max base IV 2
    assert not within_trade_limits(1.0, 1.51, 0.5, True, P)  # max skew 1.5
    assert not within_trade_limits(1.5, 1.4, 0.5, True, dataclasses.replace(P, max_vol=2.0))
    assert within_trade_limits(0.30, 1.0, 0.5, True, P)  # below min base IV: a buy may
    assert not within_trade_limits(0.30, 1.0, 0.5, False, P)  # ... a sell may not
    assert not within_trade_limits(0.5, 1.0, 0.5, False, P)  # vol 0.5 < min vol 0.55
    assert within_trade_limits(0.6, 1.0, 0.15, False, P)  # call delta at the 0.15 edge
    assert not within_trade_limits(0.6, 1.0, 0.1499, False, P)
    assert not within_trade_limits(0.6, 1.0, 0.8501, True, P)


def test_breakers_trip_strictly_beyond_their_thresholds() -> None:
    assert breaker_timeouts(0.10, 0.35, 0.01, P) == {}
    eps = 1e-9
    assert breaker_timeouts(0.10 + eps, 0.0, 0.5, P) == {"iv_variance": 0.5 * DAY_SECONDS}
    assert breaker_timeouts(0.0, 0.35 + eps, 0.5, P) == {"skew_variance": 0.5 * DAY_SECONDS}
    assert breaker_timeouts(0.0, 0.0, 0.01 - eps, P) == {"liquidity": 3 * DAY_SECONDS}
    assert set(breaker_timeouts(1.0, 1.0, 0.0, P)) == {"iv_variance", "skew_variance", "liquidity"}


def test_gwav_matches_a_hand_computation() -> None:
    g = GeometricTwap(1.0, 0.0, horizon_seconds=1000.0)
    g.write(2.0, 100.0)
    assert g.last == 2.0
    # 100 s at 1 and 100 s at 2: exp((100 ln 1 + 100 ln 2) / 200) = sqrt(2)
    assert g.average(200.0, 200.0) == pytest.approx(math.sqrt(2.0))
    # the window reaches before the first write: the first value is assumed there (Lyra)
    assert g.average(200.0, 300.0) == pytest.approx(2.0 ** (1.0 / 3.0))
    assert g.average(200.0, 50.0) == pytest.approx(2.0)
    assert g.average(200.0, 0.0) == 2.0
    g.write(8.0, 200.0)
    g.write(4.0, 200.0)  # same time: replaces
    assert g.average(300.0, 300.0) == pytest.approx(math.exp((100 * math.log(2) * 3) / 300))


def test_gwav_rejects_bad_writes() -> None:
    g = GeometricTwap(1.0, 10.0, horizon_seconds=100.0)
    with pytest.raises(ValueError, match=r"GeometricTwap\.write: t_seconds"):
        g.write(1.0, 5.0)
    with pytest.raises(ValueError, match=r"GeometricTwap\.write: value must be > 0"):
        g.write(0.0, 20.0)
    with pytest.raises(ValueError, match=r"GeometricTwap\.value"):
        GeometricTwap(float("nan"), 0.0, horizon_seconds=1.0)


def _reference_gwav(points: list[tuple[float, float]], t: float, window: float) -> float:
    """Integrate ln v piecewise by brute force (the value before the first write is the first)."""
    lo, total = t - window, 0.0
    times = [p[0] for p in points] + [math.inf]
    for i, (start, value) in enumerate(points):
        a = -math.inf if i == 0 else start
        b = times[i + 1]
        overlap = max(0.0, min(b, t) - max(a, lo))
        total += overlap * math.log(value)
    return math.exp(total / window)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0.05, 5.0), min_size=1, max_size=25),
    gaps=st.lists(st.integers(0, 500), min_size=25, max_size=25),
    window=st.integers(1, 2000),
    tail=st.integers(0, 600),
)
def test_gwav_equals_the_integral_of_log_value(values, gaps, window, tail) -> None:
    g = GeometricTwap(values[0], 0.0, horizon_seconds=2000.0)
    points, t = [(0.0, values[0])], 0.0
    for value, gap in zip(values[1:], gaps, strict=False):
        t += gap
        g.write(value, t)
        if gap == 0:
            points[-1] = (t, value)
        else:
            points.append((t, value))
    now = t + tail
    assert g.average(now, window) == pytest.approx(_reference_gwav(points, now, window), rel=1e-9)


def test_params_errors_name_the_field_and_rule() -> None:
    with pytest.raises(ValueError, match=r"OptionsAmmParams\.standard_size_base: must be > 0"):
        OptionsAmmParams(standard_size_base=0.0)
    with pytest.raises(ValueError, match=r"OptionsAmmParams\.withdrawal_fee_frac: must be in"):
        OptionsAmmParams(withdrawal_fee_frac=0.6)
    with pytest.raises(
        ValueError, match=r"OptionsAmmParams\.min_skew: must be >= 0 and < max_skew"
    ):
        OptionsAmmParams(min_skew=1.6)
    with pytest.raises(ValueError, match=r"OptionsAmmParams\.fee_scale"):
        OptionsAmmParams(fee_scale=float("nan"))
    with pytest.raises(ValueError, match=r"OptionsAmmParams\.listing"):
        OptionsAmmParams(listing=None)
