"""Numba kernels of the lending margin engine (Aave v3 rules, DOMAIN.md A5).

Pure functions over arrays and scalars; no objects, no exceptions. Accounts are rows of a
struct-of-arrays: ``collateral[n, k]`` (token units of each collateral asset) and ``debt[n]``
(units of the debt asset, or *scaled* debt when ``debt_price_usd`` carries the borrow index too).

Every kernel has a plain NumPy / Python twin in ``tests/protocols/test_lending_kernels.py``.
"""

from __future__ import annotations

import numpy as np

from protocols.margin._jit import kernel

__all__ = [
    "available_borrows_usd",
    "find_liquidatable",
    "health_factors",
    "liquidation_amounts",
]


@kernel
def health_factors(
    collateral: np.ndarray,
    prices_usd: np.ndarray,
    liquidation_thresholds: np.ndarray,
    debt: np.ndarray,
    debt_price_usd: float,
) -> np.ndarray:
    """Aave health factor of every account.

    Parameters
    ----------
    collateral
        ``[n, k]`` collateral amounts (token units).
    prices_usd
        ``[k]`` collateral prices (USD per token).
    liquidation_thresholds
        ``[k]`` liquidation thresholds (fractions).
    debt
        ``[n]`` debt amounts (debt-asset units).
    debt_price_usd
        USD per unit of ``debt`` (a caller holding scaled debt passes ``index * price``).

    Returns
    -------
    np.ndarray
        ``[n]`` health factors; ``inf`` where the debt is zero.

    Notes
    -----
    ``HF = sum_i C_i P_i LT_i / (D P_D)`` (Aave v3.3 GenericLogic.calculateUserAccountData).
    """
    n, k = collateral.shape
    out = np.empty(n)
    for i in range(n):
        debt_usd = debt[i] * debt_price_usd
        if debt_usd <= 0.0:
            out[i] = np.inf
            continue
        adjusted_usd = 0.0
        for j in range(k):
            adjusted_usd += collateral[i, j] * prices_usd[j] * liquidation_thresholds[j]
        out[i] = adjusted_usd / debt_usd
    return out


@kernel
def available_borrows_usd(
    collateral: np.ndarray,
    prices_usd: np.ndarray,
    ltvs: np.ndarray,
    debt: np.ndarray,
    debt_price_usd: float,
) -> np.ndarray:
    """Borrowing capacity left to every account, in USD.

    Parameters
    ----------
    collateral, prices_usd, debt, debt_price_usd
        As in :func:`health_factors`.
    ltvs
        ``[k]`` effective loan-to-value fractions (already multiplied by any governed scale).

    Returns
    -------
    np.ndarray
        ``[n]`` ``max(0, sum_i C_i P_i LTV_i - D P_D)`` in USD.

    Notes
    -----
    Aave v3 ``GenericLogic.calculateAvailableBorrows``: a borrow is allowed while the new total
    debt stays at or below the LTV-weighted collateral value.
    """
    n, k = collateral.shape
    out = np.empty(n)
    for i in range(n):
        cap_usd = 0.0
        for j in range(k):
            cap_usd += collateral[i, j] * prices_usd[j] * ltvs[j]
        room = cap_usd - debt[i] * debt_price_usd
        out[i] = room if room > 0.0 else 0.0
    return out


@kernel
def find_liquidatable(
    collateral: np.ndarray,
    prices_usd: np.ndarray,
    liquidation_thresholds: np.ndarray,
    debt: np.ndarray,
    debt_price_usd: float,
) -> np.ndarray:
    """Ids (ascending) of the accounts with debt and ``HF < 1``.

    Parameters are those of :func:`health_factors`. One pass to compute, one to collect.
    """
    hf = health_factors(collateral, prices_usd, liquidation_thresholds, debt, debt_price_usd)
    count = 0
    for i in range(hf.shape[0]):
        if hf[i] < 1.0:
            count += 1
    ids = np.empty(count, dtype=np.int64)
    m = 0
    for i in range(hf.shape[0]):
        if hf[i] < 1.0:
            ids[m] = i
            m += 1
    return ids


@kernel
def liquidation_amounts(
    debt_to_cover: float,
    collateral_balance: float,
    collateral_price_usd: float,
    debt_price_usd: float,
    liquidation_bonus: float,
    protocol_fee_frac: float,
) -> tuple[float, float, float]:
    """Collateral taken and debt repaid by one liquidation (Aave v3.3 rules).

    Parameters
    ----------
    debt_to_cover
        Debt the liquidator offers to repay, already capped by the close factor (debt units).
    collateral_balance
        The account's balance of the collateral being seized (token units).
    collateral_price_usd, debt_price_usd
        Oracle prices.
    liquidation_bonus
        E.g. ``1.05`` for a 5% bonus.
    protocol_fee_frac
        Share of the bonus collateral that goes to the treasury.

    Returns
    -------
    tuple
        ``(collateral_total, debt_repaid, protocol_fee)``: collateral leaving the account (token
        units, liquidator part + fee), debt actually repaid, and the fee part of the collateral.

    Notes
    -----
    ``LiquidationLogic._calculateAvailableCollateralToLiquidate`` (DOMAIN.md A5 [S])::

        base = cover * P_d / P_c ;  max = base * LB
        if max > balance: coll = balance ; cover = coll * P_c / P_d / LB
        fee = (coll - coll / LB) * fee_frac

    A collateral price ``<= 0`` seizes the whole balance for nothing (the limit of the formula).
    """
    if collateral_price_usd <= 0.0:
        return collateral_balance, 0.0, 0.0
    max_collateral = debt_to_cover * debt_price_usd / collateral_price_usd * liquidation_bonus
    if max_collateral > collateral_balance:
        coll = collateral_balance
        repaid = coll * collateral_price_usd / debt_price_usd / liquidation_bonus
    else:
        coll = max_collateral
        repaid = debt_to_cover
    fee = (coll - coll / liquidation_bonus) * protocol_fee_frac
    return coll, repaid, fee
