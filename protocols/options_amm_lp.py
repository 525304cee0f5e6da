"""LP shares, the deposit/withdrawal queue and the circuit-breaker clock of the options AMM (Lyra
v1 ``LiquidityPool``, DOMAIN.md A6 [S]).

LPs hold a ledger token (the AMM's ``lp_asset``) whose price is ``NAV / share supply``. Deposits
and withdrawals are *requests*: the USDC of a deposit, or the shares of a withdrawal, wait at the
ledger holder ``"<amm>:lp-queue"`` until the delay has passed and no circuit breaker is active,
then :meth:`LpQueue.process` executes them first-in first-out at the share price of that moment.

Why no LP is diluted: a queued deposit is not part of NAV (it sits at the queue holder) and a
queued withdrawal's shares are still part of the supply (escrowed, as Lyra counts
``totalQueuedWithdrawals`` in ``getTotalTokenSupply``). A deposit of ``D`` at price ``p`` mints
``D / p`` shares, so ``(NAV + D) / (supply + D / p) = p``. A withdrawal of ``w`` shares pays
``w p (1 - fee)``, so the price of the remaining shares rises by ``w p fee / (supply - w)``: the
withdrawal fee goes to the LPs who stay. A withdrawal is paid only out of burnable liquidity (pool
USDC not locked as collateral); the unpaid part stays at the head of the queue (Lyra's partial
processing).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.options_amm_pricing import BREAKER_NAMES
from protocols.types import EventKind, TxStatus

__all__ = ["CircuitBreaker", "LpQueue", "QueuedRequest"]

_SHARE_DUST = 1e-12


@dataclass(slots=True)
class QueuedRequest:
    """One queued deposit (``amount`` in USDC) or withdrawal (``amount`` in shares)."""

    holder: int
    amount: float
    ready_step: int


class LpQueue:
    """LP share token and the deposit/withdrawal queues of one pool.

    Parameters
    ----------
    name
        The AMM's name (prefixes the queue holder, tags events).
    ledger, events
        The world's ledger and event log.
    pool_holder
        Ledger holder of the pool's USDC.
    quote_asset, lp_asset
        Symbols of the pool's cash and of the share token (registered here).
    """

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        events: EventLog,
        *,
        pool_holder: int,
        quote_asset: str,
        lp_asset: str,
    ) -> None:
        if lp_asset in ledger.assets and ledger.supply(ledger.asset_id(lp_asset)):
            raise ValueError(f"OptionsAMM.lp_asset: {lp_asset!r} is already in use")
        self.name = name
        self._ledger = ledger
        self._events = events
        self.pool_holder = pool_holder
        self.queue_holder = ledger.open_holder(f"{name}:lp-queue")
        self.quote_asset = quote_asset
        self.lp_asset = lp_asset
        self._quote_id = ledger.asset_id(quote_asset)
        self._lp_id = ledger.add_asset(lp_asset)
        self.deposits: deque[QueuedRequest] = deque()
        self.withdrawals: deque[QueuedRequest] = deque()
        self.withdrawal_fees_total_usd = 0.0

    # ------------------------------------------------------------------ reads
    @property
    def share_supply(self) -> float:
        """Shares outstanding, queued withdrawals included."""
        return self._ledger.supply(self._lp_id)

    def share_price(self, nav_usd: float) -> float:
        """USD value of one share at pool NAV ``nav_usd`` (1.0 before any share exists)."""
        supply = self.share_supply
        return nav_usd / supply if supply > _SHARE_DUST else 1.0

    def shares_of(self, holder: int) -> float:
        """Shares in ``holder``'s wallet (queued withdrawals excluded)."""
        return self._ledger.balance(holder, self._lp_id)

    @property
    def queued_deposits_usd(self) -> float:
        """USDC waiting in the deposit queue."""
        return math.fsum(r.amount for r in self.deposits)

    @property
    def queued_withdrawal_shares(self) -> float:
        """Shares waiting in the withdrawal queue."""
        return math.fsum(r.amount for r in self.withdrawals)

    # ------------------------------------------------------------------ requests
    @staticmethod
    def _check(where: str, amount: float) -> None:
        if not math.isfinite(amount):
            raise ValueError(f"OptionsAMM.{where}: amount must be finite, got {amount!r}")

    def seed(self, holder: int, amount_usd: float, nav_usd: float) -> TxStatus:
        """Deposit at once at the current share price (1 USD per share in an empty pool)."""
        self._check("seed", amount_usd)
        if amount_usd <= 0.0:
            return TxStatus.INVALID_AMOUNT
        if self._ledger.balance(holder, self._quote_id) < amount_usd:
            return TxStatus.INSUFFICIENT_BALANCE
        price = self.share_price(nav_usd)
        if not price > 0.0:
            return TxStatus.INSUFFICIENT_LIQUIDITY
        moved = self._ledger.transfer(holder, self.pool_holder, self._quote_id, amount_usd)
        self._mint(holder, moved, price)
        return TxStatus.OK

    def request_deposit(self, holder: int, amount_usd: float, ready_step: int) -> TxStatus:
        """Move ``amount_usd`` into the queue; it is executed from ``ready_step`` on."""
        self._check("request_deposit", amount_usd)
        if amount_usd <= 0.0:
            return TxStatus.INVALID_AMOUNT
        if self._ledger.balance(holder, self._quote_id) < amount_usd:
            return TxStatus.INSUFFICIENT_BALANCE
        moved = self._ledger.transfer(holder, self.queue_holder, self._quote_id, amount_usd)
        self.deposits.append(QueuedRequest(holder, moved, ready_step))
        return TxStatus.QUEUED

    def request_withdrawal(self, holder: int, shares: float, ready_step: int) -> TxStatus:
        """Escrow ``shares`` in the queue; they are redeemed from ``ready_step`` on."""
        self._check("request_withdrawal", shares)
        if shares <= 0.0:
            return TxStatus.INVALID_AMOUNT
        if self._ledger.balance(holder, self._lp_id) < shares:
            return TxStatus.INSUFFICIENT_BALANCE
        moved = self._ledger.transfer(holder, self.queue_holder, self._lp_id, shares)
        self.withdrawals.append(QueuedRequest(holder, moved, ready_step))
        return TxStatus.QUEUED

    # ------------------------------------------------------------------ processing
    def process(
        self,
        step: int,
        *,
        nav_fn: Callable[[], float],
        burnable_fn: Callable[[], float],
        withdrawal_fee_frac: float,
    ) -> None:
        """Execute every ready request, oldest first, each at the share price of its moment.

        ``nav_fn()`` is the pool NAV (queued deposits excluded) and ``burnable_fn()`` the USDC a
        withdrawal may take; both are re-read after every executed request. Nothing is executed
        while NAV <= 0 (a share price of zero would mint unbounded shares).
        """
        while self.deposits and self.deposits[0].ready_step <= step:
            price = self.share_price(nav_fn())
            if not price > 0.0:
                return
            req = self.deposits.popleft()
            moved = self._ledger.transfer(
                self.queue_holder, self.pool_holder, self._quote_id, req.amount
            )
            self._mint(req.holder, moved, price)
        while self.withdrawals and self.withdrawals[0].ready_step <= step:
            price = self.share_price(nav_fn())
            if not price > 0.0:
                return
            req = self.withdrawals[0]
            net_price = price * (1.0 - withdrawal_fee_frac)
            burnable = max(burnable_fn(), 0.0)
            shares = min(req.amount, burnable / net_price)
            if shares <= _SHARE_DUST:
                return
            paid = shares * net_price
            self._ledger.burn(self.queue_holder, self._lp_id, shares, f"{self.name}:withdraw")
            self._ledger.transfer(self.pool_holder, req.holder, self._quote_id, paid)
            self.withdrawal_fees_total_usd += shares * price - paid
            self._events.record(
                EventKind.LP_WITHDRAWAL,
                self.name,
                account=req.holder,
                asset=self.quote_asset,
                amount=paid,
                value_usd=paid,
                detail=f"shares={shares:.10g} share_price_usd={price:.10g}",
            )
            req.amount -= shares
            if req.amount > _SHARE_DUST * max(1.0, shares):
                return  # partially paid: the rest waits for liquidity, at the head of the queue
            if req.amount > 0.0:  # float dust of shares left in escrow
                self._ledger.burn(self.queue_holder, self._lp_id, req.amount, "dust")
            self.withdrawals.popleft()

    def _mint(self, holder: int, amount_usd: float, price: float) -> None:
        shares = amount_usd / price
        self._ledger.mint(holder, self._lp_id, shares, f"{self.name}:deposit")
        self._events.record(
            EventKind.LP_DEPOSIT,
            self.name,
            account=holder,
            asset=self.quote_asset,
            amount=amount_usd,
            value_usd=amount_usd,
            detail=f"shares={shares:.10g} share_price_usd={price:.10g}",
        )


