"""An Aave-v3-style lending market: one debt asset (USDC), several collateral assets (DOMAIN.md A5).

Tokens sit at two ledger holders: ``"<name>:pool"`` (supplied cash and all collateral) and
``"<name>:treasury"`` (reserve-factor shares and liquidation protocol fees). Claims live in arrays:
``collateral[n, k]`` and ``scaled_debt[n]`` (debt = scaled debt x borrow index). Suppliers hold the
receipt token ``a<debt asset>`` as *scaled shares* (value = shares x liquidity index).

Invariant: pool cash + total debt == receipt-share supply x liquidity index (to float tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from protocols import lending_liquidation, lending_pool
from protocols.events import EventLog
from protocols.ledger import Ledger, LedgerError
from protocols.lending_liquidation import _REL_TOL, LiquidationResult, _check_amount
from protocols.lending_params import LendingParams
from protocols.margin.lending_kernels import (
    available_borrows_usd,
    find_liquidatable,
    health_factors,
)
from protocols.types import FixedPrice, PriceFeed, TxStatus

__all__ = ["LendingMarket", "LiquidationResult"]


class LendingMarket:
    """A pooled lending market with Aave v3.3 liquidation rules.

    Parameters
    ----------
    name
        Protocol name; also prefixes its ledger holders.
    ledger, events
        The world's ledger and event log.
    oracles
        Price feed per asset symbol; every collateral asset needs one. The debt asset defaults to
        ``FixedPrice(1.0)`` when absent.
    params
        :class:`~protocols.lending_params.LendingParams`.
    step_seconds
        Seconds per simulation step (interest accrues per step).
    receipt_asset
        Ledger symbol of the supply receipt token; default ``"a" + debt_asset``.
    """

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        events: EventLog,
        *,
        oracles: Mapping[str, PriceFeed],
        params: LendingParams,
        step_seconds: int,
        receipt_asset: str | None = None,
    ) -> None:
        if not isinstance(params, LendingParams):
            raise ValueError(f"LendingMarket.params: must be LendingParams, got {params!r}")
        if step_seconds <= 0:
            raise ValueError(f"LendingMarket.step_seconds: must be > 0, got {step_seconds!r}")
        missing = [a for a in params.collateral_assets if a not in oracles]
        if missing:
            raise ValueError(f"LendingMarket.oracles: must price all collateral, missing {missing}")
        self.name = name
        self.ledger = ledger
        self.events = events
        self.step_seconds = int(step_seconds)
        self._debt_aid = ledger.asset_id(params.debt_asset)
        self._coll_aids = tuple(ledger.asset_id(a) for a in params.collateral_assets)
        self.receipt_asset = receipt = receipt_asset or f"a{params.debt_asset}"
        if receipt in ledger.assets and ledger.supply(ledger.asset_id(receipt)):
            raise ValueError(f"LendingMarket.receipt_asset: {receipt!r} is already in use")
        self._receipt_aid = ledger.add_asset(receipt)
        self.pool_holder = ledger.open_holder(f"{name}:pool")
        self.treasury_holder = ledger.open_holder(f"{name}:treasury")
        self._feeds = tuple(oracles[a] for a in params.collateral_assets)
        self._debt_feed = oracles.get(params.debt_asset, FixedPrice(1.0))
        self._coll_index = {a: j for j, a in enumerate(params.collateral_assets)}
        k, cap = len(params.collateral), 64
        self._collateral = np.zeros((cap, k))
        self._scaled_debt = np.zeros(cap)
        self._owner = np.zeros(cap, dtype=np.int64)
        self._n = 0
        self._borrow_index = 1.0
        self._liquidity_index = 1.0
        self._total_scaled_debt = 0.0
        self._last_step = 0
        self.bad_debt_total = 0.0  # cumulative USD written off
        self.deficit_socialised_total = 0.0  # cumulative USD passed to suppliers (index cut)
        self.liquidation_volume_total_usd = 0.0  # cumulative USD of debt repaid by liquidators
        self._params = params
        self._cache_params()

    # ------------------------------------------------------------------ params
    @property
    def params(self) -> LendingParams:
        """Current parameters; assign a new :class:`LendingParams` to recalibrate."""
        return self._params

    @params.setter
    def params(self, new: LendingParams) -> None:
        if not isinstance(new, LendingParams):
            raise ValueError(f"LendingMarket.params: must be LendingParams, got {new!r}")
        if (new.debt_asset, new.collateral_assets) != (
            self._params.debt_asset,
            self._params.collateral_assets,
        ):
            raise ValueError(
                "LendingMarket.params: debt_asset and collateral assets (and order) must not change"
            )
        self._params = new
        self._cache_params()

    def _cache_params(self) -> None:
        p = self._params
        self._lt = np.array([c.liquidation_threshold for c in p.collateral])
        self._ltv_eff = np.array([c.ltv * p.ltv_scale for c in p.collateral])

    # ------------------------------------------------------------------ accounts
    def open_account(self, owner_holder: int) -> int:
        """Open an empty account owned by a ledger holder; returns the account id."""
        if not 0 <= owner_holder < self.ledger.n_holders:
            raise ValueError(f"owner_holder: must be a ledger holder id, got {owner_holder!r}")
        if self._n == self._scaled_debt.shape[0]:
            cap = 2 * self._n
            self._collateral = np.concatenate([self._collateral, np.zeros_like(self._collateral)])
            self._scaled_debt = np.concatenate([self._scaled_debt, np.zeros(cap - self._n)])
            self._owner = np.concatenate([self._owner, np.zeros(cap - self._n, dtype=np.int64)])
        a = self._n
        self._owner[a] = owner_holder
        self._n += 1
        return a

    @property
    def n_accounts(self) -> int:
        """Number of accounts opened."""
        return self._n

    def owner_of(self, account: int) -> int:
        """Ledger holder that owns ``account``."""
        return int(self._owner[account])

    def _valid(self, account: int) -> bool:
        return 0 <= account < self._n

    def _col(self, asset: str) -> int:
        try:
            return self._coll_index[asset]
        except KeyError:
            raise ValueError(
                f"asset: must be a collateral asset {tuple(self._coll_index)}, got {asset!r}"
            ) from None

    # ------------------------------------------------------------------ prices and reads
    def _prices(self) -> np.ndarray:
        return np.array([f.price_usd for f in self._feeds])

    def _debt_price(self) -> float:
        return float(self._debt_feed.price_usd)

    def collateral_of(self, account: int, asset: str) -> float:
        """Collateral of ``asset`` held by ``account`` (token units)."""
        return float(self._collateral[account, self._col(asset)])

    def debt_of(self, account: int) -> float:
        """Debt of ``account`` in debt-asset units (interest included)."""
        return float(self._scaled_debt[account] * self._borrow_index)

    def debts(self) -> np.ndarray:
        """Debt of every account, in units of the debt asset."""
        return self._scaled_debt[: self._n] * self._borrow_index

    def account_value_usd(self, account: int) -> tuple[float, float]:
        """``(collateral_usd, debt_usd)`` of one account at oracle prices."""
        coll_usd = float(self._collateral[account] @ self._prices())
        return coll_usd, self.debt_of(account) * self._debt_price()

    def _kernel_args(self, rows: slice, thresholds: np.ndarray) -> tuple:
        """(collateral, prices, thresholds, scaled debt, debt unit price) for the kernels."""
        return (
            self._collateral[rows],
            self._prices(),
            thresholds,
            self._scaled_debt[rows],
            self._borrow_index * self._debt_price(),
        )

    def health_factors(self) -> np.ndarray:
        """Health factor of every account (``inf`` where there is no debt), one kernel call."""
        return health_factors(*self._kernel_args(slice(0, self._n), self._lt))

    def health_factor(self, account: int) -> float:
        """Health factor of one account."""
        return float(health_factors(*self._kernel_args(slice(account, account + 1), self._lt))[0])

    def available_borrows_usd(self) -> np.ndarray:
        """Borrowing capacity left to every account (USD, LTV x ltv_scale), one kernel call."""
        return available_borrows_usd(*self._kernel_args(slice(0, self._n), self._ltv_eff))

    def liquidatable_accounts(self) -> np.ndarray:
        """Ids of the accounts with ``HF < 1`` (ascending), one kernel call."""
        return find_liquidatable(*self._kernel_args(slice(0, self._n), self._lt))

    # ------------------------------------------------------------------ pool state
    @property
    def available_liquidity(self) -> float:
        """Debt-asset cash in the pool."""
        return self.ledger.balance(self.pool_holder, self._debt_aid)

    @property
    def total_debt(self) -> float:
        """Total borrowed, interest included (debt-asset units)."""
        return self._total_scaled_debt * self._borrow_index

    @property
    def total_shares(self) -> float:
        """Receipt shares outstanding (suppliers and treasury)."""
        return self.ledger.supply(self._receipt_aid)

    @property
    def total_supplied(self) -> float:
        """Suppliers' claim: shares x liquidity index (debt-asset units)."""
        return self.total_shares * self._liquidity_index

    @property
    def utilisation(self) -> float:
        """Total debt / (cash + total debt); 0 for an empty pool."""
        debt = self.total_debt
        denom = self.available_liquidity + debt
        return debt / denom if denom > 0.0 else 0.0

    @property
    def borrow_rate_per_year(self) -> float:
        """Current borrow rate from the kinked curve."""
        return self._params.rate.borrow_rate_per_year(self.utilisation)

    @property
    def supply_rate_per_year(self) -> float:
        """Current supply rate: borrow rate x utilisation x (1 - reserve factor)."""
        u = self.utilisation
        return self._params.rate.borrow_rate_per_year(u) * u * (1.0 - self._params.reserve_factor)

    @property
    def liquidity_index(self) -> float:
        """Debt-asset units per receipt share."""
        return self._liquidity_index

    @property
    def borrow_index(self) -> float:
        """Debt-asset units per unit of scaled debt."""
        return self._borrow_index

    @property
    def share_price_usd(self) -> float:
        """USD value of one receipt share."""
        return self._liquidity_index * self._debt_price()

    @property
    def total_collateral_usd(self) -> float:
        """USD value of all collateral held by the pool."""
        bal = self.ledger.balance
        return float(
            sum(
                bal(self.pool_holder, aid) * p
                for aid, p in zip(self._coll_aids, self._prices(), strict=True)
            )
        )

    # ------------------------------------------------------------------ interest and suppliers
    def accrue(self, step: int) -> None:
        """Accrue interest up to ``step`` (see :func:`protocols.lending_pool.accrue`)."""
        lending_pool.accrue(self, step)

    def supply(self, holder: int, amount: float) -> tuple[TxStatus, float]:
        """Supply the debt asset for receipt shares (see :func:`protocols.lending_pool.supply`)."""
        return lending_pool.supply(self, holder, amount)

    def withdraw_supply(self, holder: int, shares: float) -> tuple[TxStatus, float]:
        """Redeem receipt shares (see :func:`protocols.lending_pool.withdraw_supply`)."""
        return lending_pool.withdraw_supply(self, holder, shares)

    # ------------------------------------------------------------------ borrowers
    def deposit(self, account: int, asset: str, amount: float) -> TxStatus:
        """Move ``amount`` of collateral ``asset`` from the account owner to the pool."""
        _check_amount(amount)
        j = self._col(asset)
        if not self._valid(account):
            return TxStatus.UNKNOWN_ACCOUNT
        if amount == 0.0:
            return TxStatus.INVALID_AMOUNT
        try:
            moved = self.ledger.transfer(
                int(self._owner[account]), self.pool_holder, self._coll_aids[j], amount
            )
        except LedgerError:
            return TxStatus.INSUFFICIENT_BALANCE
        self._collateral[account, j] += moved
        return TxStatus.OK

    def withdraw(self, account: int, asset: str, amount: float) -> TxStatus:
        """Return collateral to the owner (``inf`` = all) unless the HF would fall below 1."""
        _check_amount(amount, allow_inf=True)
        j = self._col(asset)
        if not self._valid(account):
            return TxStatus.UNKNOWN_ACCOUNT
        bal = float(self._collateral[account, j])
        amount = bal if math.isinf(amount) else amount
        if amount == 0.0:
            return TxStatus.INVALID_AMOUNT
        if amount > bal * (1.0 + _REL_TOL):
            return TxStatus.INSUFFICIENT_BALANCE
        amount = min(amount, bal)
        debt_usd = self.debt_of(account) * self._debt_price()
        if debt_usd > 0.0:
            prices = self._prices()
            adjusted = float(self._collateral[account] @ (prices * self._lt))
            if adjusted - amount * prices[j] * self._lt[j] < debt_usd:
                return TxStatus.HEALTH_TOO_LOW
        owner = int(self._owner[account])
        self.ledger.transfer(self.pool_holder, owner, self._coll_aids[j], amount)
        self._collateral[account, j] = 0.0 if amount == bal else bal - amount
        return TxStatus.OK

    def borrow(self, account: int, amount: float) -> TxStatus:
        """Borrow ``amount`` of the debt asset to the owner, within LTV x ltv_scale and cash."""
        _check_amount(amount)
        if not self._valid(account):
            return TxStatus.UNKNOWN_ACCOUNT
        if amount == 0.0:
            return TxStatus.INVALID_AMOUNT
        if amount > self.available_liquidity:
            return TxStatus.INSUFFICIENT_LIQUIDITY
        capacity_usd = float(self._collateral[account] @ (self._prices() * self._ltv_eff))
        if (self.debt_of(account) + amount) * self._debt_price() > capacity_usd * (1.0 + _REL_TOL):
            return TxStatus.HEALTH_TOO_LOW
        self.ledger.transfer(self.pool_holder, int(self._owner[account]), self._debt_aid, amount)
        scaled = amount / self._borrow_index
        self._scaled_debt[account] += scaled
        self._total_scaled_debt += scaled
        return TxStatus.OK

    def repay(self, account: int, amount: float) -> tuple[TxStatus, float]:
        """Repay up to ``amount`` (``inf`` = all) from the owner; returns ``(status, repaid)``."""
        _check_amount(amount, allow_inf=True)
        if not self._valid(account):
            return TxStatus.UNKNOWN_ACCOUNT, 0.0
        debt = self.debt_of(account)
        if amount == 0.0 or debt <= 0.0:
            return TxStatus.INVALID_AMOUNT, 0.0
        pay = min(amount, debt)
        try:
            paid = self.ledger.transfer(
                int(self._owner[account]), self.pool_holder, self._debt_aid, pay
            )
        except LedgerError:
            return TxStatus.INSUFFICIENT_BALANCE, 0.0
        self._reduce_debt(account, paid, debt)
        return TxStatus.OK, paid

    def _reduce_debt(self, account: int, amount: float, debt: float) -> None:
        """Remove ``amount`` of debt (all of it when within float slack of ``debt``)."""
        old = float(self._scaled_debt[account])
        if amount >= debt * (1.0 - _REL_TOL):
            new = 0.0
        else:
            new = max(old - amount / self._borrow_index, 0.0)
        self._scaled_debt[account] = new
        self._total_scaled_debt = max(self._total_scaled_debt - (old - new), 0.0)

    # ------------------------------------------------------------------ liquidation
    # Thin delegates: the rules, maths and sources live in protocols.lending_liquidation.
    def max_liquidatable_debt(self, account: int, collateral_asset: str | None = None) -> float:
        """Most debt one liquidation may repay now (close-factor rules; 0 if ``HF >= 1``)."""
        return lending_liquidation.max_liquidatable_debt(self, account, collateral_asset)

    def largest_collateral(self, account: int) -> str | None:
        """The collateral asset of ``account`` with the largest value at oracle prices, or None."""
        return lending_liquidation.largest_collateral(self, account)

    def preview_liquidation(
        self, account: int, collateral_asset: str, debt_to_cover: float
    ) -> float:
        """Collateral a liquidator would receive (after the protocol fee); changes nothing."""
        return lending_liquidation.preview_liquidation(
            self, account, collateral_asset, debt_to_cover
        )

    def liquidation_call(
        self, liquidator_holder: int, account: int, collateral_asset: str, debt_to_cover: float
    ) -> LiquidationResult:
        """Repay part of an unhealthy account's debt for its collateral plus a bonus."""
        return lending_liquidation.liquidation_call(
            self, liquidator_holder, account, collateral_asset, debt_to_cover
        )
