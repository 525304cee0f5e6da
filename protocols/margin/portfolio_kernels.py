"""Numba kernels of scenario-grid portfolio margin: full revaluation and delta-gamma-vega.

Both methods make one pass over the positions (no ``n_positions x n_scenarios`` temporary) and
accumulate per account: the full method adds every position's Black-76 repricing into an
``(n_accounts, n_scenarios)`` P&L table; the Taylor method sums Greeks per account
(:func:`greek_aggregates` here, the fused ``taylor_kernels.taylor_aggregates`` in production)
and builds the scenario P&L per account afterwards. The charges added to the scan (minimum
delta, contingencies, short option minimum) come from per-account aggregates that all passes
collect the same way. Python wrappers: ``portfolio_margin``.

Conventions: USD-margined (linear) P&L per coin of underlying, undiscounted Black-76 on the
forward ``F`` (crypto options are quoted on futures, DOMAIN.md B1); futures move as ``size dF``.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np

from protocols.margin._jit import kernel
from protocols.margin.book import InstrumentKind
from protocols.margin.option_kernels import norm_cdf, norm_pdf

__all__ = [
    "AGG_COLUMNS",
    "N_AGG",
    "OUT_COLUMNS",
    "MarginStatus",
    "black76_greeks",
    "greek_aggregates",
    "margin_from_greeks",
    "margin_from_pnl",
    "scenario_pnl_full",
    "vol_term_factor",
]

_FUTURE = int(InstrumentKind.FUTURE)
_CALL = int(InstrumentKind.CALL)

AGG_COLUMNS = (
    "charged_net_delta_base",  # sum of size x delta, long options capped (see Notes of _add)
    "charged_abs_delta_base",  # sum of |size x delta|, same cap
    "short_option_base",  # coins of short option rows
    "long_futures_base",
    "short_futures_base",
    "long_premium_usd",  # mark value of long options
    "n_unbounded",  # rows that can lose more than their value: futures, short options
)
N_AGG = len(AGG_COLUMNS)
_NET, _ABS, _SHORT_OPT, _LONG_FUT, _SHORT_FUT, _PREMIUM, _UNBOUNDED = range(N_AGG)

OUT_COLUMNS = ("requirement_usd", "scan_usd", "min_delta_usd", "som_usd", "contingency_usd")
"""Columns of the ``(n_accounts, 5)`` array returned by the ``margin_from_*`` kernels."""


class MarginStatus(IntEnum):
    """Per-account status of a portfolio-margin evaluation."""

    OK = 0
    VOL_FLOORED = 1
    """A shocked vol hit ``ScenarioGrid.min_vol_mult`` for one of the account's options."""


@kernel
def vol_term_factor(t_years, term):
    """``g = (ref / max(floor, DTE))^p``, ``p = term[3]`` if ``DTE < cutoff`` else ``term[4]``.

    ``term`` is :meth:`ScenarioGrid.kernel_arrays`' ``[ref_days, floor_days, cutoff_days,
    power_short, power_long, min_vol_mult, lookahead_years]`` (DOMAIN.md A2 [S]).
    """
    dte = t_years * 365.0
    p = term[3] if dte < term[2] else term[4]
    # exp(p log x) rather than x ** p: libm pow is several times slower in the per-row loop
    return math.exp(p * math.log(term[0] / max(dte, term[1])))


@kernel
def black76_greeks(forward, strike, t_years, sigma, is_call, with_price=True):
    """Undiscounted Black-76 ``(price, delta, gamma, vega, vanna, volga)`` per coin, USD.

    ``with_price=False`` skips the second normal cdf and returns a price of 0 for a live option
    (the Taylor pass needs prices of long options only).

    Notes
    -----
    ``delta = N(d1)`` (call) or ``N(d1) - 1`` (put), ``gamma = n(d1) / (F sigma sqrt T)``,
    ``vega = F n(d1) sqrt T`` per 1.00 of vol (DOMAIN.md B1); ``vanna = d delta / d sigma =
    -n(d1) d2 / sigma`` and ``volga = d vega / d sigma = vega d1 d2 / sigma``. At ``T <= 0`` the
    intrinsic value with a step delta and zero higher Greeks. A lean scalar twin of
    ``greek_kernels`` for use inside the one-pass margin loops (no theta, rho or arrays).
    """
    if t_years <= 0.0 or sigma <= 0.0:
        if is_call:
            return max(forward - strike, 0.0), 1.0 if forward > strike else 0.0, 0.0, 0.0, 0.0, 0.0
        return max(strike - forward, 0.0), -1.0 if forward < strike else 0.0, 0.0, 0.0, 0.0, 0.0
    sqrt_t = math.sqrt(t_years)
    sd = sigma * sqrt_t
    d1 = math.log(forward / strike) / sd + 0.5 * sd
    d2 = d1 - sd
    nd1 = norm_cdf(d1)
    pdf = norm_pdf(d1)
    call = forward * nd1 - strike * norm_cdf(d2) if with_price else 0.0
    gamma = pdf / (forward * sd)
    vega = forward * pdf * sqrt_t
    vanna = -pdf * d2 / sigma
    volga = vega * d1 * d2 / sigma
    if is_call:
        return call, nd1, gamma, vega, vanna, volga
    put = call - forward + strike if with_price else 0.0
    return put, nd1 - 1.0, gamma, vega, vanna, volga


