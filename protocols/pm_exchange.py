"""A CEX-style cross-margin options exchange (Deribit-like, USDC-margined): one underlying.

Accounts hold listed options (:class:`~protocols.option_series.SeriesTable`), one delta-one
perpetual (:data:`PERP`) and USDC in one portfolio, margined per account by Deribit's standard
rules (USD variant) or scenario-grid portfolio margin (:class:`MarginMode`). Trades are bilateral
at a price the two sides agree; the venue checks margin, moves cash and charges fees. Marks and
margin: :mod:`protocols.pm_book`; clearing and liquidation: :mod:`protocols.pm_liquidation`.

Ledger holders: ``"<name>:acct:<i>"`` holds account ``i``'s USDC (its *cash*), ``"<name>:clearing"``
the clearing pool, ``"<name>:insurance"`` the insurance fund, ``"<name>:fees"`` the fees. Account 0
is the venue's backstop (owned by ``"<name>:backstop"``), which takes liquidated positions.

Cash: option premium and fees move at once between ledger holders; perpetual PnL and option
expiry payoffs are settled every step through the clearing pool, and what an account cannot pay
stays a claim (``pending_usd``) that counts in equity (:mod:`protocols.pm_liquidation`). No
funding on the perpetual (it tracks the oracle exactly) and zero interest rates, by assumption.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.surface import VolSurface
from protocols.option_series import SeriesTable
from protocols.pm_book import (
    InstrumentRows,
    PmBook,
    PmMarginState,
    book_greeks,
    book_margin,
    instrument_rows,
    stacked_margin,
    trade_allowed,
)
from protocols.pm_liquidation import clear_step, run_liquidations
from protocols.pm_params import (
    PERP,
    TOL_USD,
    LiquidationMode,
    MarginMode,
    PmExchangeParams,
    PmLiquidationSummary,
    as_margin_mode,
)
from protocols.types import PriceFeed, TxStatus

__all__ = [
    "PERP",
    "LiquidationMode",
    "MarginMode",
    "PmExchangeParams",
    "PmLiquidationSummary",
    "PmMarginState",
    "PortfolioMarginExchange",
]


class PortfolioMarginExchange:
    """Options and a perpetual on ``asset``, cross-margined in USDC (module docstring).

    Parameters
    ----------
    name, asset
        Protocol name (prefixes ledger holders, tags events); underlying symbol (``"ETH"``).
    ledger, events
        The world's ledger (must know ``quote_asset``, the settlement asset) and event log.
    oracle
        ``oracle.price_usd``: index and forward price of the underlying.
    surface
        Implied-vol surface of the marks (e.g. ``deribit_marks.default_surface("ETH")``).
    params, step_seconds
        :class:`PmExchangeParams`; length of one model step.
    """

    PERP = PERP

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        events: EventLog,
        *,
        asset: str,
        oracle: PriceFeed,
        surface: VolSurface,
        params: PmExchangeParams,
        step_seconds: int,
        quote_asset: str = "USDC",
    ) -> None:
        cls = type(self).__name__
        if type(step_seconds) not in (int, np.int64) or step_seconds <= 0:
            raise ValueError(f"{cls}.step_seconds: must be an int > 0, got {step_seconds!r}")
        self.name, self.asset = name, asset
        self._ledger, self._events, self._oracle = ledger, events, oracle
        self.surface = surface
        self._usdc = ledger.asset_id(quote_asset)
        self.quote_asset = quote_asset
        self.step_seconds = int(step_seconds)
        self.step = 0
        self.clearing_holder = ledger.open_holder(f"{name}:clearing")
        self.insurance_holder = ledger.open_holder(f"{name}:insurance")
        self.fee_holder = ledger.open_holder(f"{name}:fees")
        self.series = SeriesTable(params.listing, step_seconds=self.step_seconds)
        self.params = params
        self.series.list_all(0, self.index_price())
        self.book = PmBook(1 + self.series.n_series)
        # cumulative USD totals
        self.fees_total = self.bad_debt_total = self.insurance_paid_total = 0.0
        self.adl_volume_total = self.liquidation_volume_total = self.penalty_total = 0.0
        self.auction_discount_total = self.settlement_paid_total = self.socialised_total = 0.0
        self.unbacked_usd = 0.0
        # (account, MM before, MM after) of every round of the last liquidate() call
        self.last_liquidation_trace: list[tuple[int, float, float]] = []
        backstop_owner = ledger.open_holder(f"{name}:backstop")
        self.backstop_account = self.open_account(backstop_owner, MarginMode.PORTFOLIO)

    # ------------------------------------------------------------------ params and prices
    @property
    def params(self) -> PmExchangeParams:
        """Current parameters; assigning a new :class:`PmExchangeParams` recalibrates."""
        return self._params

    @params.setter
    def params(self, params: PmExchangeParams) -> None:
        if not isinstance(params, PmExchangeParams):
            raise ValueError(
                f"{type(self).__name__}.params: must be PmExchangeParams, "
                f"got {type(params).__name__}"
            )
        self._params = params
        self.series.params = params.listing  # applies to boards listed from now on

    @property
    def surface(self) -> VolSurface:
        """Implied-vol surface of the marks; assigning a new one re-marks every option."""
        return self._surface

    @surface.setter
    def surface(self, surface: VolSurface) -> None:
        if not isinstance(surface, VolSurface):
            raise ValueError(
                f"{type(self).__name__}.surface: must be a VolSurface, got {type(surface).__name__}"
            )
        self._surface = surface

    def index_price(self) -> float:
        """Oracle price of the underlying, USD (the forward of every option and the perp mark)."""
        s = float(self._oracle.price_usd)
        if not (math.isfinite(s) and s > 0.0):
            raise ValueError(f"{type(self).__name__}.oracle: price must be > 0, got {s!r}")
        return s

    def _col(self, instrument: int, where: str) -> int:
        if instrument == PERP:
            return 0
        if isinstance(instrument, bool) or not 0 <= instrument < self.series.n_series:
            raise ValueError(
                f"{type(self).__name__}.{where}.instrument: must be PERP (-1) or a series id in "
                f"[0, {self.series.n_series}), got {instrument!r}"
            )
        return int(instrument) + 1

    def _rows(self, cols: np.ndarray) -> InstrumentRows:
        return instrument_rows(cols, self.series, self._surface, self.index_price(), self.step)

    def mark_price(self, instrument: int) -> float:
        """Mark of an instrument, USD per coin (options: Black-76 on the surface; perp: oracle)."""
        return float(self._rows(np.array([self._col(instrument, "mark_price")])).mark_usd[0])

    def mark_vol(self, series_id: int) -> float:
        """Surface vol of an option series at the current oracle price and step (perp: 0)."""
        return float(self._rows(np.array([self._col(series_id, "mark_vol")])).iv[0])

    # ------------------------------------------------------------------ accounts and cash
    def open_account(self, owner_holder: int, mode: MarginMode | None = None) -> int:
        """Open an account owned by ledger holder ``owner_holder``; returns its id."""
        if not 0 <= owner_holder < self._ledger.n_holders:
            msg = f"must be a ledger holder, got {owner_holder!r}"
            raise ValueError(f"{type(self).__name__}.open_account.owner_holder: {msg}")
        where = f"{type(self).__name__}.open_account.mode"
        mode = self._params.default_mode if mode is None else as_margin_mode(mode, where)
        holder = self._ledger.open_holder(f"{self.name}:acct:{self.book.n_accounts}")
        return self.book.add_account(mode, holder, owner_holder)

    @property
    def n_accounts(self) -> int:
        """Number of accounts (the backstop included)."""
        return self.book.n_accounts

    def _known(self, account: int) -> bool:
        return 0 <= account < self.book.n_accounts

    def owner_of(self, account: int) -> int:
        """Ledger holder that owns ``account``."""
        return int(self.book.owner[account])

    def mode_of(self, account: int) -> MarginMode:
        """Margin mode of ``account``."""
        return MarginMode(int(self.book.mode[account]))

    def cash_usd(self, account: int) -> float:
        """USDC held for ``account`` (its ledger balance)."""
        return self._ledger.balance(int(self.book.holder[account]), self._usdc)

    def _cash(self, accounts: np.ndarray) -> np.ndarray:
        return np.asarray(self._ledger.balances_of_asset(self._usdc))[self.book.holder[accounts]]

    def unsettled_pnl_usd(self, account: int) -> float:
        """Claim on the clearing pool plus perp PnL since its last settlement, USD."""
        b = self.book
        perp = b.size_base[account, 0] * (self.index_price() - b.perp_settle_usd[account])
        return float(b.pending_usd[account] + perp)

    def _check_amount(self, where: str, amount: float) -> None:
        if not (isinstance(amount, Real) and math.isfinite(amount) and amount >= 0.0):
            raise ValueError(
                f"{type(self).__name__}.{where}.amount_usd: must be finite and >= 0, got {amount!r}"
            )

    def _cash_call(self, where: str, account: int, amount: float) -> TxStatus:
        self._check_amount(where, amount)
        if not self._known(account):
            return TxStatus.UNKNOWN_ACCOUNT
        return TxStatus.OK if amount > 0.0 else TxStatus.INVALID_AMOUNT

    def deposit(self, account: int, amount_usd: float) -> TxStatus:
        """Move USDC from the owner's wallet into the account."""
        if (status := self._cash_call("deposit", account, amount_usd)) != TxStatus.OK:
            return status
        return self._move(int(self.book.owner[account]), int(self.book.holder[account]), amount_usd)

    def withdraw(self, account: int, amount_usd: float) -> TxStatus:
        """Return USDC to the owner if the account keeps ``equity >= IM`` (and the cash)."""
        if (status := self._cash_call("withdraw", account, amount_usd)) != TxStatus.OK:
            return status
        equity, initial, _ = self.account_margin(account)
        if self.cash_usd(account) >= amount_usd and equity - amount_usd < initial - TOL_USD:
            return TxStatus.HEALTH_TOO_LOW
        return self._move(int(self.book.holder[account]), int(self.book.owner[account]), amount_usd)

    def set_mode(self, account: int, mode: MarginMode) -> TxStatus:
        """Switch the margin mode; refused (HEALTH_TOO_LOW) if IM rises above equity."""
        mode = as_margin_mode(mode, f"{type(self).__name__}.set_mode.mode")
        if not self._known(account):
            return TxStatus.UNKNOWN_ACCOUNT
        equity, initial, _ = self.account_margin(account)
        old = int(self.book.mode[account])
        self.book.mode[account] = int(mode)
        new_initial = self.account_margin(account)[1]
        if new_initial > initial + TOL_USD and equity < new_initial - TOL_USD:
            self.book.mode[account] = old
            return TxStatus.HEALTH_TOO_LOW
        return TxStatus.OK

    def seed_insurance(self, holder: int, amount_usd: float) -> TxStatus:
        """Fund the insurance fund with USDC from ``holder``."""
        self._check_amount("seed_insurance", amount_usd)
        return self._move(holder, self.insurance_holder, amount_usd)

    def seed_backstop(self, holder: int, amount_usd: float) -> TxStatus:
        """Fund the backstop account (the liquidation counterparty) with USDC from ``holder``."""
        self._check_amount("seed_backstop", amount_usd)
        return self._move(holder, int(self.book.holder[self.backstop_account]), amount_usd)

    def _move(self, src: int, dst: int, amount: float) -> TxStatus:
        if self._ledger.balance(src, self._usdc) < amount:
            return TxStatus.INSUFFICIENT_BALANCE
        self._ledger.transfer(src, dst, self._usdc, amount)
        return TxStatus.OK

    @property
    def insurance_fund_usd(self) -> float:
        """USDC in the insurance fund."""
        return self._ledger.balance(self.insurance_holder, self._usdc)

    @property
    def clearing_usd(self) -> float:
        """USDC in the clearing pool (collected, not yet paid out)."""
        return self._ledger.balance(self.clearing_holder, self._usdc)

    # ------------------------------------------------------------------ positions
    def position(self, account: int, instrument: int) -> float:
        """Signed size of ``account`` in ``instrument`` (coins; long > 0)."""
        return float(self.book.size_base[account, self._col(instrument, "position")])

    def entry_price(self, account: int, instrument: int) -> float:
        """Average entry price (cost basis) of a position, USD per coin (0 when flat)."""
        return float(self.book.entry_usd[account, self._col(instrument, "entry_price")])

    def positions_of(self, account: int) -> dict[int, float]:
        """Non-zero positions of ``account``: instrument id (``PERP`` or series id) to size."""
        row = self.book.size_base[account, : self.book.n_instruments]
        return {int(c) - 1: float(row[c]) for c in np.flatnonzero(row)}

    # ------------------------------------------------------------------ margin
    def margin_state(self, accounts: np.ndarray | None = None) -> PmMarginState:
        """``(equity_usd, initial_usd, maintenance_usd)`` of ``accounts`` (default: all), in one
        vectorised pass: one margin-kernel call per mode (:func:`~protocols.pm_book.book_margin`).
        """
        b = self.book
        acc = np.arange(b.n_accounts) if accounts is None else np.asarray(accounts, np.int64)
        cash = self._cash(acc)
        return book_margin(b, acc, cash, self._rows, self.index_price(), self._params)

    def account_margin(self, account: int) -> tuple[float, float, float]:
        """``(equity_usd, initial_usd, maintenance_usd)`` of one account."""
        eq, im, mm = self.margin_state(np.array([account]))
        return float(eq[0]), float(im[0]), float(mm[0])

    def account_equity_usd(self, account: int) -> float:
        """Cash + unsettled PnL + mark value of the options, USD."""
        return self.account_margin(account)[0]

    def requirements(
        self, books: list[tuple[np.ndarray, np.ndarray]], modes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """IM and MM of hypothetical books ``[(cols, sizes), ...]`` in ``modes`` (one pass)."""
        return stacked_margin(books, modes, self._rows, self.index_price(), self._params)

    def account_greeks(self, account: int) -> tuple[float, float, float, float]:
        """``(delta_base, gamma_base_per_usd, vega_usd_per_vol_point, theta_usd_per_day)``.

        Black-76 on the oracle price with the mark vols; the perp adds its size to delta.
        """
        _, cols = self.book.live(np.array([account]))
        sizes = self.book.size_base[account, cols]
        return book_greeks(cols, sizes, self._rows(cols), self.index_price())

    # ------------------------------------------------------------------ trading
    def trade(
        self, taker: int, maker: int, instrument: int, size_base: float, price_usd: float
    ) -> TxStatus:
        """``taker`` buys ``size_base`` (> 0) or sells (< 0) ``instrument`` from/to ``maker``.

        Options: the buyer pays ``|size| x price_usd`` to the seller. Perp: both enter at
        ``price_usd`` (PnL settles in :meth:`accrue`). Fees (:meth:`PmExchangeParams.trade_fees`)
        go to ``"<name>:fees"``; each side needs the cash for its premium and fee. Each side whose
        IM the trade raises must keep ``equity >= IM`` after it (else HEALTH_TOO_LOW); a trade
        that does not raise an account's IM is always allowed for it.
        """
        cls = type(self).__name__
        col = self._col(instrument, "trade")
        if not (isinstance(size_base, Real) and math.isfinite(size_base)):
            raise ValueError(f"{cls}.trade.size_base: must be finite, got {size_base!r}")
        floor_ok = price_usd > 0.0 if col == 0 else price_usd >= 0.0
        if not (isinstance(price_usd, Real) and math.isfinite(price_usd) and floor_ok):
            rule = "> 0 for the perp" if col == 0 else ">= 0 for an option"
            raise ValueError(f"{cls}.trade.price_usd: must be finite and {rule}, got {price_usd!r}")
        if taker == maker:
            raise ValueError(f"{cls}.trade.maker: must differ from taker, got {maker!r} for both")
        if not (self._known(taker) and self._known(maker)):
            return TxStatus.UNKNOWN_ACCOUNT
        if size_base == 0.0:
            return TxStatus.INVALID_AMOUNT
        sid = col - 1
        if col > 0 and not (self.series.active[sid] and self.series.expiry_step[sid] > self.step):
            return TxStatus.TRADING_CLOSED
        q, p = float(size_base), float(price_usd)
        premium = 0.0 if col == 0 else abs(q) * p
        fees = self._params.trade_fees(col == 0, abs(q), p, self.index_price())
        sides = ((taker, q, fees[0]), (maker, -q, fees[1]))
        for a, dq, fee in sides:
            if self.cash_usd(a) + (premium if dq < 0 else -premium) < fee:
                return TxStatus.INSUFFICIENT_BALANCE
        equity = self.margin_state(np.array([taker, maker])).equity_usd
        if not trade_allowed(self.requirements, self.book, sides, col, p, equity, self._rows):
            return TxStatus.HEALTH_TOO_LOW
        holder = self.book.holder
        if premium > 0.0:
            buyer, seller = (taker, maker) if q > 0 else (maker, taker)
            self._ledger.transfer(int(holder[buyer]), int(holder[seller]), self._usdc, premium)
        for a, dq, fee in sides:
            if fee > 0.0:
                self._ledger.transfer(int(holder[a]), self.fee_holder, self._usdc, fee)
            self.book.fill(a, col, dq, p)
        self.fees_total += fees[0] + fees[1]
        return TxStatus.OK

    # ------------------------------------------------------------------ per-step work
    def accrue(self, step: int) -> None:
        """Settle unsettled PnL, cash-settle expired options at the oracle price, roll boards.

        Flat accounts left with negative equity are resolved at once (insurance fund, then a
        socialised loss); accounts with positions are left to :meth:`liquidate`.
        """
        if step < self.step:
            msg = f"must be >= the last step {self.step}, got {step}"
            raise ValueError(f"{type(self).__name__}.accrue.step: {msg}")
        self.step = int(step)
        clear_step(self)

    def liquidate(self) -> PmLiquidationSummary:
        """Run the liquidation engine once (:mod:`protocols.pm_liquidation`)."""
        return run_liquidations(self)
