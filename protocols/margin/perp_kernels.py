"""Numba kernels of the perp exchange's margin engine (DOMAIN.md A4).

Pure functions over arrays; tier tables arrive packed by ``PerpParams.tier_arrays`` (``mm_scale``
already applied). Layouts: ``collateral`` is ``(n_accounts, n_collateral)``, ``size_base`` and
``entry_price_usd`` are ``(n_accounts, n_markets)``, tier tables ``(n_markets, max_tiers)``.
"""

from __future__ import annotations

import numpy as np

from protocols.margin._jit import kernel

__all__ = [
    "account_margin",
    "adl_scores",
    "find_liquidatable",
    "settle_funding",
    "tier_index",
    "tiered_maintenance_margin",
]


@kernel
def tier_index(notional_usd, floors_usd, n_tiers):
    """Index of the bracket holding ``notional_usd``: the last tier whose floor is <= notional."""
    i = 0
    for k in range(1, n_tiers):
        if notional_usd >= floors_usd[k]:
            i = k
        else:
            break
    return i


@kernel
def tiered_maintenance_margin(notional_usd, floors_usd, mmr, maintenance_amount_usd, n_tiers):
    """Maintenance margin (USD) of one position of notional ``notional_usd`` (>= 0).

    Notes
    -----
    ``MM = notional * MMR_i - maintenance_amount_i`` for the bracket ``i`` holding the notional
    (Binance USDⓈ-M, DOMAIN.md A4 [S]); the cumulative amounts make it continuous and piecewise
    linear with non-decreasing slope.
    """
    i = tier_index(notional_usd, floors_usd, n_tiers)
    return notional_usd * mmr[i] - maintenance_amount_usd[i]


@kernel
def account_margin(
    collateral,
    collateral_value_usd,
    debt_usd,
    size_base,
    entry_price_usd,
    mark_price_usd,
    floors_usd,
    mmr,
    maintenance_amount_usd,
    imr,
    n_tiers,
):
    """Equity, maintenance and initial requirement and notional of every account, in one pass.

    Parameters
    ----------
    collateral : (n, n_coll) token units
    collateral_value_usd : (n_coll,) oracle price x haircut, USD per unit
    debt_usd : (n,) settlement-asset debit balance owed to the vault (USD)
    size_base, entry_price_usd : (n, n_m) signed position sizes and average entry prices
    mark_price_usd : (n_m,)
    floors_usd, mmr, maintenance_amount_usd, imr : (n_m, max_tiers) tier tables
    n_tiers : (n_m,) int

    Returns
    -------
    equity_usd, maintenance_usd, initial_usd, notional_usd : (n,) arrays

    Notes
    -----
    ``equity = sum_c coll_c price_c haircut_c - debt + sum_m size_m (mark_m - entry_m)``;
    ``maintenance = sum_m MM_m(|size_m| mark_m)`` (tiered);
    ``initial = sum_m |size_m| mark_m IMR_i`` with ``IMR_i = 1 / max_leverage_i`` of the bracket
    (Binance: notional / leverage).
    """
    n = size_base.shape[0]
    n_m = size_base.shape[1]
    n_c = collateral.shape[1]
    equity = np.empty(n)
    maintenance = np.empty(n)
    initial = np.empty(n)
    notional = np.empty(n)
    for a in range(n):
        e = -debt_usd[a]
        for c in range(n_c):
            e += collateral[a, c] * collateral_value_usd[c]
        mm = 0.0
        im = 0.0
        nt_sum = 0.0
        for m in range(n_m):
            s = size_base[a, m]
            if s != 0.0:
                e += s * (mark_price_usd[m] - entry_price_usd[a, m])
                nt = abs(s) * mark_price_usd[m]
                # tier_index inlined: a call per position costs ~5x the whole loop body
                i = 0
                for k in range(1, n_tiers[m]):
                    if nt >= floors_usd[m, k]:
                        i = k
                    else:
                        break
                mm += nt * mmr[m, i] - maintenance_amount_usd[m, i]
                im += nt * imr[m, i]
                nt_sum += nt
        equity[a] = e
        maintenance[a] = mm
        initial[a] = im
        notional[a] = nt_sum
    return equity, maintenance, initial, notional


