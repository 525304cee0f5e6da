"""Hourly realised-variance features for the HAR and machine-learning forecasters (DOMAIN.md C).

Everything runs on an hourly clock. Each hour ``t`` gives three variance measures of that hour:

- ``rv``: the squared close-to-close log return ``r_t^2``;
- ``pk``: Parkinson's range estimator ``(ln H/L)^2 / (4 ln 2)``;
- ``gk``: Garman-Klass ``0.5 (ln H/L)^2 - (2 ln 2 - 1)(ln C/O)^2``.

When a bar has no high and low (CoinGecko point prices, or an online hour made of too few returns)
``pk`` and ``gk`` fall back to ``r_t^2``: an unbiased but noisier estimate of the same hourly
variance, so the features keep their scale.

Every feature at hour ``t`` is a function of hours ``<= t`` only (trailing windows, computed window
by window, so a value never depends on where the array starts or on anything after ``t``); the
tests check this with Hypothesis. Hours without enough history are NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "FEATURE_NAMES",
    "HOURS_PER_DAY",
    "VARIANCE_FLOOR",
    "WARMUP_HOURS",
    "bar_variances",
    "close_only_variances",
    "feature_matrix",
    "forward_realised_variance",
    "log_returns",
]

HOURS_PER_DAY = 24
MONTH_HOURS = 30 * HOURS_PER_DAY
VOV_DAYS = 30
WARMUP_HOURS = MONTH_HOURS + HOURS_PER_DAY
"""Hours of history the first complete feature row needs (the 30-day vol-of-vol looks back 31
daily realised variances, the oldest of which spans 24 hours)."""
VARIANCE_FLOOR = 1e-10
"""Per-hour variance added before taking logs, so a flat hour (a maintenance bar) stays finite.
About 0.06 % annualised: far below any real crypto volatility."""
_TWO_LN2_M1 = 2.0 * math.log(2.0) - 1.0
_FOUR_LN2 = 4.0 * math.log(2.0)

FEATURE_NAMES: tuple[str, ...] = (
    "log_rv_6h",
    "log_rv_24h",
    "log_rv_168h",
    "log_rv_720h",
    "log_pk_6h",
    "log_pk_24h",
    "log_pk_168h",
    "log_gk_24h",
    "vov_30d",
    "ret_24h",
    "ret_168h",
)
"""Columns of :func:`feature_matrix`. ``log_<x>_<w>h`` is the log of the mean hourly ``x`` over the
last ``w`` hours (the 24/168/720-hour means are the HAR daily, weekly and monthly components on an
hourly clock, with the 7- and 30-day windows DOMAIN.md C recommends for 24/7 markets);
``vov_30d`` is the standard deviation of the 30 daily changes of ``log_rv_24h`` over the last 30
days (vol-of-vol); ``ret_<w>h`` is the log return over the last ``w`` hours (leverage effect)."""


def log_returns(close: np.ndarray) -> np.ndarray:
    """Hourly log returns ``r_t = ln(C_t / C_{t-1})``; ``r_0`` is NaN."""
    c = np.asarray(close, dtype=float)
    r = np.full(c.shape, np.nan)
    r[1:] = np.diff(np.log(c))
    return r


def bar_variances(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(r, rv, pk, gk)`` of OHLC bars; see the module docstring for the formulas."""
    o, h, lo, c = (np.asarray(x, dtype=float) for x in (open_, high, low, close))
    r = log_returns(c)
    hl = np.log(h / lo)
    co = np.log(c / o)
    pk = hl * hl / _FOUR_LN2
    gk = 0.5 * hl * hl - _TWO_LN2_M1 * co * co
    return r, r * r, pk, gk


