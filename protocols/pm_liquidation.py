"""Clearing and the liquidation engine of :class:`protocols.pm_exchange.PortfolioMarginExchange`.

Clearing (every step, :func:`clear_step`): perp PnL since the last settlement and option expiry
payoffs join each account's claim ``pending_usd``; accounts owing pay the clearing pool from their
cash, then the pool pays accounts owed (pro rata if short). :func:`pay` moves money between two
accounts, cash first and the rest as a claim pair, so it never fails. Invariant (value
conservation inside the venue): ``clearing_usd - sum(unsettled PnL) + unbacked_usd = 0``.

Liquidation (:func:`run_liquidations`, once per step), for each account with ``equity < MM``:

1. Incremental de-risking. Each round builds candidate books: one chunk (``liquidation_chunk_frac``
   of the position when liquidation began) closed of one position, for every position, plus the
   whole book scaled by ``1 - chunk_frac`` (:func:`~protocols.pm_book.reduction_candidates`); one
   margin-kernel call prices them all. The single chunk with the lowest MM is closed if it lowers
   MM, else the scaled book (which never raises MM: margin is positively homogeneous). Closing is
   against the backstop account at the mark; PENALTY mode pays ``penalty_frac`` of the closed
   underlying notional to the insurance fund (capped by the account's equity and cash), AUCTION
   mode pays the backstop the Dutch-auction discount (capped by equity). Rounds stop once ``equity
   >= liquidation_target_mm_mult x MM`` or the account is flat (Deribit stops as soon as
   MM < equity [S, DOMAIN.md A1]).
2. A flat account with ``equity < 0`` is bankrupt: the insurance fund pays the pool on its behalf
   (INSURANCE), then auto-deleveraging (ADL), then the rest is written off (BAD_DEBT) and cut pro
   rata from other accounts' positive claims (SOCIALISED_LOSS).

Dutch auction: after ``r`` rounds the discount is ``min(r step, cap)`` of the chunk's underlying
notional ``|q| S``; the backstop's bid schedule takes the chunk at the first round where the
discount reaches ``auction_backstop_mm_share`` of the MM the chunk releases, or at the cap.

ADL (as ``perp_liquidation._auto_deleverage``): the deficit is split over the instruments the
bankrupt held when liquidation began, by mark value; in instrument ``m`` with size ``q`` the
bankruptcy price is ``mark + sign(q) D_m / |q|``. Opposite positions ranked by ``PnL% x leverage``
(``adl_scores``, Bybit/BitMEX [S, DOMAIN.md A4]) close against the backstop (which took the
bankrupt's position) up to ``|q|``: at the mark, plus ``|p_b - mark|`` per coin paid to the
bankrupt, i.e. at the bankruptcy price; this also unwinds the backstop.

The backstop is never liquidated: it keeps what it took until expiry, ADL, or its own trades; its
losses are the venue's (a negative claim of the backstop delays other accounts' payouts).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from protocols.margin.perp_kernels import adl_scores, find_liquidatable
from protocols.pm_book import reduction_candidates
from protocols.pm_params import TOL_USD, LiquidationMode, PmLiquidationSummary
from protocols.types import EventKind

if TYPE_CHECKING:
    from protocols.pm_exchange import PortfolioMarginExchange

__all__ = [
    "clear_step",
    "pay",
    "resolve_bankrupt",
    "run_liquidations",
    "settle_expiries",
    "settle_pending",
    "socialise",
]


@dataclasses.dataclass(slots=True)
class _Tally:
    """Mutable twin of :class:`PmLiquidationSummary` filled during one call."""

    n_accounts: int = 0
    volume_usd: float = 0.0
    penalty_usd: float = 0.0
    auction_discount_usd: float = 0.0
    bad_debt_usd: float = 0.0
    insurance_paid_usd: float = 0.0
    adl_volume_usd: float = 0.0


# ---------------------------------------------------------------------- clearing
def pay(ex: PortfolioMarginExchange, src: int, dst: int, amount_usd: float) -> None:
    """Move ``amount_usd`` from account ``src`` to ``dst``: cash first, the rest as claims."""
    if amount_usd <= 0.0:
        return
    b = ex.book
    direct = min(ex.cash_usd(src), amount_usd)
    if direct > 0.0:
        direct = ex._ledger.transfer(int(b.holder[src]), int(b.holder[dst]), ex._usdc, direct)
    rest = amount_usd - direct
    if rest > 0.0:
        b.pending_usd[src] -= rest
        b.pending_usd[dst] += rest


def _collect(ex: PortfolioMarginExchange, a: int) -> None:
    """Pay account ``a``'s negative claim to the clearing pool from its cash, as far as it can."""
    b = ex.book
    amount = min(ex.cash_usd(a), -float(b.pending_usd[a]))
    if amount > 0.0:
        amount = ex._ledger.transfer(int(b.holder[a]), ex.clearing_holder, ex._usdc, amount)
        b.pending_usd[a] += amount


