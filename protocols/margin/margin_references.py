"""Plain NumPy references of every margin kernel (tests compare against them; benchmarks time them).

Written the obvious array way: broadcast ``positions x scenarios`` (in row chunks, so memory
stays bounded at 1e6 positions), price with ``scipy.special.ndtr`` and reduce per account with
``np.bincount``. Nothing here is shared with the kernels except the packed grid arrays.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.scenario_grid import ScenarioGrid
from protocols.margin.standard_margin import MarginCurrency, StandardMarginParams

__all__ = [
    "black76_greeks_ref",
    "black76_ref",
    "charge_aggregates_ref",
    "expected_shortfall_ref",
    "margin_from_pnl_ref",
    "portfolio_margin_ref",
    "random_book",
    "scenario_pnl_ref",
    "standard_margin_ref",
    "vol_term_factor_ref",
]

CHUNK_ROWS = 1 << 14


def black76_ref(forward, strike, t_years, sigma, is_call):
    """Undiscounted Black-76 price, broadcasting; intrinsic where ``sigma sqrt T <= 0``."""
    forward, strike, t_years, sigma, is_call = np.broadcast_arrays(
        forward, strike, t_years, sigma, is_call
    )
    sd = sigma * np.sqrt(np.maximum(t_years, 0.0))
    live = sd > 0.0
    sd1 = np.where(live, sd, 1.0)
    d1 = np.log(forward / strike) / sd1 + 0.5 * sd1
    d2 = d1 - sd1
    call = forward * ndtr(d1) - strike * ndtr(d2)
    put = strike * ndtr(-d2) - forward * ndtr(-d1)
    intrinsic = np.where(
        is_call, np.maximum(forward - strike, 0.0), np.maximum(strike - forward, 0.0)
    )
    return np.where(live, np.where(is_call, call, put), intrinsic)


def black76_greeks_ref(forward, strike, t_years, sigma, is_call):
    """``(price, delta, gamma, vega)`` of undiscounted Black-76, broadcasting (DOMAIN.md B1)."""
    forward, strike, t_years, sigma, is_call = np.broadcast_arrays(
        forward, strike, t_years, sigma, is_call
    )
    sqrt_t = np.sqrt(np.maximum(t_years, 0.0))
    sd = sigma * sqrt_t
    live = sd > 0.0
    sd1 = np.where(live, sd, 1.0)
    d1 = np.log(forward / strike) / sd1 + 0.5 * sd1
    pdf = np.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi)
    step = np.where(is_call, (forward > strike) * 1.0, -1.0 * (forward < strike))
    delta = np.where(live, np.where(is_call, ndtr(d1), ndtr(d1) - 1.0), step)
    gamma = np.where(live, pdf / (forward * sd1), 0.0)
    vega = np.where(live, forward * pdf * sqrt_t, 0.0)
    return black76_ref(forward, strike, t_years, sigma, is_call), delta, gamma, vega


def vol_term_factor_ref(t_years: np.ndarray, grid: ScenarioGrid) -> np.ndarray:
    """``(ref / max(floor, DTE))^p`` with ``p`` by the DTE cutoff (DOMAIN.md A2)."""
    dte = np.asarray(t_years) * 365.0
    p = np.where(dte < grid.vega_cutoff_days, grid.vega_power_short, grid.vega_power_long)
    return (grid.vega_ref_days / np.maximum(dte, grid.dte_floor_days)) ** p


def _options(book: PositionBook) -> np.ndarray:
    return np.flatnonzero((book.kind != InstrumentKind.FUTURE) & (book.size_base != 0.0))


def charge_aggregates_ref(book: PositionBook, forward_usd: float, grid: ScenarioGrid) -> np.ndarray:
    """``(n_accounts, 7)`` aggregates in the column order of ``portfolio_kernels.AGG_COLUMNS``."""
    n, f = book.n_accounts, forward_usd
    fut = book.kind == InstrumentKind.FUTURE
    call = book.kind == InstrumentKind.CALL
    strike = np.where(fut, f, book.strike_usd)
    price, delta, _, _ = black76_greeks_ref(f, strike, book.t_years, book.iv, call)
    size = book.size_base
    long_opt = ~fut & (size > 0.0)
    short_opt = ~fut & (size < 0.0)
    d = np.where(fut, size, size * delta)
    premium = np.where(long_opt, size * price, 0.0)
    cap_rate = max(grid.net_delta_frac, 0.5 * grid.hedged_delta_frac)
    if cap_rate > 0.0:
        capped = np.sign(d) * np.minimum(np.abs(d), premium / (cap_rate * f))
        d = np.where(long_opt, capped, d)
    cols = [
        d,
        np.abs(d),
        np.where(short_opt, -size, 0.0),
        np.where(fut & (size > 0.0), size, 0.0),
        np.where(fut & (size < 0.0), -size, 0.0),
        premium,
        (fut & (size != 0.0)) | short_opt,
    ]
    return np.stack([np.bincount(book.account, weights=c * 1.0, minlength=n) for c in cols], 1)


def _scatter(pnl: np.ndarray, account: np.ndarray, contrib: np.ndarray) -> None:
    n_a, n_s = pnl.shape
    flat = (account[:, None] * n_s + np.arange(n_s)).ravel()
    pnl += np.bincount(flat, weights=contrib.ravel(), minlength=n_a * n_s).reshape(n_a, n_s)


def scenario_pnl_ref(
    book: PositionBook, forward_usd: float, grid: ScenarioGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Full-revaluation ``(pnl (n_accounts, n_s), vol_floored (n_accounts,) bool)``."""
    f = forward_usd
    spot = np.asarray(grid.spot_shocks)
    vol = np.asarray(grid.vol_shocks)
    lookahead = grid.lookahead_days / 365.0
    pnl = np.zeros((book.n_accounts, spot.size))
    fut = book.kind == InstrumentKind.FUTURE
    fut_net = np.bincount(book.account[fut], weights=book.size_base[fut], minlength=book.n_accounts)
    pnl += np.outer(fut_net, f * spot)
    floored = np.zeros(book.n_accounts, dtype=bool)
    rows_all = _options(book)
    for lo in range(0, rows_all.size, CHUNK_ROWS):
        rows = rows_all[lo : lo + CHUNK_ROWS]
        k, t, iv = book.strike_usd[rows], book.t_years[rows], book.iv[rows]
        call = book.kind[rows] == InstrumentKind.CALL
        raw = 1.0 + vol[None, :] * vol_term_factor_ref(t, grid)[:, None]
        floored[book.account[rows[(raw < grid.min_vol_mult).any(axis=1)]]] = True
        sigma = iv[:, None] * np.maximum(raw, grid.min_vol_mult)
        th = np.maximum(t - lookahead, 0.0)[:, None]
        v = black76_ref(f * (1.0 + spot)[None, :], k[:, None], th, sigma, call[:, None])
        v0 = black76_ref(f, k, t, iv, call)
        _scatter(pnl, book.account[rows], book.size_base[rows, None] * (v - v0[:, None]))
    return pnl, floored


