"""Interest accrual and the supplier side of :class:`protocols.lending.LendingMarket`.

Plain functions taking the market as first argument (the market delegates to them), so the pool's
index arithmetic sits in one short module next to its invariant: ``cash + debt == shares x index``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from protocols.ledger import LedgerError
from protocols.lending_liquidation import _REL_TOL, _check_amount
from protocols.types import TxStatus

if TYPE_CHECKING:
    from protocols.lending import LendingMarket

__all__ = ["accrue", "supply", "withdraw_supply"]

SECONDS_PER_YEAR = 365.0 * 86_400.0


def accrue(self: LendingMarket, step: int) -> None:
    """Accrue interest from the last accrual to ``step`` (O(1)).

    Notes
    -----
    Rate ``r`` from the curve at the current utilisation; ``x = r * dt / year``; the borrow
    index grows by Aave's ``calculateCompoundedInterest`` ``1 + x + x^2/2 + x^3/6``. Interest
    ``I`` on total debt is split: ``(1 - RF) I`` raises the liquidity index by
    ``(1 - RF) I / S`` (S = all shares), ``RF I`` is minted to the treasury as shares at the
    new index. Hence ``S' L' = S L + I`` exactly, which keeps the pool invariant.
    """
    dt_steps = step - self._last_step
    if dt_steps <= 0:
        return
    self._last_step = step
    debt = self.total_debt
    if debt <= 0.0:
        return
    x = self.borrow_rate_per_year * dt_steps * self.step_seconds / SECONDS_PER_YEAR
    growth = x + x * x / 2.0 + x * x * x / 6.0  # Aave v3 MathUtils.calculateCompoundedInterest
    interest = debt * growth
    self._borrow_index *= 1.0 + growth
    shares = self.total_shares
    rf = self._params.reserve_factor
    if shares > 0.0:
        self._liquidity_index += (1.0 - rf) * interest / shares
        to_treasury = rf * interest
    else:  # unreachable while the invariant holds (debt > 0 implies shares > 0)
        to_treasury = interest
    if to_treasury > 0.0:
        self.ledger.mint(
            self.treasury_holder,
            self._receipt_aid,
            to_treasury / self._liquidity_index,
            "reserve factor",
        )


def supply(self: LendingMarket, holder: int, amount: float) -> tuple[TxStatus, float]:
    """Supply ``amount`` of the debt asset; mints ``amount / liquidity_index`` shares."""
    _check_amount(amount)
    if amount == 0.0:
        return TxStatus.INVALID_AMOUNT, 0.0
    if self._liquidity_index <= 0.0:  # every supplied unit was lost: the market is dead
        return TxStatus.PAUSED, 0.0
    try:
        moved = self.ledger.transfer(holder, self.pool_holder, self._debt_aid, amount)
    except LedgerError:
        return TxStatus.INSUFFICIENT_BALANCE, 0.0
    shares = moved / self._liquidity_index
    self.ledger.mint(holder, self._receipt_aid, shares, "supply")
    return TxStatus.OK, shares


def withdraw_supply(self: LendingMarket, holder: int, shares: float) -> tuple[TxStatus, float]:
    """Redeem receipt ``shares`` (``inf`` = all) for cash; partial when cash is short.

    Returns ``(status, amount paid)``; ``INSUFFICIENT_LIQUIDITY`` on a partial redemption.
    """
    _check_amount(shares, allow_inf=True)
    have = self.ledger.balance(holder, self._receipt_aid)
    if math.isinf(shares):
        shares = have
    if shares == 0.0:
        return TxStatus.INVALID_AMOUNT, 0.0
    if shares > have * (1.0 + _REL_TOL):
        return TxStatus.INSUFFICIENT_BALANCE, 0.0
    shares = min(shares, have)
    amount = shares * self._liquidity_index
    cash = self.available_liquidity
    status = TxStatus.OK
    if amount > cash:
        status = TxStatus.INSUFFICIENT_LIQUIDITY
        if cash <= 0.0:
            return status, 0.0
        amount, shares = cash, cash / self._liquidity_index
    self.ledger.burn(holder, self._receipt_aid, shares, "withdraw supply")
    paid = self.ledger.transfer(self.pool_holder, holder, self._debt_aid, amount)
    return status, paid