def clear_step(ex: PortfolioMarginExchange) -> None:
    """One step of clearing: settle claims, settle expired options and roll, settle again;
    then resolve flat accounts with negative equity (:func:`resolve_bankrupt`)."""
    settle_pending(ex)
    due = ex.series.expiring(ex.step)
    if due.size:
        settle_expiries(ex, due)
        settle_pending(ex)
    if resolve_bankrupt(ex):
        settle_pending(ex)  # pay winners what the insurance fund put into the pool


def settle_pending(ex: PortfolioMarginExchange) -> None:
    """Settle every account's perp PnL and claims in cash (losers first, then winners)."""
    b, n, s = ex.book, ex.book.n_accounts, ex.index_price()
    perp = b.size_base[:n, 0]
    live = perp != 0.0
    b.pending_usd[:n] += np.where(live, perp * (s - b.perp_settle_usd[:n]), 0.0)
    b.perp_settle_usd[:n] = np.where(live, s, 0.0)
    for a in np.flatnonzero(b.pending_usd[:n] < 0.0):
        _collect(ex, int(a))
    socialise(ex)
    owed = np.flatnonzero(b.pending_usd[:n] > 0.0)
    total = float(b.pending_usd[owed].sum())
    if total <= 0.0:
        return
    frac = min(1.0, ex.clearing_usd / total)
    for a in owed:
        amount = min(float(b.pending_usd[a]) * frac, ex.clearing_usd)
        if amount > 0.0:
            amount = ex._ledger.transfer(ex.clearing_holder, int(b.holder[a]), ex._usdc, amount)
            b.pending_usd[a] -= amount


def socialise(ex: PortfolioMarginExchange) -> None:
    """Cut written-off bad debt (``unbacked_usd``) from positive claims, pro rata."""
    b, n = ex.book, ex.book.n_accounts
    if ex.unbacked_usd <= TOL_USD:
        return
    owed = np.flatnonzero(b.pending_usd[:n] > 0.0)
    total = float(b.pending_usd[owed].sum())
    cut = min(ex.unbacked_usd, total)
    if cut <= TOL_USD:
        return
    b.pending_usd[owed] -= b.pending_usd[owed] * (cut / total)
    ex.unbacked_usd -= cut
    ex.socialised_total += cut
    ex._events.record(
        EventKind.SOCIALISED_LOSS,
        ex.name,
        asset=ex.quote_asset,
        amount=cut,
        value_usd=cut,
        detail=f"claims of {owed.size} accounts cut pro rata",
    )


def settle_expiries(ex: PortfolioMarginExchange, due: np.ndarray) -> None:
    """Intrinsic value of expiring series ``due``, from shorts to longs (as claims); roll boards."""
    s, b, n = ex.index_price(), ex.book, ex.book.n_accounts
    strike = ex.series.strike_usd[due]
    call = ex.series.is_call[due]
    payoff = np.where(call, np.maximum(s - strike, 0.0), np.maximum(strike - s, 0.0))
    cols = due + 1
    sizes = b.size_base[:n, cols]
    long_base = np.clip(sizes, 0.0, None).sum(axis=0)
    for j in np.flatnonzero(long_base > 0.0):
        ex._events.record(
            EventKind.SETTLEMENT,
            ex.name,
            asset=ex.asset,
            amount=float(long_base[j]),
            value_usd=float(long_base[j] * payoff[j]),
            detail=f"series={due[j]} {'call' if call[j] else 'put'} strike_usd={strike[j]:.6g} "
            f"price_usd={s:.6g}",
        )
    ex.settlement_paid_total += float(long_base @ payoff)
    b.pending_usd[:n] += sizes @ payoff
    b.size_base[:n, cols] = 0.0
    b.entry_usd[:n, cols] = 0.0
    ex.series.settle(due, ex.step, s)
    b.add_instruments(1 + ex.series.n_series)


def move_position(
    ex: PortfolioMarginExchange, src: int, dst: int, col: int, delta: float, price: float
) -> None:
    """``src`` trades ``delta`` of column ``col`` with ``dst`` at ``price`` (no fees, no checks)."""
    if col > 0:
        buyer, seller = (src, dst) if delta > 0.0 else (dst, src)
        pay(ex, buyer, seller, abs(delta) * price)
    ex.book.fill(src, col, delta, price)
    ex.book.fill(dst, col, -delta, price)