@kernel
def _add(agg, a, is_future, size, delta, price, forward, cap_rate):
    """Add one position to the charge aggregates of account ``a``.

    Notes
    -----
    A long option's delta counts toward the minimum-delta charge only up to
    ``premium / (cap_rate F)``, ``cap_rate = max(net_frac, hedged_frac / 2)``; the charge
    ``net |N| + hedged (A - |N|) / 2 <= cap_rate A`` then never exceeds the premium of a book of
    long options, and stays subadditive and positively homogeneous in the sizes.
    """
    if is_future:
        d = size
        agg[a, _UNBOUNDED] += 1.0
        if size > 0.0:
            agg[a, _LONG_FUT] += size
        else:
            agg[a, _SHORT_FUT] -= size
    else:
        d = size * delta
        if size > 0.0:
            premium = size * price
            agg[a, _PREMIUM] += premium
            if cap_rate > 0.0:
                cap = premium / (cap_rate * forward)
                if abs(d) > cap:
                    d = math.copysign(cap, d)
        else:
            agg[a, _SHORT_OPT] -= size
            agg[a, _UNBOUNDED] += 1.0
    agg[a, _NET] += d
    agg[a, _ABS] += abs(d)


@kernel
def scenario_pnl_full(
    account,
    kind,
    size_base,
    strike_usd,
    t_years,
    iv,
    forward_usd,
    spot_shocks,
    vol_levels,
    vol_index,
    term,
    charges,
    n_accounts,
):
    """Scenario P&L of every account by full Black-76 revaluation, in one pass.

    Parameters
    ----------
    account, kind, size_base, strike_usd, t_years, iv
        The :class:`~protocols.margin.book.PositionBook` arrays.
    forward_usd
        Forward (index) price, USD per coin, > 0.
    spot_shocks
        ``(n_s,)`` relative moves of the forward.
    vol_levels, vol_index
        The distinct vol shocks and, per scenario, the index of its shock in ``vol_levels``
        (``np.unique(vol_shocks, return_inverse=True)``): shocked vols are computed once per
        position and distinct shock, not once per scenario.
    term, charges
        :meth:`ScenarioGrid.kernel_arrays` packs.
    n_accounts
        Number of accounts.

    Returns
    -------
    pnl_usd : (n_accounts, n_s) ``sum_i size_i (V_ik - V_i0)``
    agg : (n_accounts, N_AGG) charge aggregates, columns :data:`AGG_COLUMNS`
    status : (n_accounts,) int64 :class:`MarginStatus`

    Notes
    -----
    ``V_ik = Black76(F (1 + ds_k), K, max(T - lookahead, 0), sigma max(1 + dv_k g, floor))`` with
    ``g`` the term factor of :func:`vol_term_factor`; ``V_i0`` at today's ``F, T, sigma``.
    Calls and puts share ``s [F_k N(s d1) - K N(s d2)]``, ``s = +/-1``.
    """
    n = account.shape[0]
    n_s = spot_shocks.shape[0]
    n_v = vol_levels.shape[0]
    pnl = np.zeros((n_accounts, n_s))
    agg = np.zeros((n_accounts, N_AGG))
    status = np.zeros(n_accounts, dtype=np.int64)
    fwd_k = np.empty(n_s)
    log_k = np.empty(n_s)
    dfut_k = np.empty(n_s)
    for k in range(n_s):
        fwd_k[k] = forward_usd * (1.0 + spot_shocks[k])
        log_k[k] = math.log1p(spot_shocks[k])
        dfut_k[k] = forward_usd * spot_shocks[k]
    sd_v = np.empty(n_v)
    inv_sd_v = np.empty(n_v)
    lookahead = term[6]
    cap_rate = max(charges[0], 0.5 * charges[1])
    for i in range(n):
        a = account[i]
        s = size_base[i]
        if s == 0.0:
            continue
        if kind[i] == _FUTURE:
            for k in range(n_s):
                pnl[a, k] += s * dfut_k[k]
            _add(agg, a, True, s, 1.0, 0.0, forward_usd, cap_rate)
            continue
        is_call = kind[i] == _CALL
        strike = strike_usd[i]
        sig = iv[i]
        t = t_years[i]
        price0, delta0, _, _, _, _ = black76_greeks(forward_usd, strike, t, sig, is_call)
        _add(agg, a, False, s, delta0, price0, forward_usd, cap_rate)
        g = vol_term_factor(t, term)
        sqrt_th = math.sqrt(max(t - lookahead, 0.0))
        for j in range(n_v):
            m = 1.0 + vol_levels[j] * g
            if m < term[5]:
                m = term[5]
                status[a] = MarginStatus.VOL_FLOORED
            sd_v[j] = sig * m * sqrt_th
            inv_sd_v[j] = 1.0 / sd_v[j] if sd_v[j] > 0.0 else 0.0
        sgn = 1.0 if is_call else -1.0
        x0 = math.log(forward_usd / strike)
        for k in range(n_s):
            j = vol_index[k]
            sd = sd_v[j]
            if sd > 0.0:
                d1 = (x0 + log_k[k]) * inv_sd_v[j] + 0.5 * sd
                v = sgn * (fwd_k[k] * norm_cdf(sgn * d1) - strike * norm_cdf(sgn * (d1 - sd)))
            else:
                v = max(sgn * (fwd_k[k] - strike), 0.0)
            pnl[a, k] += s * (v - price0)
    return pnl, agg, status


