"""Option traders: protection buyers, directional speculators and leveraged volatility sellers."""

from __future__ import annotations

import math
from enum import IntEnum
from typing import TYPE_CHECKING

from agents.base import Participant
from agents.market_maker import added_standard_im_usd
from protocols.perp_params import SETTLEMENT_ASSET
from protocols.types import TxStatus

if TYPE_CHECKING:
    from agents.market_maker import MarketMaker
    from experiments.model import EcosystemModel

__all__ = ["OptionStyle", "OptionTrader", "OptionVenue"]


class OptionStyle(IntEnum):
    """What an option trader wants."""

    PROTECTION = 0  # holds spot, buys OTM puts on it, rolls them at expiry
    SPECULATOR = 1  # buys calls or puts in the direction of the trend signal
    VOL_SELLER = 2  # sells OTM strangles on margin up to a utilisation target


class OptionVenue(IntEnum):
    """Where a trader trades options."""

    AMM = 0  # model.options_amm: buys and sells against the LP pool
    PM = 1  # model.pm_exchange: trades with a market maker from model.option_makers


class OptionTrader(Participant):
    """Trades listed options of one underlying on the AMM or the portfolio-margin exchange.

    Parameters
    ----------
    style, venue
        :class:`OptionStyle`, :class:`OptionVenue`. VOL_SELLER needs a margin account (PM only).
    asset
        Underlying (``"ETH"``).
    capital_usd
        Endowment. PROTECTION holds ``1 - premium_budget_frac`` of it as spot (bought at the
        oracle price, an endowment) and the rest as USDC for premiums; the others hold USDC, in
        the PM account when the venue is PM.
    tenor_days, moneyness
        Target expiry and strike of the options bought or sold: puts at ``moneyness * S``, calls
        at ``S / moneyness`` (so ``moneyness < 1`` is out of the money on both sides).
    leverage
        VOL_SELLER: target ``IM / equity`` of its PM account; it sells strangles while below it.
    premium_budget_frac
        PROTECTION: share of capital kept in USDC for premiums. SPECULATOR: share of its cash
        spent on each new position.
    signal_band_frac
        SPECULATOR: the trend signal ``fast/slow - 1`` must exceed this to open (or to flip out).
    stop_utilisation
        VOL_SELLER: above this ``IM / equity`` it buys every short option back.
    stop_loss_frac
        VOL_SELLER: when equity falls below this fraction of its deposit it buys back and stops.

    Notes
    -----
    PROTECTION buys puts sized to its spot holding (fewer if premiums exceed its cash) and buys
    the next put when the one it holds has expired (settled to its wallet or account). SPECULATOR
    holds one position at a time: it sells it back when the signal turns against it and lets it
    expire otherwise. VOL_SELLER sells equal sizes of the put and the call, sized so that the
    standard-margin IM of the strangle fills the gap to ``leverage`` (standard margin is an upper
    bound on portfolio margin, so it approaches the target from below over activations); it tops
    up only when utilisation is below 90% of the target, so it trades in clips, not dust.
    """

    def __init__(
        self,
        model: EcosystemModel,
        *,
        style: OptionStyle,
        venue: OptionVenue,
        asset: str,
        capital_usd: float,
        period_seconds: float,
        tenor_days: float = 28.0,
        moneyness: float = 0.9,
        leverage: float = 0.5,
        premium_budget_frac: float = 0.1,
        signal_band_frac: float = 0.002,
        stop_utilisation: float = 0.9,
        stop_loss_frac: float = 0.5,
    ) -> None:
        name = type(self).__name__
        if not isinstance(style, OptionStyle):
            raise ValueError(f"{name}.style: must be an OptionStyle, got {style!r}")
        if not isinstance(venue, OptionVenue):
            raise ValueError(f"{name}.venue: must be an OptionVenue, got {venue!r}")
        if style is OptionStyle.VOL_SELLER and venue is not OptionVenue.PM:
            raise ValueError(f"{name}.venue: must be PM for VOL_SELLER (short options need margin)")
        for fld, value in (("capital_usd", capital_usd), ("tenor_days", tenor_days)):
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name}.{fld}: must be > 0, got {value!r}")
        for fld, value in (("moneyness", moneyness), ("premium_budget_frac", premium_budget_frac)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name}.{fld}: must be in (0, 1], got {value!r}")
        if not 0.0 < leverage < stop_utilisation <= 1.0:
            raise ValueError(
                f"{name}.leverage: must satisfy 0 < leverage < stop_utilisation <= 1, "
                f"got {leverage} and {stop_utilisation}"
            )
        if not 0.0 <= stop_loss_frac < 1.0:
            raise ValueError(f"{name}.stop_loss_frac: must be in [0, 1), got {stop_loss_frac!r}")
        if not signal_band_frac >= 0.0:
            raise ValueError(f"{name}.signal_band_frac: must be >= 0, got {signal_band_frac!r}")
        super().__init__(model, period_seconds=period_seconds, kind="option_trader")
        self.style, self.venue, self.asset = style, venue, asset
        self.tenor_days, self.moneyness, self.leverage = tenor_days, moneyness, leverage
        self.premium_budget_frac = premium_budget_frac
        self.signal_band_frac = signal_band_frac
        self.stop_utilisation, self.stop_loss_frac = stop_utilisation, stop_loss_frac
        self.series_id = -1  # the option held (PROTECTION, SPECULATOR)
        self.n_buys = self.n_sells = self.n_buybacks = 0
        self.stopped = False
        cash = capital_usd
        if style is OptionStyle.PROTECTION:
            cash = premium_budget_frac * capital_usd
            spot_base = (capital_usd - cash) / model.oracle_price(asset)
            model.endow(self.wallet, asset, spot_base)
        model.endow(self.wallet, SETTLEMENT_ASSET, cash)
        self.deposit_usd = cash
        self.venue_obj = model.options_amm if venue is OptionVenue.AMM else model.pm_exchange
        self.pm_account = -1
        if venue is OptionVenue.PM:
            self.pm_account = self.venue_obj.open_account(self.wallet)
            self.venue_obj.deposit(self.pm_account, cash)

    # ------------------------------------------------------------------ venue access
    def _balance(self, asset: str) -> float:
        ledger = self.model.ledger
        return ledger.balance(self.wallet, ledger.asset_id(asset))

    def _margin(self) -> tuple[float, float]:
        """``(equity, initial margin)`` of the PM account, USD."""
        equity, initial, _ = self.venue_obj.account_margin(self.pm_account)
        return equity, initial

    def cash_usd(self) -> float:
        """USDC free to pay premiums: wallet (AMM), or PM equity above initial margin."""
        if self.venue is OptionVenue.AMM:
            return self._balance(SETTLEMENT_ASSET)
        equity, initial = self._margin()
        return max(equity - initial, 0.0)

    def position(self, series_id: int) -> float:
        """Size held in a series, coins (long > 0)."""
        if self.venue is OptionVenue.AMM:
            return float(self.venue_obj.position(self.wallet, series_id))
        return float(self.venue_obj.position(self.pm_account, series_id))

    def _maker_quote(self, series_id: int, size: float, is_buy: bool):
        """The first maker (in a random order) that quotes, and its price; ``(None, nan)``."""
        makers: list[MarketMaker] = list(self.model.option_makers)
        for maker in self.model.random.sample(makers, len(makers)):
            price = maker.quote(series_id, size, is_buy)
            if price is not None:
                return maker, price
        return None, math.nan

    def unit_cost_usd(self, series_id: int, size: float, is_buy: bool) -> float:
        """Premium (plus AMM fees on a buy, minus them on a sale) per coin, or nan if no quote."""
        if self.venue is OptionVenue.AMM:
            q = self.venue_obj.quote(series_id, size, is_buy)
            if q.status is not TxStatus.OK:
                return math.nan
            sign = 1.0 if is_buy else -1.0
            return (q.premium_usd + sign * q.fee_usd) / size
        _, price = self._maker_quote(series_id, size, is_buy)
        return price

    def trade(self, series_id: int, size_base: float) -> bool:
        """Buy (``size_base > 0``) or sell on the venue; True when it filled."""
        buy = size_base > 0.0
        size = abs(size_base)
        if self.venue is OptionVenue.AMM:
            amm = self.venue_obj
            q = (
                amm.buy(self.wallet, series_id, size)
                if buy
                else amm.sell(self.wallet, series_id, size)
            )
            ok = q.status is TxStatus.OK
        else:
            maker, price = self._maker_quote(series_id, size, buy)
            ok = maker is not None and (
                self.venue_obj.trade(self.pm_account, maker.pm_account, series_id, size_base, price)
                is TxStatus.OK
            )
        if ok and buy:
            self.n_buys += 1
        elif ok:
            self.n_sells += 1
        return ok

    def _find(self, *, is_call: bool) -> int:
        spot = self.model.oracle_price(self.asset)
        strike = spot / self.moneyness if is_call else spot * self.moneyness
        return self.venue_obj.series.find(
            is_call=is_call, strike_usd=strike, tenor_days=self.tenor_days, step=self.model.steps
        )

    def _holding(self) -> bool:
        sid = self.series_id
        return sid >= 0 and bool(self.venue_obj.series.active[sid]) and self.position(sid) > 0.0

    def _buy_within(self, series_id: int, max_size: float, budget_usd: float) -> bool:
        """Buy up to ``max_size`` coins of a series, as much as 98% of ``budget_usd`` pays for.

        The unit cost is probed at one coin (or ``max_size`` if smaller); the 2% margin absorbs
        the AMM's size-dependent vol impact and fees.
        """
        if not (max_size > 0.0 and budget_usd > 0.0):
            return False
        unit = self.unit_cost_usd(series_id, min(max_size, 1.0), True)
        if not unit > 0.0:
            return False
        size = min(max_size, 0.98 * budget_usd / unit)
        if size * unit < 1.0:  # dust: not worth a trade
            return False
        if self.trade(series_id, size):
            self.series_id = series_id
            return True
        return False

    # ------------------------------------------------------------------ styles
    def _protect(self) -> None:
        if self._holding():
            return
        sid = self._find(is_call=False)
        if sid >= 0:
            self._buy_within(sid, self._balance(self.asset), self.cash_usd())

    def _speculate(self) -> None:
        fast, slow = self.model.signal(self.asset)
        gap = fast / slow - 1.0
        band = self.signal_band_frac
        if self._holding():
            is_call = bool(self.venue_obj.series.is_call[self.series_id])
            against = (is_call and gap < -band) or (not is_call and gap > band)
            if against and self.trade(self.series_id, -self.position(self.series_id)):
                self.series_id = -1
            return
        if abs(gap) <= band:
            return
        sid = self._find(is_call=gap > 0.0)
        if sid >= 0:
            self._buy_within(sid, math.inf, self.premium_budget_frac * self.cash_usd())

    def buy_back_all(self) -> None:
        """Buy back every short option of the PM account (VOL_SELLER's exit)."""
        pm = self.venue_obj
        for sid, size in pm.positions_of(self.pm_account).items():
            if size < 0.0 and 0 <= sid < pm.series.n_series and self.trade(sid, -size):
                self.n_buybacks += 1

    def _sell_vol(self) -> None:
        if self.stopped:
            return
        equity, initial = self._margin()
        if equity <= self.stop_loss_frac * self.deposit_usd:
            self.buy_back_all()
            self.stopped = True
            return
        utilisation = initial / equity
        if utilisation > self.stop_utilisation:
            self.buy_back_all()
            return
        if utilisation >= 0.9 * self.leverage:
            return  # at (or within 10% of) its target: margin is tight, add nothing
        put, call = self._find(is_call=False), self._find(is_call=True)
        if put < 0 or call < 0:
            return
        pm, step = self.venue_obj, self.model.steps
        index = self.model.oracle_price(self.asset)
        per_coin = sum(
            added_standard_im_usd(pm.series, sid, 0.0, -1.0, index, pm.mark_vol(sid), step)
            for sid in (put, call)
        )
        size = (self.leverage - utilisation) * equity / per_coin
        if size * index < 1.0:
            return
        for sid in (put, call):
            self.trade(sid, -size)

    def act(self) -> None:
        """One decision of the trader's style."""
        if self.style is OptionStyle.PROTECTION:
            self._protect()
        elif self.style is OptionStyle.SPECULATOR:
            self._speculate()
        else:
            self._sell_vol()
