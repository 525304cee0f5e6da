"""An options AMM whose liquidity pool is the counterparty of every trade (Lyra v1, DOMAIN.md A6).

Series are listed with a :class:`~protocols.option_series.SeriesTable` and marked at
``vol = baseIV_board x skew_strike`` (times ``vol_scale``, floored at ``iv_floor``), initialised
from the implied-vol surface (:class:`~protocols.options_amm_book.VolMarks`). Each trade moves them
by its vega impact and is priced at the post-trade vol; fees and limits are in
:mod:`protocols.options_amm_pricing`, LP shares, queue and breaker clock in
:mod:`protocols.options_amm_lp`, the perp delta hedge in :mod:`protocols.options_amm_hedger`.

Ledger holders: ``"<name>:pool"`` holds the pool's USDC (LP capital, premiums, fees) and owns the
hedge account; ``"<name>:lp-queue"`` holds queued deposits and escrowed shares. Users buy options
and sell back what they hold (no user shorts): the pool is net short. Collateral (simplified from
Lyra's ``lockQuote``/``lockBase``): ``K`` USDC per short put, spot per short call. NAV = pool USDC
+ hedge equity + mark value of the pool's options (Lyra marks NAV at GWAV vols; here current vols).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.greek_kernels import DELTA, PRICE, VEGA
from protocols.margin.surface import VolSurface
from protocols.option_series import SeriesTable
from protocols.options_amm_book import OptionBook, VolMarks
from protocols.options_amm_hedger import PoolHedger
from protocols.options_amm_lp import CircuitBreaker, LpQueue
from protocols.options_amm_params import OptionsAmmParams
from protocols.options_amm_pricing import (
    FeeBreakdown,
    breaker_timeouts,
    iv_impact,
    marked_vol,
    std_vega_factor,
    trade_fees,
    within_trade_limits,
)
from protocols.perp import PerpExchange
from protocols.types import PriceFeed, TxStatus

__all__ = ["OptionQuote", "OptionsAMM"]

_SIZE_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """Price of a trade: status, premium and fee (USD), vol and option delta at the post-trade
    vol. ``fees`` has the fee components (``None`` if refused before pricing); for a sell
    ``fee_usd`` is their total capped at the premium."""

    status: TxStatus
    premium_usd: float = 0.0
    fee_usd: float = 0.0
    vol: float = 0.0
    delta: float = 0.0
    fees: FeeBreakdown | None = None


class OptionsAMM:
    """Lyra-v1-style options AMM on one underlying, settled in ``quote_asset``.

    Parameters
    ----------
    name, ledger, events
        Protocol name (prefixes its ledger holders, tags its events); the world's ledger and log.
    asset, oracle
        Underlying symbol and its price feed (``.price_usd``).
    params, surface
        :class:`~protocols.options_amm_params.OptionsAmmParams`; the implied-vol surface that new
        boards are marked from.
    step_seconds
        Length of one model step.
    hedge_venue
        Perp exchange the pool delta-hedges on (``None``: unhedged).
    quote_asset, lp_asset
        Cash asset and LP share token (default ``"LP-OPT-<asset>"``).
    start_step
        Step at which the first boards are listed.
    """

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        events: EventLog,
        *,
        asset: str,
        oracle: PriceFeed,
        params: OptionsAmmParams,
        surface: VolSurface,
        step_seconds: int,
        hedge_venue: PerpExchange | None = None,
        quote_asset: str = "USDC",
        lp_asset: str | None = None,
        start_step: int = 0,
    ) -> None:
        if not step_seconds > 0:
            raise ValueError(f"OptionsAMM.step_seconds: must be > 0, got {step_seconds!r}")
        if not isinstance(params, OptionsAmmParams):
            raise ValueError(f"OptionsAMM.params: must be OptionsAmmParams, got {params!r}")
        self.name, self.asset, self.step_seconds = name, asset, int(step_seconds)
        self._ledger, self._events, self._oracle = ledger, events, oracle
        self.quote_asset, self._params, self._step = quote_asset, params, int(start_step)
        self._quote_id = ledger.asset_id(quote_asset)
        self.pool_holder = ledger.open_holder(f"{name}:pool")
        cash = {"pool_holder": self.pool_holder, "quote_asset": quote_asset}
        self.lp = LpQueue(name, ledger, events, lp_asset=lp_asset or f"LP-OPT-{asset}", **cash)
        hedge = {"venue": hedge_venue, "asset": asset, "step_seconds": self.step_seconds}
        self.hedger = (
            None if hedge_venue is None else PoolHedger(name, ledger, events, **hedge, **cash)
        )
        self.breakers = CircuitBreaker(
            name, events, step_seconds=step_seconds, start_step=start_step
        )
        self.series = SeriesTable(params.listing, step_seconds=self.step_seconds)
        self._marks = VolMarks(surface, params)
        self.book = OptionBook(
            name, ledger, events, series=self.series, marks=self._marks, asset=asset, **cash
        )
        self.fees_total_usd = self.premium_total_usd = 0.0
        self.max_iv_variance = self.max_skew_variance = 0.0
        spot = self._spot()
        self.book.register(self.series.list_all(self._step, spot), self._step, spot, params)

    # ------------------------------------------------------------------ params
    @property
    def params(self) -> OptionsAmmParams:
        """Current parameters; assigning a new :class:`OptionsAmmParams` recalibrates."""
        return self._params

    @params.setter
    def params(self, new: OptionsAmmParams) -> None:
        if not isinstance(new, OptionsAmmParams):
            raise ValueError(f"OptionsAMM.params: must be OptionsAmmParams, got {new!r}")
        if new.listing != self._params.listing:
            raise ValueError("OptionsAMM.params: listing must not change (series are listed)")
        self._params = new

    # ------------------------------------------------------------------ marks
    def _spot(self) -> float:
        return float(self._oracle.price_usd)

    def _now_seconds(self) -> float:
        return float(self._step * self.step_seconds)

    def base_iv(self, expiry_step: int) -> float:
        """Current base IV of the board expiring at ``expiry_step``."""
        return self._marks.base_ivs[self._marks.board_index(expiry_step)]

    def skew(self, series_id: int) -> float:
        """Current skew ratio of a series' strike."""
        return self._marks.skews[int(self._marks.strike_of[series_id])]

    def vol(self, series_id: int) -> float:
        """Vol a series is marked at: ``max(baseIV x skew x vol_scale, iv_floor)``."""
        return float(self._marks.vols(np.array([int(series_id)]), self._params)[0])

    def _book(self) -> tuple[float, float, float, float]:
        """``(mark value, delta, vega, standard vega)`` of the pool's open options."""
        return self.book.valuation(self._spot(), self._step, self._params)

    # ------------------------------------------------------------------ pool state
    @property
    def lp_asset(self) -> str:
        """Ledger symbol of the LP share token this pool issues."""
        return self.lp.lp_asset

    @property
    def pool_usd(self) -> float:
        """USDC at the pool holder."""
        return self._ledger.balance(self.pool_holder, self._quote_id)

    @property
    def hedge_equity_usd(self) -> float:
        """Equity of the pool's perp account (0 when unhedged)."""
        return 0.0 if self.hedger is None else self.hedger.equity_usd

    @property
    def hedge_size_base(self) -> float:
        """The pool's perp position, read back from the exchange (it may have been liquidated)."""
        return 0.0 if self.hedger is None else self.hedger.size_base

    @property
    def hedge_cost_total_usd(self) -> float:
        """Cumulative hedge cost: perp taker fees plus slippage against the index, USD."""
        return 0.0 if self.hedger is None else self.hedger.cost_total_usd

    @property
    def nav_usd(self) -> float:
        """Pool USDC + hedge equity + mark value of the pool's options."""
        return self.pool_usd + self.hedge_equity_usd + self._book()[0]

    @property
    def share_price_usd(self) -> float:
        """NAV per LP share (1.0 before the first deposit)."""
        return self.lp.share_price(self.nav_usd)

    @property
    def locked_collateral_usd(self) -> float:
        """USDC locked for the pool's short options: ``K`` per put, spot per call."""
        return self.book.locked_collateral_usd(self._spot())

    @property
    def free_liquidity_usd(self) -> float:
        """Pool USDC not locked and not reserved for queued withdrawals."""
        reserved = self.lp.queued_withdrawal_shares * self.share_price_usd
        return max(self.pool_usd - self.locked_collateral_usd - max(reserved, 0.0), 0.0)

    @property
    def net_delta_base(self) -> float:
        """Options delta plus the perp hedge, coins."""
        return self._book()[1] + self.hedge_size_base

    @property
    def net_vega_usd(self) -> float:
        """The pool's vega, USD per vol point."""
        return self._book()[2]

    def position(self, holder: int, series_id: int) -> float:
        """A user's size in a series (long > 0)."""
        return self.book.position(holder, series_id)

    def positions_of(self, holder: int) -> dict[int, float]:
        """A user's open positions, ``{series_id: size_base}``."""
        return self.book.positions_of(holder)

    @property
    def settlement_paid_total_usd(self) -> float:
        """Cumulative intrinsic value paid to holders at expiry, USD."""
        return self.book.settlement_paid_total_usd

    @property
    def settlement_shortfall_total_usd(self) -> float:
        """Cumulative intrinsic value the pool could not pay, USD."""
        return self.book.settlement_shortfall_total_usd

    def breaker_active(self, step: int) -> bool:
        """Whether a circuit breaker blocks the LP queue at ``step``."""
        return self.breakers.active(step)

    @property
    def breaker_until_step(self) -> int:
        """First step at which the LP queue may run again (Lyra's ``CBTimestamp``)."""
        return self.breakers.until_step

    @property
    def breaker_trips(self) -> dict[str, int]:
        """Trips per breaker (``BREAKER_NAMES``)."""
        return self.breakers.trips

    # ------------------------------------------------------------------ trading
    def _price(self, series_id: int, size_base: float, is_buy: bool):
        """``(quote, post-trade base IV, post-trade skew)`` of a trade; nothing changes."""
        if not math.isfinite(size_base):
            raise ValueError(f"OptionsAMM.quote: size_base must be finite, got {size_base!r}")
        s, p, m = self.series, self._params, self._marks
        sid = int(series_id)
        listed = 0 <= sid < s.n_series and s.active[sid]
        t_s = float((s.expiry_step[sid] - self._step) * self.step_seconds) if listed else 0.0
        if not (t_s > 0.0 and t_s >= p.trading_cutoff_seconds):  # unlisted, expired or cut off
            return OptionQuote(TxStatus.TRADING_CLOSED), 0.0, 0.0
        if size_base <= 0.0:
            return OptionQuote(TxStatus.INVALID_AMOUNT), 0.0, 0.0
        b, k = int(m.board_of[sid]), int(m.strike_of[sid])
        base, skew = iv_impact(m.base_ivs[b], m.skews[k], size_base, is_buy, p)
        vol = float(marked_vol(base * skew, p))
        g = self.book.greeks(np.array([sid]), np.array([vol]), self._spot(), self._step)[:, 0]
        delta = float(g[DELTA])
        call_delta = delta if s.is_call[sid] else delta + 1.0  # N(d1) (no discounting)
        if not within_trade_limits(base, skew, call_delta, is_buy, p):
            return OptionQuote(TxStatus.LIMIT_EXCEEDED, vol=vol, delta=delta), base, skew
        value, _, _, pre_std = self._book()
        nav = self.pool_usd + self.hedge_equity_usd + value
        if not nav > 0.0:
            return OptionQuote(TxStatus.INSUFFICIENT_LIQUIDITY, vol=vol, delta=delta), base, skew
        premium = float(g[PRICE]) * size_base
        pool_change = -size_base if is_buy else size_base  # the pool takes the other side
        fees = trade_fees(
            p,
            size_base=size_base,
            premium_usd=premium,
            spot_usd=self._spot(),
            t_seconds=t_s,
            vol=vol,
            vega_per_vol_point=float(g[VEGA]),
            skew=skew,
            iv_variance=m.iv_variance(b, self._now_seconds(), p),
            pre_std_vega=pre_std,
            post_std_vega=pre_std + pool_change * float(g[VEGA]) * std_vega_factor(t_s),
            nav_usd=nav,
        )
        fee = fees.total_usd if is_buy else min(fees.total_usd, premium)
        return OptionQuote(TxStatus.OK, premium, fee, vol, delta, fees), base, skew

    def quote(self, series_id: int, size_base: float, is_buy: bool) -> OptionQuote:
        """What :meth:`buy` (``is_buy``) or :meth:`sell` of ``size_base`` would cost or pay."""
        return self._price(series_id, size_base, is_buy)[0]

    def buy(self, holder: int, series_id: int, size_base: float) -> OptionQuote:
        """The user buys ``size_base`` options from the pool, paying premium + fees."""
        q, base, skew = self._price(series_id, size_base, True)
        if q.status != TxStatus.OK:
            return q
        sid = int(series_id)
        cost = q.premium_usd + q.fee_usd
        if self._ledger.balance(holder, self._quote_id) < cost:
            return dataclasses.replace(q, status=TxStatus.INSUFFICIENT_BALANCE)
        per_unit = self._spot() if self.series.is_call[sid] else float(self.series.strike_usd[sid])
        if size_base * per_unit > self.free_liquidity_usd:
            return dataclasses.replace(q, status=TxStatus.INSUFFICIENT_LIQUIDITY)
        self._ledger.transfer(holder, self.pool_holder, self._quote_id, cost)
        self._fill(holder, sid, size_base, base, skew, q)
        return q

    def sell(self, holder: int, series_id: int, size_base: float) -> OptionQuote:
        """The user sells back ``size_base`` it holds; it receives ``max(0, premium - fees)``."""
        q, base, skew = self._price(series_id, size_base, False)
        if q.status != TxStatus.OK:
            return q
        sid = int(series_id)
        if size_base > self.position(holder, sid) + _SIZE_TOL:
            return dataclasses.replace(q, status=TxStatus.INSUFFICIENT_BALANCE)
        payout = q.premium_usd - q.fee_usd
        if payout > self.pool_usd:
            return dataclasses.replace(q, status=TxStatus.INSUFFICIENT_LIQUIDITY)
        self._ledger.transfer(self.pool_holder, holder, self._quote_id, payout)
        self._fill(holder, sid, -min(size_base, self.position(holder, sid)), base, skew, q)
        return q

    def _fill(self, holder: int, sid: int, size: float, base: float, skew: float, q) -> None:
        self.book.fill(holder, sid, size)
        self._marks.set(sid, base, skew, self._now_seconds(), self._params)
        self.fees_total_usd += q.fee_usd
        self.premium_total_usd += q.premium_usd

    # ------------------------------------------------------------------ LPs
    def seed(self, holder: int, amount_usd: float) -> TxStatus:
        """Deposit at once at the current share price (initial liquidity: 1 share per USD)."""
        return self.lp.seed(holder, amount_usd, self.nav_usd)

    def request_deposit(self, holder: int, amount_usd: float) -> TxStatus:
        """Queue a deposit (``QUEUED``); shares are minted at the NAV of its processing."""
        ready = self._step + math.ceil(self._params.deposit_delay_seconds / self.step_seconds)
        return self.lp.request_deposit(holder, amount_usd, ready)

    def request_withdrawal(self, holder: int, shares: float) -> TxStatus:
        """Queue a withdrawal of ``shares`` (``QUEUED``); paid at the NAV of its processing."""
        ready = self._step + math.ceil(self._params.withdrawal_delay_seconds / self.step_seconds)
        return self.lp.request_withdrawal(holder, shares, ready)

    # ------------------------------------------------------------------ per-step work
    def accrue(self, step: int) -> None:
        """Settle expired series, rebalance the hedge, update the breakers, process the LP queue.

        Calling it again at the same step re-evaluates the breakers and the queue only.
        """
        self._step = int(step)
        self._settle()
        if self.hedger is not None:
            self.hedger.rebalance(self._step, self._book()[1], self.nav_usd, self._params)
        self._update_breakers()
        if not self.breaker_active(self._step):
            self.lp.process(
                self._step,
                nav_fn=lambda: self.nav_usd,
                burnable_fn=lambda: self.pool_usd - self.locked_collateral_usd,
                withdrawal_fee_frac=self._params.withdrawal_fee_frac,
            )

    def _settle(self) -> None:
        """Settle expired series at the oracle price, then list their replacement boards."""
        ids, spot = self.series.expiring(self._step), self._spot()
        if ids.size == 0:
            return
        raise_cash = (lambda usd: None) if self.hedger is None else self.hedger.raise_cash
        self.book.settle(ids, spot, raise_cash)
        new = self.series.settle(ids, self._step, spot)
        self.book.register(new, self._step, spot, self._params)
        self.breakers.trip(self._step, "board_settlement", self._params.board_settlement_cb_seconds)

    # ------------------------------------------------------------------ circuit breakers
    def _update_breakers(self) -> None:
        """Trip the liquidity, IV- and skew-variance breakers (none without open options, as
        Lyra's ``_updateCBs``)."""
        ids, p = self.series.active_ids(), self._params
        iv, skew = self._marks.max_variances(ids, self._now_seconds(), p)
        self.max_iv_variance, self.max_skew_variance = iv, skew
        nav = self.nav_usd
        free_frac = self.free_liquidity_usd / nav if nav > 0.0 else 0.0
        is_open = np.any(self.book.pool_size[ids] != 0.0)
        self.breakers.update(
            self._step, breaker_timeouts(iv, skew, free_frac, p) if is_open else {}
        )
