"""Loss settlement and the perp exchange's liquidation engine (partial, insurance, ADL, bad debt).

Order of the waterfall (DOMAIN.md A4):

1. Every account with ``equity < maintenance`` is reduced in chunks of
   ``liquidation_chunk_frac`` of each position (as it stood when the liquidation began), largest
   notional market first, closing against the vault at the mark price. Each chunk pays the
   clearance fee (``liquidation_fee_frac`` of the closed notional, capped by the remaining equity)
   to the insurance fund. Liquidation stops as soon as ``equity >= maintenance`` (Binance steps
   3-4, Hyperliquid's 20% chunks) or the account is flat.
2. Debit balances are repaid by selling the account's non-USDC collateral into its spot venue.
3. A flat account left with ``equity < 0`` is bankrupt: the insurance fund pays the deficit to the
   vault (INSURANCE event).
4. If the fund cannot, the rest is recovered by auto-deleveraging: opposite-side positions ranked
   by ``PnL% x effective leverage`` (Bybit/BitMEX) are closed at the bankrupt account's bankruptcy
   price instead of the mark; the difference is the recovery (ADL events).
5. Whatever is left is bad debt, forgiven by the vault, which is the creditor of the debit balance
   (BAD_DEBT event, ``bad_debt_total``).

Each liquidation and ADL closing order is reported to ``flow_sink(asset, signed_size_base)``.

Why the vault is whole after ADL: closing ``x`` of an opposite position at the bankruptcy price
``p_b`` instead of the mark pays its holder ``x |p_b - mark|`` less; the vault, which had taken the
bankrupt position over at the mark and is owed the deficit, forgives exactly that much debt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from protocols.margin.perp_kernels import adl_scores, find_liquidatable
from protocols.perp_params import SETTLEMENT_ASSET
from protocols.types import EventKind, TxStatus

if TYPE_CHECKING:
    from protocols.perp import PerpExchange

__all__ = [
    "LiquidationSummary",
    "apply_fill",
    "cover_debt",
    "fill_position",
    "pay_insurance",
    "raise_usdc",
    "repay_debt",
    "run_liquidations",
    "settle_cash",
    "split_cash",
]

_TOL_USD = 1e-6  # equity within a micro-dollar of its requirement counts as meeting it


@dataclass(frozen=True, slots=True)
class LiquidationSummary:
    """What one :meth:`PerpExchange.liquidate` call did (USD amounts).

    ``n_liquidations`` counts accounts liquidated (chunks closed or a deficit resolved);
    ``volume_usd`` is the notional closed by liquidation (ADL volume separately).
    """

    volume_usd: float = 0.0
    n_liquidations: int = 0
    bad_debt_usd: float = 0.0
    insurance_paid_usd: float = 0.0
    adl_volume_usd: float = 0.0


class _Tally:
    __slots__ = ("adl", "bad_debt", "insurance", "n", "volume")

    def __init__(self) -> None:
        self.volume = self.bad_debt = self.insurance = self.adl = 0.0
        self.n = 0


def run_liquidations(ex: PerpExchange) -> LiquidationSummary:
    """Liquidate every account below maintenance once; cheap (one kernel call) when none is."""
    if ex.n_accounts == 0:
        return LiquidationSummary()
    equity, maintenance, _, _ = ex._margin_arrays()
    flagged = find_liquidatable(equity, maintenance, _TOL_USD)
    if flagged.size == 0:
        return LiquidationSummary()
    tally = _Tally()
    for account in flagged:
        _liquidate_account(ex, int(account), tally)
    ex.liquidation_volume_total += tally.volume
    return LiquidationSummary(
        volume_usd=tally.volume,
        n_liquidations=tally.n,
        bad_debt_usd=tally.bad_debt,
        insurance_paid_usd=tally.insurance,
        adl_volume_usd=tally.adl,
    )


def _liquidate_account(ex: PerpExchange, a: int, tally: _Tally) -> None:
    equity, maintenance, _, _ = ex._account_state(a)
    if equity >= maintenance - _TOL_USD:  # healed by earlier liquidations moving the marks
        return
    tally.n += 1
    cover_debt(ex, a)
    equity, maintenance, _, _ = ex._account_state(a)
    if equity >= maintenance - _TOL_USD:  # selling collateral at the venue was enough
        return
    start = ex._size[a].copy()
    chunk = np.abs(start) * ex.params.liquidation_chunk_frac
    if not _close_in_chunks(ex, a, chunk, tally):
        return
    equity = ex._account_state(a)[0]
    if equity < -_TOL_USD:
        _resolve_deficit(ex, a, start, -equity, tally)


def _close_in_chunks(ex: PerpExchange, a: int, chunk: np.ndarray, tally: _Tally) -> bool:
    """Close chunks until healthy (returns False) or flat (returns True)."""
    fee_frac = ex.params.liquidation_fee_frac
    while np.any(ex._size[a] != 0.0):
        marks = ex._marks()
        for m in np.argsort(-np.abs(ex._size[a]) * marks, kind="stable"):
            size = float(ex._size[a, m])
            if size == 0.0:
                continue
            qty = min(abs(size), float(chunk[m]))
            if qty >= abs(size) * (1.0 - 1e-9):
                qty = abs(size)
            delta = -qty if size > 0.0 else qty
            price = float(ex._marks()[m])
            settle_cash(ex, a, apply_fill(ex, a, int(m), delta, price))
            cover_debt(ex, a)
            _report_flow(ex, int(m), delta)
            equity = ex._account_state(a)[0]
            fee = pay_insurance(ex, a, min(fee_frac * qty * price, max(equity, 0.0)))
            notional = qty * price
            tally.volume += notional
            ex._events.record(
                EventKind.LIQUIDATION,
                ex.name,
                account=a,
                asset=ex._markets[m],
                amount=qty,
                value_usd=notional,
                detail=f"price={price:.6g} fee_usd={fee:.6g}",
            )
            equity, maintenance, _, _ = ex._account_state(a)
            if equity >= maintenance - _TOL_USD and maintenance > 0.0:
                return False
    return True


def _report_flow(ex: PerpExchange, m: int, delta: float) -> None:
    if ex._flow_sink is not None:
        ex._flow_sink(ex._markets[m], delta)


def _resolve_deficit(
    ex: PerpExchange, a: int, start: np.ndarray, deficit: float, tally: _Tally
) -> None:
    """Insurance, then ADL, then bad debt, until the bankrupt account's equity is zero."""
    usdc = ex._usdc_id
    paid = min(deficit, ex.insurance_fund_usd)
    if paid > _TOL_USD:
        paid = ex._ledger.transfer(ex.insurance_holder, ex.vault_holder, usdc, paid)
        ex._debt[a] -= paid
        ex.insurance_paid_total += paid
        tally.insurance += paid
        ex._events.record(
            EventKind.INSURANCE,
            ex.name,
            account=a,
            asset=SETTLEMENT_ASSET,
            amount=paid,
            value_usd=paid,
            detail="deficit covered",
        )
        deficit -= paid
    if deficit <= _TOL_USD:
        return
    recovered = _auto_deleverage(ex, a, start, deficit, tally)
    ex._debt[a] -= recovered
    deficit -= recovered
    if deficit > _TOL_USD:
        ex._debt[a] -= deficit
        ex.bad_debt_total += deficit
        tally.bad_debt += deficit
        ex._events.record(
            EventKind.BAD_DEBT,
            ex.name,
            account=a,
            asset=SETTLEMENT_ASSET,
            amount=deficit,
            value_usd=deficit,
            detail="unrecovered deficit forgiven by the vault",
        )
    ex._debt[a] = max(float(ex._debt[a]), 0.0)