@kernel
def find_liquidatable(equity_usd, maintenance_usd, tolerance_usd):
    """Ids of accounts with ``equity < maintenance - tolerance`` (flat ones in deficit too)."""
    n = equity_usd.shape[0]
    out = np.empty(n, dtype=np.int64)
    k = 0
    for a in range(n):
        if equity_usd[a] < maintenance_usd[a] - tolerance_usd:
            out[k] = a
            k += 1
    return out[:k]


@kernel
def adl_scores(size_base, entry_price_usd, mark_price_usd, equity_usd):
    """Auto-deleveraging rank of each account's position in one market (highest first).

    Parameters
    ----------
    size_base, entry_price_usd : (n,) position in the market
    mark_price_usd : float
    equity_usd : (n,) account equity (cross margin)

    Returns
    -------
    (n,) scores; ``-inf`` for flat positions and accounts with equity <= 0 (not eligible).

    Notes
    -----
    Bybit/BitMEX style (DOMAIN.md A4 [S]): ``PnL% = sign(s) (mark - entry) / entry``;
    effective leverage ``|s| mark / equity`` (the cross-margin analogue of
    ``|MarkValue| / (MarkValue - BankruptValue)``); ``rank = PnL% x lev`` if ``PnL% > 0`` else
    ``PnL% / lev``, so profitable, highly leveraged positions go first and losers last.
    """
    n = size_base.shape[0]
    out = np.empty(n)
    for a in range(n):
        s = size_base[a]
        if s == 0.0 or equity_usd[a] <= 0.0 or entry_price_usd[a] <= 0.0:
            out[a] = -np.inf
            continue
        pnl_frac = np.sign(s) * (mark_price_usd - entry_price_usd[a]) / entry_price_usd[a]
        lev = abs(s) * mark_price_usd / equity_usd[a]
        if pnl_frac > 0.0:
            out[a] = pnl_frac * lev
        else:
            out[a] = pnl_frac / lev
    return out


@kernel
def settle_funding(size_base, mark_rate_usd, collateral, usdc_col, debt_usd, vault_usd):
    """Charge one step of funding to every account, in place; return the ledger flows.

    Parameters
    ----------
    size_base : (n, n_m) signed sizes
    mark_rate_usd : (n_m,) ``mark price x funding rate for the step``; payment = size x this
    collateral : (n, n_coll) modified in place (settlement column ``usdc_col``)
    debt_usd : (n,) modified in place
    vault_usd : float, the vault's settlement balance before the step

    Returns
    -------
    to_vault, from_vault, shortfall : float
        USDC the margin holder sends to the vault, USDC the vault sends back, and credits not
        paid because the vault could not afford them.

    Notes
    -----
    A payer pays from its USDC; what it lacks becomes debt to the vault (multi-asset margin: a
    negative settlement balance backed by other collateral). A receiver's credit repays its debt
    first; the rest is paid in USDC by the vault. If the vault cannot pay, every credit is scaled
    by ``s = available / needed`` (the unscaled need bounds the scaled one).
    """
    n = size_base.shape[0]
    n_m = size_base.shape[1]
    pay = np.empty(n)
    to_vault = 0.0
    need = 0.0
    total_credit = 0.0
    for a in range(n):
        p = 0.0
        for m in range(n_m):
            p += size_base[a, m] * mark_rate_usd[m]
        pay[a] = p
        if p > 0.0:
            to_vault += min(p, max(collateral[a, usdc_col], 0.0))
        elif p < 0.0:
            total_credit -= p
            need += max(-p - debt_usd[a], 0.0)
    scale = 1.0
    if need > vault_usd + to_vault:
        scale = (vault_usd + to_vault) / need
    from_vault = 0.0
    for a in range(n):
        p = pay[a]
        if p > 0.0:
            cash = min(p, max(collateral[a, usdc_col], 0.0))
            collateral[a, usdc_col] -= cash
            debt_usd[a] += p - cash
        elif p < 0.0:
            credit = -p * scale
            repaid = min(credit, debt_usd[a])
            debt_usd[a] -= repaid
            collateral[a, usdc_col] += credit - repaid
            from_vault += credit - repaid
    return to_vault, from_vault, total_credit * (1.0 - scale)
