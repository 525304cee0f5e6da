"""Liquidation of unhealthy :class:`~protocols.lending.LendingMarket` accounts (DOMAIN.md A5).

Aave v3.3 rules: close factor, liquidation bonus and protocol fee per collateral asset, the
``MUST_NOT_LEAVE_DUST`` refusal, and the v3.3 deficit: debt left on an account with no collateral
is burned, covered first by the treasury's receipt shares, then socialised to suppliers through a
cut of the liquidity index.

The functions take the market as first argument; :class:`~protocols.lending.LendingMarket` keeps
thin methods of the same names that delegate here, so callers use ``market.liquidation_call(...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from protocols.ledger import LedgerError
from protocols.margin.lending_kernels import liquidation_amounts
from protocols.types import EventKind, TxStatus

if TYPE_CHECKING:
    from protocols.lending import LendingMarket

__all__ = [
    "LiquidationResult",
    "largest_collateral",
    "liquidation_call",
    "max_liquidatable_debt",
    "preview_liquidation",
]

# Shared with protocols.lending, which imports them from here (this module cannot import it).
_REL_TOL = 1e-12  # relative slack for "all of it" comparisons between floats
_BASE_UNIT_USD = 1e-8  # Aave's base currency has 8 decimals: less than this is zero value


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    """Outcome of :meth:`LendingMarket.liquidation_call` (amounts in token units)."""

    status: TxStatus
    debt_repaid: float = 0.0  # debt asset paid by the liquidator
    collateral_seized: float = 0.0  # collateral sent to the liquidator (after the protocol fee)
    protocol_fee: float = 0.0  # collateral sent to the treasury
    bad_debt: float = 0.0  # debt written off because no collateral was left (v3.3 deficit)


def _check_amount(amount: float, *, allow_inf: bool = False) -> None:
    if math.isnan(amount) or amount < 0.0 or (math.isinf(amount) and not allow_inf):
        raise ValueError(f"amount: must be finite and >= 0, got {amount!r}")


def max_liquidatable_debt(
    market: LendingMarket, account: int, collateral_asset: str | None = None
) -> float:
    """Most debt one liquidation may repay now (close-factor rules; 0 if ``HF >= 1``).

    ``collateral_asset`` is the collateral to seize (Aave checks its value against the $2,000
    threshold); ``None`` takes the account's largest collateral by value.

    Notes
    -----
    Full debt, unless collateral >= $2,000 and debt >= $2,000 and HF > 0.95, in which case
    ``close_factor`` x debt (Aave v3.3 ``executeLiquidationCall``, DOMAIN.md A5 [S]).
    """
    if not market._valid(account):
        return 0.0
    p = market.params
    prices = market._prices()
    debt = market.debt_of(account)
    debt_usd = debt * market._debt_price()
    values = market._collateral[account] * prices
    if debt_usd <= 0.0 or float(values @ market._lt) >= debt_usd:
        return 0.0
    hf = float(values @ market._lt) / debt_usd
    j = int(np.argmax(values)) if collateral_asset is None else market._col(collateral_asset)
    if (
        values[j] >= p.min_base_max_close_factor_usd
        and debt_usd >= p.min_base_max_close_factor_usd
        and hf > p.close_factor_hf_threshold
    ):
        return p.close_factor * debt
    return debt


def largest_collateral(market: LendingMarket, account: int) -> str | None:
    """The collateral asset of ``account`` with the largest value at oracle prices, or None."""
    if not market._valid(account):
        return None
    values = market._collateral[account] * market._prices()
    j = int(np.argmax(values))
    return market.params.collateral_assets[j] if values[j] > 0.0 else None


def preview_liquidation(
    market: LendingMarket, account: int, collateral_asset: str, debt_to_cover: float
) -> float:
    """Collateral a liquidator would receive (after the protocol fee) for repaying
    ``min(debt_to_cover, max_liquidatable_debt)``; 0 if not liquidatable. Changes nothing."""
    j = market._col(collateral_asset)
    max_debt = max_liquidatable_debt(market, account, collateral_asset)
    bal = float(market._collateral[account, j]) if market._valid(account) else 0.0
    if max_debt <= 0.0 or bal <= 0.0 or debt_to_cover <= 0.0:
        return 0.0
    cp = market.params.collateral[j]
    coll_total, _, fee = liquidation_amounts(
        min(debt_to_cover, max_debt),
        bal,
        float(market._prices()[j]),
        market._debt_price(),
        cp.liquidation_bonus,
        cp.liquidation_protocol_fee_frac,
    )
    return coll_total - fee


def liquidation_call(
    market: LendingMarket,
    liquidator_holder: int,
    account: int,
    collateral_asset: str,
    debt_to_cover: float,
) -> LiquidationResult:
    """Repay part of an unhealthy account's debt for its collateral plus a bonus.

    ``debt_to_cover`` is capped by :func:`max_liquidatable_debt` (``inf`` = the maximum). A
    partial liquidation that would leave less than ``min_leftover_usd`` of debt or of this
    collateral is refused with ``INVALID_AMOUNT`` (Aave's ``MUST_NOT_LEAVE_DUST``). If no
    collateral is left and debt remains, the rest is written off (see :func:`_write_off`).
    """
    _check_amount(debt_to_cover, allow_inf=True)
    j = market._col(collateral_asset)
    if not market._valid(account):
        return LiquidationResult(TxStatus.UNKNOWN_ACCOUNT)
    if debt_to_cover == 0.0:
        return LiquidationResult(TxStatus.INVALID_AMOUNT)
    bal = float(market._collateral[account, j])
    max_debt = max_liquidatable_debt(market, account, collateral_asset)
    if max_debt <= 0.0 or bal <= 0.0:
        return LiquidationResult(TxStatus.NOT_LIQUIDATABLE)
    prices, p_debt = market._prices(), market._debt_price()
    p_coll = float(prices[j])
    cp = market.params.collateral[j]
    debt = market.debt_of(account)
    coll_total, repaid, fee = liquidation_amounts(
        min(debt_to_cover, max_debt),
        bal,
        p_coll,
        p_debt,
        cp.liquidation_bonus,
        cp.liquidation_protocol_fee_frac,
    )
    capped = coll_total >= bal
    leftover_usd = market.params.min_leftover_usd
    if (
        repaid < debt
        and not capped
        and ((debt - repaid) * p_debt < leftover_usd or (bal - coll_total) * p_coll < leftover_usd)
    ):
        return LiquidationResult(TxStatus.INVALID_AMOUNT)
    ledger, pool, coll_aid = market.ledger, market.pool_holder, market._coll_aids[j]
    try:
        repaid = ledger.transfer(liquidator_holder, pool, market._debt_aid, repaid)
    except LedgerError:
        return LiquidationResult(TxStatus.INSUFFICIENT_BALANCE)
    market._collateral[account, j] = 0.0 if capped else bal - coll_total
    if capped:
        coll_total = bal
    other_usd = float(market._collateral[account] @ prices)
    ledger.transfer(pool, liquidator_holder, coll_aid, coll_total - fee)
    if fee > 0.0:
        ledger.transfer(pool, market.treasury_holder, coll_aid, fee)
    deficit = 0.0
    if other_usd < _BASE_UNIT_USD and repaid < debt * (1.0 - _REL_TOL):
        deficit = debt - repaid  # v3.3: no collateral left, the rest of the debt is burned
    market._reduce_debt(account, debt if deficit > 0.0 else repaid, debt)
    market.liquidation_volume_total_usd += repaid * p_debt
    market.events.record(
        EventKind.LIQUIDATION,
        market.name,
        account=account,
        asset=collateral_asset,
        amount=coll_total,
        value_usd=coll_total * p_coll,
        detail=f"debt_repaid={repaid:.6f};protocol_fee={fee:.9g};liquidator={liquidator_holder}",
    )
    if deficit > 0.0:
        _write_off(market, account, deficit, p_debt)
    return LiquidationResult(TxStatus.OK, repaid, coll_total - fee, fee, deficit)


def _write_off(market: LendingMarket, account: int, deficit: float, p_debt: float) -> None:
    """Cover a deficit from the treasury's receipt shares, then cut the liquidity index.

    Notes
    -----
    Aave v3.3 books the burned debt as the reserve ``deficit`` and covers it by burning treasury
    aTokens (``eliminateReserveDeficit``). Here the reserve (treasury shares) pays first, at the
    current index; the uncovered rest ``R`` is socialised: ``L' = L - R / S`` over all remaining
    shares ``S``, so each supplier loses pro rata. Both steps keep ``cash + debt == S L``.
    """
    index = market._liquidity_index
    treasury_shares = market.ledger.balance(market.treasury_holder, market._receipt_aid)
    burn_shares = min(treasury_shares, deficit / index)
    if burn_shares > 0.0:
        market.ledger.burn(market.treasury_holder, market._receipt_aid, burn_shares, "bad debt")
    covered = burn_shares * index
    market.bad_debt_total += deficit * p_debt
    debt_asset = market.params.debt_asset
    market.events.record(
        EventKind.BAD_DEBT,
        market.name,
        account=account,
        asset=debt_asset,
        amount=deficit,
        value_usd=deficit * p_debt,
        detail=f"reserve_covered={covered:.6f}",
    )
    rest = deficit - covered
    shares = market.total_shares
    if rest > deficit * _REL_TOL and shares > 0.0:
        market._liquidity_index = max(index - rest / shares, 0.0)
        market.deficit_socialised_total += rest * p_debt
        market.events.record(
            EventKind.SOCIALISED_LOSS,
            market.name,
            account=account,
            asset=debt_asset,
            amount=rest,
            value_usd=rest * p_debt,
            detail=f"index_cut_frac={1.0 - market._liquidity_index / index:.9g}",
        )