def close_only_variances(
    close: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(r, rv, pk, gk)`` of close-only bars: the range estimators fall back to ``r^2``."""
    r = log_returns(close)
    rv = r * r
    return r, rv, rv.copy(), rv.copy()


def _trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``x[t - window + 1 .. t]`` at each ``t`` (NaN before the first full window)."""
    out = np.full(x.shape, np.nan)
    if x.size >= window:
        out[window - 1 :] = sliding_window_view(x, window).mean(axis=1)
    return out


def _trailing_sum(x: np.ndarray, window: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    if x.size >= window:
        out[window - 1 :] = sliding_window_view(x, window).sum(axis=1)
    return out


def _log_mean(x: np.ndarray, window: int) -> np.ndarray:
    return np.log(_trailing_mean(x, window) + VARIANCE_FLOOR)


def feature_matrix(r: np.ndarray, pk: np.ndarray, gk: np.ndarray) -> np.ndarray:
    """Features ``(n_hours, len(FEATURE_NAMES))`` at every hour from the hourly series.

    Parameters
    ----------
    r : (n,) hourly log returns (``r[0]`` may be NaN; NaN propagates to the windows holding it)
    pk, gk : (n,) per-hour Parkinson and Garman-Klass variances

    Notes
    -----
    Row ``t`` uses ``r, pk, gk`` at hours ``t - WARMUP_HOURS + 1 .. t`` and nothing else; a row
    with any incomplete window (or a NaN input inside one) is NaN throughout.
    """
    r = np.asarray(r, dtype=float)
    pk = np.asarray(pk, dtype=float)
    gk = np.asarray(gk, dtype=float)
    if not (r.shape == pk.shape == gk.shape and r.ndim == 1):
        raise ValueError(
            f"feature_matrix: r, pk, gk must be 1-d of one length, got {r.shape}, {pk.shape}, "
            f"{gk.shape}"
        )
    rv = r * r
    n = r.size
    out = np.full((n, len(FEATURE_NAMES)), np.nan)
    out[:, 0] = _log_mean(rv, 6)
    out[:, 1] = log_rv_24h = _log_mean(rv, HOURS_PER_DAY)
    out[:, 2] = _log_mean(rv, 7 * HOURS_PER_DAY)
    out[:, 3] = _log_mean(rv, MONTH_HOURS)
    out[:, 4] = _log_mean(pk, 6)
    out[:, 5] = _log_mean(pk, HOURS_PER_DAY)
    out[:, 6] = _log_mean(pk, 7 * HOURS_PER_DAY)
    out[:, 7] = _log_mean(gk, HOURS_PER_DAY)
    # vol-of-vol: daily log-RV changes at lags 24 h apart, ending at t
    change = np.full(n, np.nan)
    change[HOURS_PER_DAY:] = log_rv_24h[HOURS_PER_DAY:] - log_rv_24h[:-HOURS_PER_DAY]
    span = (VOV_DAYS - 1) * HOURS_PER_DAY + 1
    if n >= span:
        lagged = sliding_window_view(change, span)[:, ::HOURS_PER_DAY]
        out[span - 1 :, 8] = lagged.std(axis=1)
    out[:, 9] = _trailing_sum(r, HOURS_PER_DAY)
    out[:, 10] = _trailing_sum(r, 7 * HOURS_PER_DAY)
    out[~np.isfinite(out).all(axis=1)] = np.nan  # a row is complete or empty, never half-filled
    return out


def forward_realised_variance(r: np.ndarray, horizon_hours: int) -> np.ndarray:
    """Realised variance of the next ``horizon_hours``: ``sum_{k=1..h} r_{t+k}^2`` at each ``t``.

    This is the forecasting target; it looks ahead by construction and is never a feature. The last
    ``horizon_hours`` entries are NaN.
    """
    if horizon_hours < 1:
        raise ValueError(
            f"forward_realised_variance.horizon_hours: must be >= 1, got {horizon_hours}"
        )
    r = np.asarray(r, dtype=float)
    out = np.full(r.shape, np.nan)
    if r.size > horizon_hours:
        out[:-horizon_hours] = sliding_window_view((r * r)[1:], horizon_hours).sum(axis=1)
    return out
