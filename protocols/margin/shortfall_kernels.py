"""Expected-shortfall margin over historical or simulated scenarios, full revaluation per account.

The third margin method beside the standard formulas and the scenario grid: every account's
loss distribution over ``n_s`` joint moves of the forward and the vol level, and its expected
shortfall at level ``alpha`` (97.5% as in FRTB and most CCP ES models [R]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from protocols.margin._jit import kernel
from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.option_kernels import black76_price, norm_cdf

__all__ = [
    "ShortfallMarginResult",
    "expected_shortfall",
    "expected_shortfall_margin",
    "overlapping_log_returns",
    "shortfall_kernel",
]

_FUTURE = int(InstrumentKind.FUTURE)
_CALL = int(InstrumentKind.CALL)


@kernel
def expected_shortfall(losses_desc, level):
    """Expected shortfall of a sample sorted in descending order (losses positive).

    Notes
    -----
    Acerbi and Tasche's discrete estimator: with ``m = (1 - level) N``,
    ``ES = (sum_{i <= floor(m)} L_(i) + (m - floor(m)) L_(floor(m) + 1)) / m``; for ``m < 1``
    it is the worst loss.
    """
    n = losses_desc.shape[0]
    m = (1.0 - level) * n
    whole = math.floor(m)
    total = 0.0
    for i in range(min(whole, n)):
        total += losses_desc[i]
    if whole < n:
        total += (m - whole) * losses_desc[whole]
    return total / m


@kernel
def shortfall_kernel(
    order,
    starts,
    kind,
    size_base,
    strike_usd,
    t_years,
    iv,
    forward_usd,
    spot_log_returns,
    vol_log_changes,
    horizon_years,
    level,
):
    """Expected shortfall of every account's scenario loss, USD.

    Parameters
    ----------
    order, starts
        Rows grouped by account: account ``a`` owns ``order[starts[a]:starts[a + 1]]``.
    kind, size_base, strike_usd, t_years, iv
        Book arrays.
    forward_usd
        Today's forward, USD per coin.
    spot_log_returns, vol_log_changes
        ``(n_s,)`` scenario moves: ``F_k = F exp(r_k)``, ``sigma_k = sigma exp(v_k)``.
    horizon_years
        Time that passes in every scenario (options reprice at ``max(T - h, 0)``).
    level
        ES confidence level in ``[0.5, 1)``.

    Returns
    -------
    es_usd, worst_loss_usd : (n_accounts,) arrays (ES may be negative for a book that gains in
    every tail scenario).
    """
    n_a = starts.shape[0] - 1
    n_s = spot_log_returns.shape[0]
    es = np.zeros(n_a)
    worst = np.zeros(n_a)
    loss = np.empty(n_s)
    fwd_k = np.empty(n_s)
    vol_k = np.empty(n_s)
    for k in range(n_s):
        fwd_k[k] = forward_usd * math.exp(spot_log_returns[k])
        vol_k[k] = math.exp(vol_log_changes[k])
    for a in range(n_a):
        loss[:] = 0.0
        for r in range(starts[a], starts[a + 1]):
            i = order[r]
            s = size_base[i]
            if s == 0.0:
                continue
            if kind[i] == _FUTURE:
                for k in range(n_s):
                    loss[k] -= s * (fwd_k[k] - forward_usd)
                continue
            is_call = kind[i] == _CALL
            strike = strike_usd[i]
            v0 = black76_price(forward_usd, strike, t_years[i], iv[i], 1.0, is_call)
            sd0 = iv[i] * math.sqrt(max(t_years[i] - horizon_years, 0.0))
            sgn = 1.0 if is_call else -1.0
            x0 = math.log(forward_usd / strike)
            for k in range(n_s):
                sd = sd0 * vol_k[k]
                if sd > 0.0:
                    d1 = (x0 + spot_log_returns[k]) / sd + 0.5 * sd
                    v = sgn * (fwd_k[k] * norm_cdf(sgn * d1) - strike * norm_cdf(sgn * (d1 - sd)))
                else:
                    v = max(sgn * (fwd_k[k] - strike), 0.0)
                loss[k] -= s * (v - v0)
        desc = -np.sort(-loss)
        es[a] = expected_shortfall(desc, level)
        worst[a] = desc[0]
    return es, worst


@dataclass(frozen=True, kw_only=True)
class ShortfallMarginResult:
    """Per-account ES margin, USD: ``margin_usd = max(0, es_usd)``; arrays ``(n_accounts,)``."""

    margin_usd: np.ndarray
    es_usd: np.ndarray
    worst_loss_usd: np.ndarray
    level: float


def _group_by_account(account: np.ndarray, n_accounts: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(account, kind="stable").astype(np.int64)
    starts = np.zeros(n_accounts + 1, dtype=np.int64)
    np.cumsum(np.bincount(account, minlength=n_accounts), out=starts[1:])
    return order, starts


def expected_shortfall_margin(
    book: PositionBook,
    forward_usd: float,
    spot_log_returns: np.ndarray,
    *,
    vol_log_changes: np.ndarray | None = None,
    level: float = 0.975,
    horizon_days: float = 0.0,
) -> ShortfallMarginResult:
    """Expected-shortfall margin of every account over joint spot/vol scenarios.

    Parameters
    ----------
    book
        Positions on one underlying.
    forward_usd
        Today's forward, USD per coin.
    spot_log_returns
        ``(n_s,)`` log moves of the forward (historical, e.g. from
        :func:`overlapping_log_returns`, or simulated).
    vol_log_changes
        ``(n_s,)`` log changes of every option's vol in the same scenarios (default: none).
    level
        ES level in ``[0.5, 1)``; default 97.5%.
    horizon_days
        Holding period the options age by in every scenario.

    Notes
    -----
    ES is coherent: the margin is >= 0, positively homogeneous, subadditive over books split
    across accounts, and a book of long options never needs more than its value.
    """
    f = float(forward_usd)
    if not (math.isfinite(f) and f > 0.0):
        raise ValueError(
            f"expected_shortfall_margin.forward_usd: must be > 0 and finite, got {forward_usd!r}"
        )
    r = np.ascontiguousarray(spot_log_returns, dtype=np.float64)
    if r.ndim != 1 or r.size == 0 or not np.isfinite(r).all():
        raise ValueError(
            "expected_shortfall_margin.spot_log_returns: must be a non-empty finite 1-D array"
        )
    v = np.zeros_like(r) if vol_log_changes is None else np.ascontiguousarray(vol_log_changes)
    if v.shape != r.shape or not np.isfinite(v).all():
        raise ValueError(
            "expected_shortfall_margin.vol_log_changes: must be finite with the shape of "
            f"spot_log_returns {r.shape}, got {v.shape}"
        )
    if not 0.5 <= level < 1.0:
        raise ValueError(f"expected_shortfall_margin.level: must be in [0.5, 1), got {level}")
    if not (math.isfinite(horizon_days) and horizon_days >= 0.0):
        raise ValueError(
            f"expected_shortfall_margin.horizon_days: must be >= 0, got {horizon_days}"
        )
    order, starts = _group_by_account(book.account, book.n_accounts)
    rows = (book.kind, book.size_base, book.strike_usd, book.t_years, book.iv)
    es, worst = shortfall_kernel(
        order, starts, *rows, f, r, v.astype(np.float64), horizon_days / 365.0, float(level)
    )
    return ShortfallMarginResult(
        margin_usd=np.maximum(es, 0.0), es_usd=es, worst_loss_usd=worst, level=float(level)
    )


def overlapping_log_returns(prices_usd: np.ndarray, horizon_steps: int) -> np.ndarray:
    """Overlapping ``h``-step log returns ``ln(p[t + h] / p[t])``, ``t = 0 .. n - h - 1``.

    Overlapping windows use all of a short history at the cost of autocorrelated scenarios (the
    usual choice of CCP historical-VaR/ES models for multi-day horizons [R]).
    """
    p = np.asarray(prices_usd, dtype=np.float64)
    if p.ndim != 1 or not (np.isfinite(p).all() and (p > 0.0).all()):
        raise ValueError("overlapping_log_returns.prices_usd: must be a 1-D array of prices > 0")
    if isinstance(horizon_steps, bool) or not isinstance(horizon_steps, int | np.integer):
        raise ValueError(
            f"overlapping_log_returns.horizon_steps: must be an int, got {horizon_steps!r}"
        )
    if not 1 <= horizon_steps < p.size:
        raise ValueError(
            f"overlapping_log_returns.horizon_steps: must be in [1, {p.size - 1}], "
            f"got {horizon_steps}"
        )
    logp = np.log(p)
    return logp[horizon_steps:] - logp[:-horizon_steps]