def margin_from_pnl_ref(
    pnl: np.ndarray, agg: np.ndarray, grid: ScenarioGrid, forward_usd: float
) -> np.ndarray:
    """``(n_accounts, 5)``: requirement, scan, min delta, SOM, contingency (DOMAIN.md A2/A3)."""
    f = forward_usd
    w = np.asarray(grid.weights)
    scan = np.maximum(0.0, (-w * pnl).max(axis=1, initial=0.0))
    scan = np.where(agg[:, 6] == 0.0, np.minimum(scan, agg[:, 5]), scan)
    net = np.abs(agg[:, 0])
    min_delta = (grid.net_delta_frac * net + 0.5 * grid.hedged_delta_frac * (agg[:, 1] - net)) * f
    som = grid.short_option_minimum_frac * agg[:, 2] * f
    offsetting = np.minimum(agg[:, 3], agg[:, 4])
    cont = (
        grid.short_option_contingency_frac * agg[:, 2] + grid.offsetting_futures_frac * offsetting
    ) * f
    req = np.maximum(np.maximum(scan, min_delta), som) + cont
    return np.stack([req, scan, min_delta, som, cont], axis=1)


def portfolio_margin_ref(
    book: PositionBook, forward_usd: float, grid: ScenarioGrid, *, taylor: bool = False
) -> np.ndarray:
    """``(n_accounts, 5)`` portfolio margin by full revaluation or second-order Taylor."""
    agg = charge_aggregates_ref(book, forward_usd, grid)
    if not taylor:
        return margin_from_pnl_ref(
            scenario_pnl_ref(book, forward_usd, grid)[0], agg, grid, forward_usd
        )
    f, n = forward_usd, book.n_accounts
    fut = book.kind == InstrumentKind.FUTURE
    call = book.kind == InstrumentKind.CALL
    strike = np.where(fut, f, book.strike_usd)
    s, t, iv = book.size_base, book.t_years, book.iv
    price, delta, gamma, vega = black76_greeks_ref(f, strike, t, iv, call)
    later = black76_ref(f, strike, np.maximum(t - grid.lookahead_days / 365.0, 0.0), iv, call)
    live = ~fut & (t > 0.0)
    sd = np.where(live, iv * np.sqrt(t), 1.0)
    d1 = np.log(f / strike) / sd + 0.5 * sd
    d2 = d1 - sd
    vanna = np.where(live, -np.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi) * d2 / iv, 0.0)
    volga = np.where(live, vega * d1 * d2 / iv, 0.0)
    dvol = iv * vol_term_factor_ref(t, grid)
    per_row = [
        np.where(fut, s, s * delta),
        np.where(fut, 0.0, s * gamma),
        np.where(fut, 0.0, s * vega * dvol),
        np.where(fut, 0.0, s * vanna * dvol),
        np.where(fut, 0.0, s * volga * dvol**2),
        np.where(fut | (grid.lookahead_days == 0.0), 0.0, s * (later - price)),
    ]
    d, gam, veg, van, vol, carry = (
        np.bincount(book.account, weights=c, minlength=n) for c in per_row
    )
    ds = np.asarray(grid.spot_shocks)[None, :]
    dv = np.asarray(grid.vol_shocks)[None, :]
    pnl = (d * f)[:, None] * ds + (0.5 * gam * f * f)[:, None] * ds**2 + veg[:, None] * dv
    pnl = pnl + (van * f)[:, None] * ds * dv + 0.5 * vol[:, None] * dv**2 + carry[:, None]
    return margin_from_pnl_ref(pnl, agg, grid, forward_usd)