@kernel
def greek_aggregates(
    account, kind, size_base, strike_usd, t_years, iv, forward_usd, term, charges, n_accounts
):
    """Per-account Greeks of the delta-gamma-vega approximation, in one pass.

    Returns
    -------
    greeks : (n_accounts, 6) ``[delta_base, gamma_per_usd, vega_usd, vanna_base, volga_usd,
        carry_usd]``, the vol Greeks per unit of the grid's (relative) vol shock
    agg : (n_accounts, N_AGG) charge aggregates, as :func:`scenario_pnl_full`
    status : (n_accounts,) int64, always ``OK`` (the vol floor is not modelled)

    Notes
    -----
    An option's vol moves by ``sigma g dv_k`` in scenario ``k`` (``g`` its own term factor), so
    ``vega = sum size vega sigma g``, ``vanna = sum size vanna sigma g`` and ``volga = sum size
    volga (sigma g)^2`` make the vol terms linear in the account's aggregates; ``delta`` and
    ``gamma`` are plain sums and ``carry = sum size (V(T - lookahead) - V(T))`` is the exact
    time decay of the look-ahead.
    """
    n = account.shape[0]
    greeks = np.zeros((n_accounts, 6))
    agg = np.zeros((n_accounts, N_AGG))
    status = np.zeros(n_accounts, dtype=np.int64)
    lookahead = term[6]
    cap_rate = max(charges[0], 0.5 * charges[1])
    for i in range(n):
        a = account[i]
        s = size_base[i]
        if s == 0.0:
            continue
        if kind[i] == _FUTURE:
            greeks[a, 0] += s
            _add(agg, a, True, s, 1.0, 0.0, forward_usd, cap_rate)
            continue
        is_call = kind[i] == _CALL
        t = t_years[i]
        sig = iv[i]
        need_price = s > 0.0 or lookahead > 0.0
        price, delta, gamma, vega, vanna, volga = black76_greeks(
            forward_usd, strike_usd[i], t, sig, is_call, need_price
        )
        _add(agg, a, False, s, delta, price, forward_usd, cap_rate)
        dvol = sig * vol_term_factor(t, term)  # d sigma per unit of the grid's vol shock
        greeks[a, 0] += s * delta
        greeks[a, 1] += s * gamma
        greeks[a, 2] += s * vega * dvol
        greeks[a, 3] += s * vanna * dvol
        greeks[a, 4] += s * volga * dvol * dvol
        if lookahead > 0.0:
            later = black76_greeks(
                forward_usd, strike_usd[i], max(t - lookahead, 0.0), sig, is_call
            )
            greeks[a, 5] += s * (later[0] - price)
    return greeks, agg, status