def _auto_deleverage(
    ex: PerpExchange, a: int, start: np.ndarray, deficit: float, tally: _Tally
) -> float:
    """Close opposite positions at the bankruptcy price; return the deficit recovered (USD).

    Notes
    -----
    The deficit is split over the markets the account held in proportion to their notional. In
    market ``m`` with bankrupt size ``q`` and share ``D_m``, the bankruptcy price is
    ``p_b = mark + sign(q) D_m / |q|`` (the price at which closing would have left equity 0); up to
    ``|q|`` of opposite positions close there, each unit recovering ``|p_b - mark|``.
    """
    marks = ex._marks()
    notional = np.abs(start) * marks
    total = float(notional.sum())
    if total <= 0.0:
        return 0.0
    n = ex.n_accounts
    equity = ex._margin_arrays()[0]
    recovered = 0.0
    for m in np.flatnonzero(start):
        side = 1.0 if start[m] > 0.0 else -1.0
        qty_left = abs(float(start[m]))
        gap = deficit * notional[m] / total / qty_left
        if side < 0.0:
            gap = min(gap, float(marks[m]))  # a price cannot go below zero
        bankrupt_price = float(marks[m]) + side * gap
        sizes = ex._size[:n, m]
        scores = adl_scores(sizes, ex._entry[:n, m], float(marks[m]), equity)
        eligible = (np.sign(sizes) == -side) & np.isfinite(scores)
        eligible[a] = False
        idx = np.flatnonzero(eligible)
        for c in idx[np.argsort(-scores[idx], kind="stable")]:
            if qty_left <= 1e-12:
                break
            c = int(c)
            qty = min(abs(float(ex._size[c, m])), qty_left)
            delta = side * qty
            settle_cash(ex, c, apply_fill(ex, c, int(m), delta, bankrupt_price))
            cover_debt(ex, c)
            _report_flow(ex, int(m), delta)
            qty_left -= qty
            recovered += qty * gap
            volume = qty * bankrupt_price
            tally.adl += volume
            ex.adl_volume_total += volume
            ex._events.record(
                EventKind.ADL,
                ex.name,
                account=c,
                asset=ex._markets[m],
                amount=qty,
                value_usd=volume,
                detail=f"bankrupt_account={a} price={bankrupt_price:.6g}",
            )
    return min(recovered, deficit)