# ---------------------------------------------------------------------- liquidation
def run_liquidations(ex: PortfolioMarginExchange) -> PmLiquidationSummary:
    """Liquidate every account below maintenance once (one margin pass when none is)."""
    ex.last_liquidation_trace = []
    equity, _, maintenance = ex.margin_state()
    flagged = find_liquidatable(equity, maintenance, TOL_USD)
    tally = _Tally()
    for a in flagged:
        if int(a) != ex.backstop_account:
            _liquidate_account(ex, int(a), tally)
    ex.liquidation_volume_total += tally.volume_usd
    return PmLiquidationSummary(**dataclasses.asdict(tally))


def _positions(ex: PortfolioMarginExchange, a: int) -> tuple[np.ndarray, np.ndarray]:
    _, cols = ex.book.live(np.array([a]))
    return cols, ex.book.size_base[a, cols].copy()


def _liquidate_account(ex: PortfolioMarginExchange, a: int, tally: _Tally) -> None:
    equity, _, mm = ex.account_margin(a)
    if equity >= mm - TOL_USD:  # healed by earlier liquidations
        return
    tally.n_accounts += 1
    start_cols, start_sizes = _positions(ex, a)
    chunk_of = np.zeros(ex.book.n_instruments)  # chunk size per column, fixed at the start
    chunk_of[start_cols] = np.abs(start_sizes) * ex.params.liquidation_chunk_frac
    target = ex.params.liquidation_target_mm_mult
    for _ in range(ex.params.max_liquidation_rounds):
        cols, sizes = _positions(ex, a)
        if cols.size == 0 or equity >= target * mm - TOL_USD:
            break
        cand = reduction_candidates(sizes, chunk_of[cols], ex.params.liquidation_chunk_frac)
        modes = np.full(cand.shape[0], ex.book.mode[a])
        _, mm_cand = ex.requirements([(cols, row) for row in cand], modes)
        best = int(np.argmin(mm_cand[:-1]))
        pick = best if mm_cand[best] < mm - TOL_USD else cand.shape[0] - 1
        _close_round(ex, a, cols, cand[pick] - sizes, equity, mm - mm_cand[pick], tally)
        equity, _, mm_after = ex.account_margin(a)
        ex.last_liquidation_trace.append((a, mm, mm_after))
        mm = mm_after
    if not ex.positions_of(a) and ex.account_equity_usd(a) < -TOL_USD:
        _resolve_deficit(ex, a, start_cols, start_sizes, tally)


def _close_round(
    ex: PortfolioMarginExchange,
    a: int,
    cols: np.ndarray,
    delta: np.ndarray,
    equity: float,
    mm_released: float,
    tally: _Tally,
) -> None:
    """Close ``delta`` (per column) of account ``a`` against the backstop; charge the round."""
    p, s = ex.params, ex.index_price()
    marks = ex._rows(cols).mark_usd
    moved = np.flatnonzero(delta)
    for j in moved:
        move_position(ex, a, ex.backstop_account, int(cols[j]), float(delta[j]), float(marks[j]))
    notional = float(np.abs(delta).sum() * s)
    room = max(equity, 0.0)  # closing at the mark leaves equity unchanged
    if p.liquidation_mode is LiquidationMode.PENALTY:
        fee = min(p.penalty_frac * notional, room, ex.cash_usd(a))
        if fee > 0.0:
            holder = int(ex.book.holder[a])
            fee = ex._ledger.transfer(holder, ex.insurance_holder, ex._usdc, fee)
        tally.penalty_usd += fee
        ex.penalty_total += fee
        detail = f"mode=penalty penalty_usd={fee:.6g}"
    else:
        step_usd = p.auction_step_frac * notional
        reservation = p.auction_backstop_mm_share * max(mm_released, 0.0)
        rounds = math.ceil(reservation / step_usd) if step_usd > 0.0 else 0
        cap_rounds = math.ceil(p.auction_max_discount_frac / p.auction_step_frac - 1e-9)
        rounds = min(rounds, cap_rounds)
        frac = min(rounds * p.auction_step_frac, p.auction_max_discount_frac)
        discount = min(frac * notional, room)
        pay(ex, a, ex.backstop_account, discount)
        tally.auction_discount_usd += discount
        ex.auction_discount_total += discount
        detail = f"mode=auction rounds={rounds} discount_usd={discount:.6g}"
    tally.volume_usd += notional
    instruments = ",".join(str(int(c) - 1) for c in cols[moved])
    ex._events.record(
        EventKind.LIQUIDATION,
        ex.name,
        account=a,
        asset=ex.asset,
        amount=float(np.abs(delta).sum()),
        value_usd=notional,
        detail=f"instruments={instruments} mm_released_usd={mm_released:.6g} {detail}",
    )


