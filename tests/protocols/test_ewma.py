import math

import numpy as np
import pytest

from protocols.risk.ewma import SECONDS_PER_YEAR, EwmaForecaster, vol_scaled_margin


def reference_ewma(returns, dt, half_life, v0):
    lam = 0.5 ** (dt / half_life)
    v = v0
    for r in returns:
        v = lam * v + (1 - lam) * r * r / dt
    return v


def test_ewma_matches_reference_recursion() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.002, 500)
    f = EwmaForecaster(half_life_seconds=3600, initial_vol_annual=0.5)
    for x in r:
        f.update(float(x), 60.0)
    v0 = 0.25 / SECONDS_PER_YEAR
    assert f.variance_per_second == pytest.approx(reference_ewma(r, 60.0, 3600.0, v0), rel=1e-12)


def test_ewma_converges_to_true_vol_and_half_life_is_wall_clock() -> None:
    rng = np.random.default_rng(2)
    sigma_annual = 0.8
    dt = 60.0
    r = rng.normal(0, sigma_annual * math.sqrt(dt / SECONDS_PER_YEAR), 50_000)
    f = EwmaForecaster(half_life_seconds=6 * 3600, initial_vol_annual=0.2)
    for x in r:
        f.update(float(x), dt)
    assert f.vol_annual == pytest.approx(sigma_annual, rel=0.1)
    # one update over a whole half-life moves the variance half-way to the new observation
    g = EwmaForecaster(half_life_seconds=100.0, initial_vol_annual=1.0)
    v0 = g.variance_per_second
    g.update(0.0, 100.0)
    assert g.variance_per_second == pytest.approx(0.5 * v0)


def test_vol_scaled_margin_clamps() -> None:
    assert vol_scaled_margin(1.2, 0.6, floor=1.0, cap=3.0) == 2.0
    assert vol_scaled_margin(0.3, 0.6, floor=1.0, cap=3.0) == 1.0
    assert vol_scaled_margin(6.0, 0.6, floor=1.0, cap=3.0) == 3.0


def test_ewma_rejects_bad_params() -> None:
    with pytest.raises(ValueError, match="half_life_seconds: must be > 0"):
        EwmaForecaster(half_life_seconds=0.0, initial_vol_annual=0.5)
