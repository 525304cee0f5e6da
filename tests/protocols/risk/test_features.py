import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.risk.features import (
    FEATURE_NAMES,
    VARIANCE_FLOOR,
    WARMUP_HOURS,
    bar_variances,
    close_only_variances,
    feature_matrix,
    forward_realised_variance,
)

N = WARMUP_HOURS + 60


def _random_bars(rng, n):
    r = rng.standard_t(4, n) * 0.006
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.concatenate([[100.0], close[:-1]])
    span = np.abs(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * np.exp(span)
    low = np.minimum(open_, close) * np.exp(-span)
    return open_, high, low, close


def test_bar_variances_formulas() -> None:
    o, h, lo, c = (
        np.array([100.0, 101.0]),
        np.array([102.0, 103.0]),
        np.array([99.0, 100.0]),
        np.array([101.0, 100.5]),
    )
    r, rv, pk, gk = bar_variances(o, h, lo, c)
    assert math.isnan(r[0]) and r[1] == pytest.approx(math.log(100.5 / 101.0))
    assert rv[1] == pytest.approx(r[1] ** 2)
    assert pk[1] == pytest.approx(math.log(103 / 100) ** 2 / (4 * math.log(2)))
    gk_ref = 0.5 * math.log(103 / 100) ** 2 - (2 * math.log(2) - 1) * math.log(100.5 / 101) ** 2
    assert gk[1] == pytest.approx(gk_ref)
    _, rv_c, pk_c, gk_c = close_only_variances(c)
    assert pk_c[1] == gk_c[1] == rv_c[1]


def test_feature_matrix_matches_direct_windows() -> None:
    rng = np.random.default_rng(0)
    r, _, pk, gk = bar_variances(*_random_bars(rng, N))
    x = feature_matrix(r, pk, gk)
    assert x.shape == (N, len(FEATURE_NAMES))
    assert np.isnan(x[:WARMUP_HOURS]).all() and np.isfinite(x[WARMUP_HOURS:]).all()
    t = N - 1
    col = {n: x[t, i] for i, n in enumerate(FEATURE_NAMES)}
    assert col["log_rv_24h"] == pytest.approx(
        math.log(np.mean(r[t - 23 : t + 1] ** 2) + VARIANCE_FLOOR)
    )
    assert col["log_rv_720h"] == pytest.approx(
        math.log(np.mean(r[t - 719 : t + 1] ** 2) + VARIANCE_FLOOR)
    )
    assert col["log_pk_6h"] == pytest.approx(math.log(np.mean(pk[t - 5 : t + 1]) + VARIANCE_FLOOR))
    assert col["log_gk_24h"] == pytest.approx(
        math.log(np.mean(gk[t - 23 : t + 1]) + VARIANCE_FLOOR)
    )
    assert col["ret_168h"] == pytest.approx(np.sum(r[t - 167 : t + 1]))
    daily = [
        math.log(np.mean(r[e - 23 : e + 1] ** 2) + VARIANCE_FLOOR)
        for e in range(t - 720, t + 1, 24)
    ]
    assert col["vov_30d"] == pytest.approx(np.std(np.diff(daily)))


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(WARMUP_HOURS, N - 2),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.0, 50.0),
)
def test_features_at_t_ignore_every_later_bar(t: int, seed: int, scale: float) -> None:
    """No look-ahead: rewriting every bar after t leaves the features at 0..t unchanged."""
    rng = np.random.default_rng(seed)
    o, h, lo, c = _random_bars(rng, N)
    base = feature_matrix(*bar_variances(o, h, lo, c)[0:1], *bar_variances(o, h, lo, c)[2:])
    bump = np.exp(rng.normal(0, 0.05 * scale + 1e-3, N - t - 1))
    o2, h2, lo2, c2 = (a.copy() for a in (o, h, lo, c))
    for a in (o2, c2):
        a[t + 1 :] *= bump
    h2[t + 1 :] = np.maximum(o2[t + 1 :], c2[t + 1 :]) * 1.02
    lo2[t + 1 :] = np.minimum(o2[t + 1 :], c2[t + 1 :]) * 0.98
    r2, _, pk2, gk2 = bar_variances(o2, h2, lo2, c2)
    changed = feature_matrix(r2, pk2, gk2)
    np.testing.assert_array_equal(changed[: t + 1], base[: t + 1])
    assert not np.array_equal(changed[t + 1 :], base[t + 1 :])


def test_features_do_not_depend_on_where_the_array_starts() -> None:
    """The online forecaster computes features on its last WARMUP_HOURS bars: same numbers."""
    rng = np.random.default_rng(1)
    r, _, pk, gk = bar_variances(*_random_bars(rng, N))
    full = feature_matrix(r, pk, gk)
    for t in (N - 1, N - 30):
        window = slice(t - WARMUP_HOURS + 1, t + 1)
        tail = feature_matrix(r[window], pk[window], gk[window])
        np.testing.assert_allclose(tail[-1], full[t], rtol=1e-12, atol=1e-15)


def test_forward_realised_variance_sums_the_next_hours() -> None:
    r = np.array([np.nan, 0.01, -0.02, 0.03, 0.0])
    fwd = forward_realised_variance(r, 2)
    np.testing.assert_allclose(fwd[:3], [0.0001 + 0.0004, 0.0004 + 0.0009, 0.0009])
    assert np.isnan(fwd[3:]).all()
    with pytest.raises(ValueError, match="horizon_hours: must be >= 1"):
        forward_realised_variance(r, 0)


def test_feature_matrix_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="must be 1-d of one length"):
        feature_matrix(np.zeros(5), np.zeros(4), np.zeros(5))