def resolve_bankrupt(ex: PortfolioMarginExchange) -> bool:
    """Resolve flat accounts with negative equity (after settlement): insurance, then loss.

    Returns whether there was any."""
    b, n = ex.book, ex.book.n_accounts
    flat = ~np.any(b.size_base[:n, : b.n_instruments] != 0.0, axis=1)
    flat[ex.backstop_account] = False
    idx = np.flatnonzero(flat)
    equity = ex._cash(idx) + b.pending_usd[idx]  # a flat account's equity
    none = np.zeros(0, dtype=np.int64)
    bankrupt = idx[equity < -TOL_USD]
    for a in bankrupt:
        _resolve_deficit(ex, int(a), none, np.zeros(0), _Tally())
    return bankrupt.size > 0


def _resolve_deficit(
    ex: PortfolioMarginExchange, a: int, cols: np.ndarray, start: np.ndarray, tally: _Tally
) -> None:
    """Insurance, then ADL, then a socialised write-off, until flat account ``a`` is at zero."""
    b = ex.book
    _collect(ex, a)
    deficit = -ex.account_equity_usd(a)
    paid = min(deficit, ex.insurance_fund_usd)
    if paid > TOL_USD:
        paid = ex._ledger.transfer(ex.insurance_holder, ex.clearing_holder, ex._usdc, paid)
        b.pending_usd[a] += paid
        ex.insurance_paid_total += paid
        tally.insurance_paid_usd += paid
        ex._events.record(
            EventKind.INSURANCE,
            ex.name,
            account=a,
            asset=ex.quote_asset,
            amount=paid,
            value_usd=paid,
            detail="deficit covered",
        )
        deficit -= paid
    if deficit > TOL_USD and cols.size:
        _auto_deleverage(ex, a, cols, start, deficit, tally)
        _collect(ex, a)
        deficit = -ex.account_equity_usd(a)
    if deficit > TOL_USD:
        b.pending_usd[a] += deficit
        ex.unbacked_usd += deficit
        ex.bad_debt_total += deficit
        tally.bad_debt_usd += deficit
        ex._events.record(
            EventKind.BAD_DEBT,
            ex.name,
            account=a,
            asset=ex.quote_asset,
            amount=deficit,
            value_usd=deficit,
            detail="written off, cut from other accounts' claims",
        )
        socialise(ex)


def _auto_deleverage(
    ex: PortfolioMarginExchange,
    a: int,
    cols: np.ndarray,
    start: np.ndarray,
    deficit: float,
    tally: _Tally,
) -> None:
    """Close opposite positions at the bankruptcy price (module docstring)."""
    b, n, s = ex.book, ex.book.n_accounts, ex.index_price()
    marks = ex._rows(cols).mark_usd
    value = np.abs(start) * marks
    total = float(value.sum())
    if total <= 0.0:
        return
    equity = ex.margin_state().equity_usd
    for j in np.flatnonzero(value > 0.0):
        col, mark = int(cols[j]), float(marks[j])
        side = 1.0 if start[j] > 0.0 else -1.0
        qty_left = abs(float(start[j]))
        gap = deficit * value[j] / total / qty_left
        if side < 0.0:
            gap = min(gap, mark)  # a price cannot go below zero
        sizes = b.size_base[:n, col]
        scores = adl_scores(sizes, b.entry_usd[:n, col], mark, equity)
        eligible = (np.sign(sizes) == -side) & np.isfinite(scores)
        eligible[[a, ex.backstop_account]] = False
        idx = np.flatnonzero(eligible)
        for c in idx[np.argsort(-scores[idx], kind="stable")]:
            if qty_left <= 1e-12:
                break
            qty = min(abs(float(sizes[c])), qty_left)
            move_position(ex, int(c), ex.backstop_account, col, side * qty, mark)
            pay(ex, int(c), a, qty * gap)
            qty_left -= qty
            tally.adl_volume_usd += qty * s
            ex.adl_volume_total += qty * s
            ex._events.record(
                EventKind.ADL,
                ex.name,
                account=int(c),
                asset=ex.asset,
                amount=qty,
                value_usd=qty * s,
                detail=f"instrument={col - 1} bankrupt={a} price_usd={mark + side * gap:.6g}",
            )