@kernel
def _charges_into(out, a, scan, agg, charges, forward_usd):
    """Fill ``out[a]`` (columns :data:`OUT_COLUMNS`) from the scan and the aggregates.

    Conditional expressions rather than ``min``/``max`` (same values; ties keep the first
    argument, as ``max`` does): numba's builtins made this half of the Taylor scenario pass.
    """
    f = forward_usd
    net = abs(agg[a, _NET])
    min_delta = (charges[0] * net + 0.5 * charges[1] * (agg[a, _ABS] - net)) * f
    som = charges[4] * agg[a, _SHORT_OPT] * f
    long_fut = agg[a, _LONG_FUT]
    short_fut = agg[a, _SHORT_FUT]
    offsetting = short_fut if short_fut < long_fut else long_fut
    cont = (charges[2] * agg[a, _SHORT_OPT] + charges[3] * offsetting) * f
    premium = agg[a, _PREMIUM]
    # only long options: nothing can be lost beyond their value (Deribit: premium only)
    scan = premium if (agg[a, _UNBOUNDED] == 0.0) & (premium < scan) else scan
    req = min_delta if min_delta > scan else scan
    req = som if som > req else req
    out[a, 0] = req + cont
    out[a, 1] = scan
    out[a, 2] = min_delta
    out[a, 3] = som
    out[a, 4] = cont


@kernel
def margin_from_pnl(pnl_usd, agg, weights, charges, forward_usd):
    """Requirement of every account from its scenario P&L table.

    Notes
    -----
    ``SCAN = max(0, max_k -w_k PnL_k)``; ``requirement = max(SCAN, MinDelta, SOM) + contingency``
    with ``MinDelta = (net |N| + hedged (A - |N|)/2) F``, ``SOM = som_frac F short_options``,
    ``contingency = (short_frac short_options + fut_frac min(long_fut, short_fut)) F``
    (DOMAIN.md A2, A3). An account of long options only is capped at their premium.
    """
    n_a, n_s = pnl_usd.shape
    out = np.empty((n_a, 5))
    for a in range(n_a):
        scan = 0.0
        for k in range(n_s):
            loss = -weights[k] * pnl_usd[a, k]
            if loss > scan:
                scan = loss
        _charges_into(out, a, scan, agg, charges, forward_usd)
    return out


@kernel
def margin_from_greeks(greeks, agg, spot_shocks, vol_shocks, weights, charges, forward_usd):
    """Requirement of every account with the delta-gamma-vega P&L of each scenario.

    Notes
    -----
    The second-order Taylor expansion in the forward and the vol, ``PnL_k = D F ds + G (F ds)^2
    / 2 + V dv + Va F ds dv + Vo dv^2 / 2 + carry`` (delta-gamma-vega plus vanna and volga) with
    the aggregates of :func:`greek_aggregates`; then as :func:`margin_from_pnl`. Exact for
    futures; the vol floor is ignored, and the long-options-only cap keeps the premium bound.
    Blocks of 256 accounts, scenarios outside: the inner loop over accounts vectorises.
    """
    n_a = greeks.shape[0]
    n_s = spot_shocks.shape[0]
    out = np.empty((n_a, 5))
    f = forward_usd
    block = 256
    coef = np.empty((6, block))  # D F, G F^2 / 2, V, Va F, Vo / 2, carry
    scan = np.empty(block)
    for lo in range(0, n_a, block):
        m = min(block, n_a - lo)
        for j in range(m):
            a = lo + j
            coef[0, j] = greeks[a, 0] * f
            coef[1, j] = 0.5 * greeks[a, 1] * f * f
            coef[2, j] = greeks[a, 2]
            coef[3, j] = greeks[a, 3] * f
            coef[4, j] = 0.5 * greeks[a, 4]
            coef[5, j] = greeks[a, 5]
            scan[j] = 0.0
        for k in range(n_s):
            ds = spot_shocks[k]
            dv = vol_shocks[k]
            neg_w = -weights[k]
            for j in range(m):
                vol_terms = (coef[2, j] + coef[3, j] * ds + coef[4, j] * dv) * dv
                pnl = coef[0, j] * ds + coef[1, j] * ds * ds + vol_terms + coef[5, j]
                loss = neg_w * pnl
                scan[j] = loss if loss > scan[j] else scan[j]
        for j in range(m):
            _charges_into(out, lo + j, scan[j], agg, charges, f)
    return out