class CircuitBreaker:
    """Lyra's ``CBTimestamp``: the LP queue waits while ``step < until_step``.

    Each crossed threshold extends it: ``until = max(until, now + timeout)``; a threshold that
    stays crossed keeps extending it, and a breaker counts as a new *trip* (``trips[name] += 1``
    and a ``BREAKER_TRIP`` event) only when it was not crossed at the previous update.
    """

    def __init__(self, name: str, events: EventLog, *, step_seconds: int, start_step: int) -> None:
        self.name = name
        self._events = events
        self._step_seconds = step_seconds
        self.until_step = start_step
        self.trips: dict[str, int] = dict.fromkeys(BREAKER_NAMES, 0)
        self._crossed: set[str] = set()

    def active(self, step: int) -> bool:
        """Whether the LP queue is blocked at ``step``."""
        return step < self.until_step

    def update(self, step: int, crossed: dict[str, float]) -> None:
        """Apply the breakers crossed now (``{name: timeout seconds}``)."""
        for name, seconds in crossed.items():
            self.trip(step, name, seconds, count=name not in self._crossed)
        self._crossed = set(crossed)

    def trip(self, step: int, name: str, seconds: float, *, count: bool = True) -> None:
        """Block the queue for ``seconds`` from ``step`` (no effect if ``seconds <= 0``)."""
        if not seconds > 0.0:
            return
        until = step + math.ceil(seconds / self._step_seconds)
        self.until_step = max(self.until_step, until)
        if count:
            self.trips[name] += 1
            self._events.record(
                EventKind.BREAKER_TRIP,
                self.name,
                detail=f"{name} until_step={self.until_step}",
            )