def standard_margin_ref(
    book: PositionBook, index_usd: float, params: StandardMarginParams, currency: MarginCurrency
) -> tuple[np.ndarray, np.ndarray]:
    """Per-account ``(initial, maintenance)`` standard margin: the A1 table with ``np.where``."""
    s = index_usd
    fut = book.kind == InstrumentKind.FUTURE
    call = book.kind == InstrumentKind.CALL
    q = np.abs(book.size_base)
    strike = np.where(fut, s, book.strike_usd)
    mark = black76_ref(s, strike, book.t_years, book.iv, call) / s
    otm = np.where(call, np.maximum(strike - s, 0.0), np.maximum(s - strike, 0.0)) / s
    mm_short = np.where(
        call,
        params.short_call_mm_frac + mark,
        np.maximum(params.short_put_mm_frac, params.short_put_mm_frac * mark) + mark,
    )
    im_short = np.maximum(params.option_im_frac - otm, params.option_im_floor_frac) + mark
    im_short = np.where(call, im_short, np.maximum(im_short, mm_short))
    long = book.size_base > 0.0
    im = np.where(long, mark, im_short)
    mm = np.where(long, 0.0, mm_short)
    im = np.where(fut, params.future_im_frac + params.future_frac_per_base * q, im) * q
    mm = np.where(fut, params.future_mm_frac + params.future_frac_per_base * q, mm) * q
    unit = s if currency is MarginCurrency.USD else 1.0
    n = book.n_accounts
    return (
        np.bincount(book.account, weights=im * unit, minlength=n),
        np.bincount(book.account, weights=mm * unit, minlength=n),
    )


def expected_shortfall_ref(
    book: PositionBook,
    forward_usd: float,
    spot_log_returns: np.ndarray,
    vol_log_changes: np.ndarray,
    level: float,
    horizon_days: float,
) -> np.ndarray:
    """Per-account ES (USD, not floored) of full-revaluation losses, Acerbi-Tasche estimator."""
    f = forward_usd
    fk = f * np.exp(spot_log_returns)
    loss = np.zeros((book.n_accounts, fk.size))
    fut = book.kind == InstrumentKind.FUTURE
    fut_net = np.bincount(book.account[fut], weights=book.size_base[fut], minlength=book.n_accounts)
    loss -= np.outer(fut_net, fk - f)
    rows_all = _options(book)
    for lo in range(0, rows_all.size, CHUNK_ROWS):
        rows = rows_all[lo : lo + CHUNK_ROWS]
        k, t, iv = book.strike_usd[rows], book.t_years[rows], book.iv[rows]
        call = (book.kind[rows] == InstrumentKind.CALL)[:, None]
        th = np.maximum(t - horizon_days / 365.0, 0.0)[:, None]
        v = black76_ref(fk[None, :], k[:, None], th, iv[:, None] * np.exp(vol_log_changes), call)
        v0 = black76_ref(f, k[:, None], t[:, None], iv[:, None], call)
        _scatter(loss, book.account[rows], -book.size_base[rows, None] * (v - v0))
    desc = -np.sort(-loss, axis=1)
    n_s = fk.size
    m = (1.0 - level) * n_s
    whole = int(np.floor(m))
    total = desc[:, :whole].sum(axis=1)
    if whole < n_s:
        total = total + (m - whole) * desc[:, whole]
    return total / m


def random_book(
    rng: np.random.Generator, n_positions: int, n_accounts: int, forward_usd: float
) -> PositionBook:
    """A book of unstructured random rows (tests): every kind, both signs, expired options too."""
    kind = rng.integers(0, 3, n_positions)
    t = rng.uniform(0.0, 0.6, n_positions)
    t[rng.random(n_positions) < 0.05] = 0.0
    return PositionBook(
        account=rng.integers(0, n_accounts, n_positions),
        kind=kind,
        size_base=rng.normal(0.0, 2.0, n_positions),
        strike_usd=forward_usd * np.exp(rng.normal(0.0, 0.25, n_positions)),
        t_years=t,
        iv=rng.uniform(0.2, 1.5, n_positions),
        n_accounts=n_accounts,
    )