# ---------------------------------------------------------------------- loss settlement
# Position and cash settlement, used by the exchange's own trades as well as by the engine above:
# how a fill changes a position, how a USDC flow reaches an account, how a loss larger than its
# USDC becomes a debit balance, and how that balance is repaid by selling the account's other
# collateral into its spot venue.


def fill_position(
    size: float, entry: float, delta: float, price: float
) -> tuple[float, float, float]:
    """New ``(size, entry, realised_pnl_usd)`` after trading ``delta`` base units at ``price``.

    Adding to a position averages the entry; reducing realises PnL on the closed part and keeps
    the entry; flipping realises the whole old position and enters the rest at ``price``.
    """
    new = size + delta
    if size == 0.0 or (size > 0.0) == (delta > 0.0):
        return new, (size * entry + delta * price) / new, 0.0
    sign = 1.0 if size > 0.0 else -1.0
    if abs(new) <= 1e-12 * max(abs(size), abs(delta)):
        return 0.0, 0.0, sign * abs(size) * (price - entry)
    if abs(delta) > abs(size):
        return new, price, sign * abs(size) * (price - entry)
    return new, entry, sign * abs(delta) * (price - entry)


def apply_fill(ex: PerpExchange, a: int, m: int, delta: float, price: float) -> float:
    """Change account ``a``'s position in market ``m`` at ``price``; update open interest.

    Returns the realised PnL (USD), not yet settled.
    """
    size = float(ex._size[a, m])
    new, entry, realised = fill_position(size, float(ex._entry[a, m]), delta, price)
    ex._size[a, m] = new
    ex._entry[a, m] = entry
    ex._long_base[m] = max(ex._long_base[m] + max(new, 0.0) - max(size, 0.0), 0.0)
    ex._short_base[m] = max(ex._short_base[m] + max(-new, 0.0) - max(-size, 0.0), 0.0)
    return realised


def split_cash(usdc: float, debt: float, cash_usd: float) -> tuple[float, float]:
    """USDC balance and debit balance after a signed cash flow (credits repay debt first)."""
    if cash_usd >= 0.0:
        repaid = min(cash_usd, debt)
        return usdc + cash_usd - repaid, debt - repaid
    take = min(-cash_usd, max(usdc, 0.0))
    return usdc - take, debt - cash_usd - take


