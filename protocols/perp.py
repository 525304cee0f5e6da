"""A centralised, cross-margined perpetual-futures exchange whose counterparty is its own vault.

Every trade fills against the exchange's liquidity vault (HLP/GLP style, ledger holder
``"<name>:vault"``), so PnL, fees and funding are zero-sum between traders and the vault. Margin
follows Binance USDⓈ-M tiers, funding the Binance formula, liquidation Hyperliquid-style partial
chunks with a clearance fee to the insurance fund, then insurance, ADL and bad debt (DOMAIN.md A4;
the engine lives in :mod:`protocols.perp_liquidation`).

Ledger holders: ``"<name>:margin"`` holds all deposited collateral (every asset), ``"<name>:vault"``
the counterparty's USDC (taker fees are paid to it), ``"<name>:insurance"`` the insurance fund.

Settlement: realised PnL, fees and funding move USDC between margin and vault. A loss larger than an
account's USDC becomes a *debit balance* (``debt_of``) owed to the vault, so the margin holder never
pays out tokens it does not hold; the account's other collateral is then sold into
``spot_venues[asset]`` to repay it (on the account's own trades and in liquidation; funding leaves
it in place, as in multi-asset margin mode). Invariant: ledger USDC at ``"<name>:margin"`` equals
the sum of the accounts' USDC collateral (likewise for every collateral asset).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.perp_kernels import account_margin
from protocols.perp_funding import apply_funding
from protocols.perp_liquidation import (
    LiquidationSummary,
    apply_fill,
    cover_debt,
    fill_position,
    repay_debt,
    run_liquidations,
    settle_cash,
    split_cash,
)
from protocols.perp_params import (
    SETTLEMENT_ASSET,
    USD_TOL,
    MarginTier,
    PerpCollateralParams,
    PerpMarketParams,
    PerpParams,
)
from protocols.types import PriceFeed, TxStatus

__all__ = [
    "LiquidationSummary",
    "MarginTier",
    "PerpCollateralParams",
    "PerpExchange",
    "PerpMarketParams",
    "PerpParams",
]


class PerpExchange:
    """Cross-margin linear perpetuals settled in USDC, one market per base asset.

    Parameters
    ----------
    name
        Protocol name; prefixes its ledger holders and tags its events.
    ledger, events
        The world's ledger and event log.
    oracles
        ``oracles[asset].price_usd`` is the index price of every market asset and the price of
        every non-USDC collateral asset (USDC defaults to 1 USD).
    params
        :class:`~protocols.perp_params.PerpParams`.
    step_seconds
        Length of one model step (funding accrues per step).
    spot_venues
        AMM-like venues (``swap(holder, asset_in, amount_in, min_amount_out=0.0)``) where non-USDC
        collateral is sold for USDC.
    flow_sink
        Called with ``(asset, signed_size_base)`` for every liquidation and ADL closing order.
    """

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        events: EventLog,
        *,
        oracles: Mapping[str, PriceFeed],
        params: PerpParams,
        step_seconds: int,
        spot_venues: Mapping[str, Any] | None = None,
        flow_sink: Callable[[str, float], None] | None = None,
    ) -> None:
        if not step_seconds > 0:
            raise ValueError(f"PerpExchange.step_seconds: must be > 0, got {step_seconds!r}")
        if not isinstance(params, PerpParams):
            raise ValueError(
                f"PerpExchange.params: must be PerpParams, got {type(params).__name__}"
            )
        self.name = name
        self._ledger = ledger
        self._events = events
        self._oracles = dict(oracles)
        for asset in (*params.market_assets, *params.collateral_assets):
            if asset != SETTLEMENT_ASSET and asset not in self._oracles:
                raise ValueError(
                    f"PerpExchange.oracles: must price {asset!r}, got {sorted(oracles)}"
                )
        self.step_seconds = int(step_seconds)
        self._spot_venues = dict(spot_venues or {})
        self._flow_sink = flow_sink
        self.margin_holder = ledger.open_holder(f"{name}:margin")
        self.vault_holder = ledger.open_holder(f"{name}:vault")
        self.insurance_holder = ledger.open_holder(f"{name}:insurance")
        self._usdc_id = ledger.asset_id(SETTLEMENT_ASSET)
        self._markets = params.market_assets
        self._coll_assets = params.collateral_assets
        self._market_col = {a: i for i, a in enumerate(self._markets)}
        self._coll_col = {a: i for i, a in enumerate(self._coll_assets)}
        self._coll_ids = [ledger.asset_id(a) for a in self._coll_assets]
        self._usdc_col = self._coll_col[SETTLEMENT_ASSET]
        n_m, n_c, cap = len(self._markets), len(self._coll_assets), 64
        self._n = 0
        self._owner = np.zeros(cap, dtype=np.int64)
        self._coll = np.zeros((cap, n_c))
        self._debt = np.zeros(cap)
        self._size = np.zeros((cap, n_m))
        self._entry = np.zeros((cap, n_m))
        self._long_base = np.zeros(n_m)
        self._short_base = np.zeros(n_m)
        self._last_step = 0
        # cumulative USD totals
        self.bad_debt_total = self.adl_volume_total = self.liquidation_volume_total = 0.0
        self.insurance_paid_total = self.fees_total = self.vault_shortfall_total = 0.0
        self.params = params

    # ------------------------------------------------------------------ params
    @property
    def params(self) -> PerpParams:
        """Current parameters; assigning a new :class:`PerpParams` recalibrates."""
        return self._params

    @params.setter
    def params(self, params: PerpParams) -> None:
        if not isinstance(params, PerpParams):
            raise ValueError(
                f"PerpExchange.params: must be PerpParams, got {type(params).__name__}"
            )
        if params.market_assets != self._markets or params.collateral_assets != self._coll_assets:
            raise ValueError(
                "PerpExchange.params: must keep the same markets and collateral assets, got "
                f"{params.market_assets} / {params.collateral_assets}"
            )
        self._params = params
        self._tiers = params.tier_arrays()
        self._fee_frac = np.array([m.taker_fee_frac for m in params.markets])
        self._skew_scale = np.array([m.skew_scale_usd for m in params.markets])
        self._max_premium = np.array([m.max_premium_frac for m in params.markets])
        self._haircut = np.array([c.haircut for c in params.collateral])

    # ------------------------------------------------------------------ prices
    def index_price(self, asset: str) -> float:
        """Oracle (index) price of a market's base asset, USD."""
        return float(self._oracles[asset].price_usd)

    def _index_prices(self) -> np.ndarray:
        return np.array([self._oracles[a].price_usd for a in self._markets], dtype=np.float64)

    def _premium(self, index: np.ndarray, net_base: np.ndarray) -> np.ndarray:
        return np.clip(net_base * index / self._skew_scale, -self._max_premium, self._max_premium)

    def _marks(self) -> np.ndarray:
        index = self._index_prices()
        return index * (1.0 + self._premium(index, self._long_base - self._short_base))

    def mark_price(self, asset: str) -> float:
        """Mark price, USD: ``index * (1 + clamp(net OI USD / skew scale, +-max premium))``."""
        return float(self._marks()[self._market_col[asset]])

    def funding_rate_8h(self, asset: str) -> float:
        """Current funding rate per funding interval (positive: longs pay shorts).

        Notes
        -----
        Binance: ``F = P + clamp(I - P, -c, +c)`` with premium index ``P = mark / index - 1``,
        interest ``I`` and clamp ``c`` from the params.
        """
        index = self._index_prices()
        premium = self._premium(index, self._long_base - self._short_base)
        return float(self._funding_rates(premium)[self._market_col[asset]])

    def _funding_rates(self, premium: np.ndarray) -> np.ndarray:
        p = self._params
        interest = p.interest_rate_per_interval
        return premium + np.clip(interest - premium, -p.funding_clamp, p.funding_clamp)

    def _collateral_value(self) -> np.ndarray:
        """USD value per unit of each collateral asset after haircut (USDC at 1 without oracle)."""
        feeds = self._oracles
        prices = [feeds[a].price_usd if a in feeds else 1.0 for a in self._coll_assets]
        return np.array(prices, dtype=np.float64) * self._haircut

    # ------------------------------------------------------------------ accounts
    def open_account(self, owner_holder: int) -> int:
        """Open a margin account owned by a ledger holder; returns its id."""
        if not 0 <= owner_holder < self._ledger.n_holders:
            raise ValueError(f"PerpExchange.open_account: unknown holder {owner_holder!r}")
        if self._n == self._owner.shape[0]:
            self._grow()
        a = self._n
        self._owner[a] = owner_holder
        self._n += 1
        return a

    def _grow(self) -> None:
        for name in ("_owner", "_coll", "_debt", "_size", "_entry"):
            arr = getattr(self, name)
            out = np.zeros((2 * arr.shape[0], *arr.shape[1:]), dtype=arr.dtype)
            out[: arr.shape[0]] = arr
            setattr(self, name, out)

    @property
    def n_accounts(self) -> int:
        """Number of open accounts."""
        return self._n

    def owner_of(self, account: int) -> int:
        """Ledger holder that owns an account."""
        return int(self._owner[account])

    def collateral_of(self, account: int, asset: str) -> float:
        """Collateral of one asset in an account (token units)."""
        return float(self._coll[account, self._coll_col[asset]])

    def debt_of(self, account: int) -> float:
        """Debit balance (USDC owed to the vault) of an account."""
        return float(self._debt[account])

    def position(self, account: int, asset: str) -> tuple[float, float]:
        """``(size_base, entry_price_usd)`` of an account in a market (0, 0 when flat)."""
        m = self._market_col[asset]
        return float(self._size[account, m]), float(self._entry[account, m])

    def _collateral_col(
        self, where: str, account: int, asset: str, amount: float
    ) -> tuple[int, TxStatus]:
        """Column of ``asset`` and OK, or -1 and the status the call must return."""
        if not (math.isfinite(amount) and amount >= 0.0):
            raise ValueError(
                f"PerpExchange.{where}: amount must be finite and >= 0, got {amount!r}"
            )
        if asset not in self._coll_col:
            raise ValueError(
                f"PerpExchange.{where}: asset must be one of {self._coll_assets}, got {asset!r}"
            )
        if not 0 <= account < self._n:
            return -1, TxStatus.UNKNOWN_ACCOUNT
        if amount == 0.0:
            return -1, TxStatus.INVALID_AMOUNT
        return self._coll_col[asset], TxStatus.OK

    def deposit(self, account: int, asset: str, amount: float) -> TxStatus:
        """Move collateral from the owner's wallet into the account (USDC first repays debt)."""
        col, status = self._collateral_col("deposit", account, asset, amount)
        if status != TxStatus.OK:
            return status
        owner = int(self._owner[account])
        if self._ledger.balance(owner, self._coll_ids[col]) < amount:
            return TxStatus.INSUFFICIENT_BALANCE
        moved = self._ledger.transfer(owner, self.margin_holder, self._coll_ids[col], amount)
        self._coll[account, col] += moved
        if col == self._usdc_col:
            repay_debt(self, account)
        return TxStatus.OK

    def withdraw(self, account: int, asset: str, amount: float) -> TxStatus:
        """Return collateral to the owner if equity stays >= initial margin (and >= 0)."""
        col, status = self._collateral_col("withdraw", account, asset, amount)
        if status != TxStatus.OK:
            return status
        have = self._coll[account, col]
        if amount > have * (1.0 + 1e-12) + 1e-12:
            return TxStatus.INSUFFICIENT_BALANCE
        amount = min(amount, have)
        equity, _, initial, _ = self._account_state(account)
        if equity - amount * self._collateral_value()[col] < initial - USD_TOL:
            return TxStatus.HEALTH_TOO_LOW
        moved = self._ledger.transfer(
            self.margin_holder, int(self._owner[account]), self._coll_ids[col], amount
        )
        self._coll[account, col] -= moved
        return TxStatus.OK

    def seed_vault(self, holder: int, amount_usdc: float) -> TxStatus:
        """Fund the vault (the exchange's counterparty) with USDC from ``holder``."""
        return self._seed(holder, self.vault_holder, amount_usdc)

    def seed_insurance(self, holder: int, amount_usdc: float) -> TxStatus:
        """Fund the insurance fund with USDC from ``holder``."""
        return self._seed(holder, self.insurance_holder, amount_usdc)

    def _seed(self, holder: int, dst: int, amount: float) -> TxStatus:
        if not (math.isfinite(amount) and amount >= 0.0):
            raise ValueError(f"PerpExchange.seed: amount must be finite and >= 0, got {amount!r}")
        if self._ledger.balance(holder, self._usdc_id) < amount:
            return TxStatus.INSUFFICIENT_BALANCE
        self._ledger.transfer(holder, dst, self._usdc_id, amount)
        return TxStatus.OK

    # ------------------------------------------------------------------ trading
    def trade(
        self, account: int, market_asset: str, size_delta_base: float
    ) -> tuple[TxStatus, float]:
        """Buy (+) or sell (-) ``size_delta_base`` against the vault.

        Returns ``(status, fill_price_usd)``. The fill is at the average of the pre- and post-trade
        premium (Synthetix-style skew pricing); the taker fee goes to the vault. A trade that grows
        the position (or flips it) must leave equity >= initial margin at the post-trade marks;
        a pure reduction is always allowed. Realised PnL settles in USDC at once.
        """
        m = self._market_col.get(market_asset)
        if m is None:
            raise ValueError(
                f"PerpExchange.trade: market must be one of {self._markets}, got {market_asset!r}"
            )
        if not math.isfinite(size_delta_base):
            raise ValueError(
                f"PerpExchange.trade: size_delta_base must be finite, got {size_delta_base!r}"
            )
        if not 0 <= account < self._n:
            return TxStatus.UNKNOWN_ACCOUNT, 0.0
        if size_delta_base == 0.0:
            return TxStatus.INVALID_AMOUNT, 0.0
        index = self._index_prices()
        net = self._long_base - self._short_base
        before = self._premium(index, net)[m]
        net[m] += size_delta_base
        after = self._premium(index, net)
        fill = float(index[m] * (1.0 + 0.5 * (before + after[m])))
        size, entry = float(self._size[account, m]), float(self._entry[account, m])
        new_size, new_entry, realised = fill_position(size, entry, size_delta_base, fill)
        fee = abs(size_delta_base) * fill * self._fee_frac[m]
        cash = realised - fee
        usdc, debt = float(self._coll[account, self._usdc_col]), float(self._debt[account])
        if cash - debt > self.vault_usd + USD_TOL:
            return TxStatus.INSUFFICIENT_LIQUIDITY, fill
        if abs(new_size) > abs(size) or new_size * size < 0.0:
            coll = self._coll[account : account + 1].copy()
            sizes = self._size[account : account + 1].copy()
            entries = self._entry[account : account + 1].copy()
            sizes[0, m], entries[0, m] = new_size, new_entry
            coll[0, self._usdc_col], debt_after = split_cash(usdc, debt, cash)
            equity, _, initial, _ = account_margin(
                coll,
                self._collateral_value(),
                np.array([debt_after]),
                sizes,
                entries,
                index * (1.0 + after),
                *self._tiers,
            )
            if equity[0] < initial[0]:
                return TxStatus.HEALTH_TOO_LOW, fill
        apply_fill(self, account, m, size_delta_base, fill)
        self.fees_total += fee
        settle_cash(self, account, cash)
        cover_debt(self, account)
        return TxStatus.OK, fill

    # ------------------------------------------------------------------ settlement
    @property
    def vault_usd(self) -> float:
        """USDC held by the vault."""
        return self._ledger.balance(self.vault_holder, self._usdc_id)

    @property
    def insurance_fund_usd(self) -> float:
        """USDC held by the insurance fund."""
        return self._ledger.balance(self.insurance_holder, self._usdc_id)

    # ------------------------------------------------------------------ per-step work
    def accrue(self, step: int) -> None:
        """Charge funding for the steps since the last call (:func:`apply_funding`)."""
        apply_funding(self, step)

    def _margin_arrays(self, rows: slice | None = None) -> tuple[np.ndarray, ...]:
        """``(equity, maintenance, initial, notional)`` USD arrays of ``rows`` (default: all)."""
        r = slice(0, self._n) if rows is None else rows
        return account_margin(
            self._coll[r],
            self._collateral_value(),
            self._debt[r],
            self._size[r],
            self._entry[r],
            self._marks(),
            *self._tiers,
        )

    def _account_state(self, account: int) -> tuple[float, float, float, float]:
        """``(equity, maintenance, initial, notional)`` of one account, USD."""
        eq, mm, im, nt = self._margin_arrays(slice(account, account + 1))
        return float(eq[0]), float(mm[0]), float(im[0]), float(nt[0])

    def account_equity_usd(self, account: int) -> float:
        """Equity of one account at the marks (haircut collateral - debt + unrealised PnL), USD."""
        return self._account_state(account)[0]

    def margin_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(equity_usd, maintenance_usd, initial_usd)`` of every account (one kernel call)."""
        equity, maintenance, initial, _ = self._margin_arrays()
        return equity, maintenance, initial

    def health(self) -> np.ndarray:
        """Equity / maintenance margin per account (``inf`` where no maintenance is required)."""
        equity, maintenance, _, _ = self._margin_arrays()
        out = np.full(equity.shape, np.inf)
        np.divide(equity, maintenance, out=out, where=maintenance > 0.0)
        return out

    def open_interest_usd(self, asset: str) -> tuple[float, float]:
        """``(long, short)`` open interest of a market at the mark price, USD (both >= 0)."""
        m = self._market_col[asset]
        mark = self._marks()[m]
        return float(self._long_base[m] * mark), float(self._short_base[m] * mark)

    def liquidate(self) -> LiquidationSummary:
        """Run the exchange's liquidation engine once (see :mod:`protocols.perp_liquidation`)."""
        return run_liquidations(self)