def settle_cash(ex: PerpExchange, a: int, cash_usd: float) -> None:
    """Settle a signed USDC flow between account ``a`` and the vault.

    A credit first repays the account's debit balance (no tokens move for that part), the rest is
    paid by the vault (capped by its balance; a shortfall is a SOCIALISED_LOSS event). A debit is
    paid from the account's USDC; the rest becomes debit balance owed to the vault.
    """
    u, usdc_id = ex._usdc_col, ex._usdc_id
    usdc, debt = float(ex._coll[a, u]), float(ex._debt[a])
    if cash_usd >= 0.0:
        repaid = min(cash_usd, debt)
        rest = cash_usd - repaid
        paid = min(rest, ex.vault_usd)
        if paid > 0.0:
            paid = ex._ledger.transfer(ex.vault_holder, ex.margin_holder, usdc_id, paid)
        if rest - paid > _TOL_USD:
            ex.vault_shortfall_total += rest - paid
            ex._events.record(
                EventKind.SOCIALISED_LOSS,
                ex.name,
                account=a,
                asset=SETTLEMENT_ASSET,
                amount=rest - paid,
                value_usd=rest - paid,
                detail="vault could not pay profit",
            )
        ex._coll[a, u] = usdc + paid
        ex._debt[a] = debt - repaid
    else:
        take = min(-cash_usd, max(usdc, 0.0))
        if take > 0.0:
            take = ex._ledger.transfer(ex.margin_holder, ex.vault_holder, usdc_id, take)
        ex._coll[a, u] = usdc - take
        ex._debt[a] = debt - cash_usd - take


def repay_debt(ex: PerpExchange, a: int) -> None:
    """Repay account ``a``'s debit balance from its own USDC."""
    u = ex._usdc_col
    repay = min(float(ex._debt[a]), float(ex._coll[a, u]))
    if repay > 0.0:
        repay = ex._ledger.transfer(ex.margin_holder, ex.vault_holder, ex._usdc_id, repay)
        ex._coll[a, u] -= repay
        ex._debt[a] -= repay


def raise_usdc(ex: PerpExchange, a: int, need_usd: float) -> None:
    """Sell account ``a``'s non-USDC collateral into its spot venues for about ``need_usd``."""
    for col, asset in enumerate(ex._coll_assets):
        if need_usd <= _TOL_USD:
            return
        held = float(ex._coll[a, col])
        venue = ex._spot_venues.get(asset)
        if col == ex._usdc_col or held <= 0.0 or venue is None:
            continue
        # 5% over the oracle estimate covers the venue's fee and slippage in one swap.
        amount_in = min(held, 1.05 * need_usd / ex._oracles[asset].price_usd)
        status, out = venue.swap(ex.margin_holder, asset, amount_in, 0.0)
        if status != TxStatus.OK:
            continue
        ex._coll[a, col] = max(held - amount_in, 0.0)
        ex._coll[a, ex._usdc_col] += out
        need_usd -= out


def cover_debt(ex: PerpExchange, a: int) -> None:
    """Repay account ``a``'s debit balance, selling other collateral if its USDC is short."""
    if ex._debt[a] <= 0.0:
        return
    shortfall = float(ex._debt[a] - ex._coll[a, ex._usdc_col])
    if shortfall > 0.0:
        raise_usdc(ex, a, shortfall)
    repay_debt(ex, a)


def pay_insurance(ex: PerpExchange, a: int, fee_usd: float) -> float:
    """Pay a clearance fee from account ``a``'s USDC (selling collateral if needed); return it."""
    u = ex._usdc_col
    if fee_usd <= 0.0:
        return 0.0
    if ex._coll[a, u] < fee_usd:
        raise_usdc(ex, a, fee_usd - float(ex._coll[a, u]))
    paid = min(fee_usd, float(ex._coll[a, u]))
    if paid <= 0.0:
        return 0.0
    paid = ex._ledger.transfer(ex.margin_holder, ex.insurance_holder, ex._usdc_id, paid)
    ex._coll[a, u] -= paid
    return paid
