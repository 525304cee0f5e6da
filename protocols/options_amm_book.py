"""The options AMM's book: vol marks, positions, Greeks, collateral and settlement (the state of
Lyra v1's ``OptionGreekCache`` plus the settlement side of ``LiquidityPool``, DOMAIN.md A6 [S]).

:class:`VolMarks` keeps a base IV per board and a skew per strike with their GWAVs;
:class:`OptionBook` keeps users' long positions per series and the pool's opposite position
(``pool_size = -sum of users``, short < 0) and values them with Black-76 (forward = spot, no
discounting; :mod:`protocols.margin.greek_kernels`) at :func:`marked_vol`. At expiry
every holder is paid the intrinsic value at the oracle price out of the pool's USDC; if the pool
cannot pay in full, all holders of the expiring series are paid the same fraction and the rest is
recorded as a shortfall (a ``BAD_DEBT`` event), never a crash.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.margin.greek_kernels import DELTA, PRICE, VEGA, black76_greeks_usd
from protocols.margin.surface import VolSurface
from protocols.option_series import SeriesTable
from protocols.options_amm_params import OptionsAmmParams
from protocols.options_amm_pricing import GeometricTwap, marked_vol, std_vega_factor
from protocols.types import EventKind

__all__ = ["OptionBook", "VolMarks"]

_SIZE_TOL = 1e-9
_MIN_GWAV_VALUE = 1e-9  # a GWAV needs a positive value


def _clamp_skew(skew: float, params: OptionsAmmParams) -> float:
    """Skew as it enters its GWAV: clamped to ``[gwav_skew_floor, gwav_skew_cap]``."""
    return min(max(skew, params.gwav_skew_floor), params.gwav_skew_cap)


class VolMarks:
    """Base IV per board (one per expiry step) and skew per strike, with their GWAVs.

    A board's base IV starts at the surface's ATM vol at its expiry, a strike's skew at surface vol
    / ATM vol, both at the spot of listing. Series of one expiry share a board; calls and puts of
    one (expiry, strike) share a skew. ``board_of`` and ``strike_of`` map series ids to them.
    """

    def __init__(self, surface: VolSurface, params: OptionsAmmParams) -> None:
        self._surface = surface
        self._horizon = max(params.iv_gwav_seconds, params.skew_gwav_seconds)
        self._board: dict[int, int] = {}  # expiry step -> board index
        self._strike: dict[tuple[int, float], int] = {}  # (expiry step, strike) -> strike index
        self.base_ivs: list[float] = []
        self.skews: list[float] = []
        self._iv_gwav: list[GeometricTwap] = []
        self._skew_gwav: list[GeometricTwap] = []
        self.board_of = np.zeros(0, dtype=np.int64)
        self.strike_of = np.zeros(0, dtype=np.int64)

    def register(
        self,
        ids: np.ndarray,
        series: SeriesTable,
        step: int,
        spot_usd: float,
        params: OptionsAmmParams,
    ) -> None:
        """Mark newly listed series ``ids`` (series ids must arrive in increasing order)."""
        # GWAVs start one horizon back: the listing value has "always" held (as Lyra's first
        # observation scales to any earlier time), so a trade at the listing step still moves away
        # from it instead of replacing it
        since = float(step * series.step_seconds) - self._horizon
        boards, strikes = [], []
        for sid in ids:
            expiry, strike = int(series.expiry_step[sid]), float(series.strike_usd[sid])
            t = float(series.t_years(int(sid), step))
            if expiry not in self._board:
                self._board[expiry] = len(self.base_ivs)
                atm = float(self._surface.implied_vol(spot_usd, spot_usd, t))
                self.base_ivs.append(atm)
                self._iv_gwav.append(GeometricTwap(atm, since, horizon_seconds=self._horizon))
            b = self._board[expiry]
            if (expiry, strike) not in self._strike:
                self._strike[(expiry, strike)] = len(self.skews)
                # clamped into the GWAV band [0.5, 2]: Lyra lists boards with admin-set skews, and a
                # surface wing beyond it would read as a permanent skew variance
                skew = float(self._surface.implied_vol(spot_usd, strike, t)) / self.base_ivs[b]
                skew = _clamp_skew(skew, params)
                self.skews.append(skew)
                g = GeometricTwap(skew, since, horizon_seconds=self._horizon)
                self._skew_gwav.append(g)
            boards.append(b)
            strikes.append(self._strike[(expiry, strike)])
        self.board_of = np.concatenate([self.board_of, np.array(boards, dtype=np.int64)])
        self.strike_of = np.concatenate([self.strike_of, np.array(strikes, dtype=np.int64)])

    def board_index(self, expiry_step: int) -> int:
        """Board index of an expiry step (``KeyError`` if no board expires then)."""
        return self._board[int(expiry_step)]

    def vols(self, ids: np.ndarray, params: OptionsAmmParams) -> np.ndarray:
        """Vols series ``ids`` are priced and marked at (:func:`marked_vol`)."""
        base = np.asarray(self.base_ivs)[self.board_of[ids]]
        skew = np.asarray(self.skews)[self.strike_of[ids]]
        return marked_vol(base * skew, params)

    def set(
        self, sid: int, base_iv: float, skew: float, now_seconds: float, params: OptionsAmmParams
    ) -> None:
        """Post-trade base IV and skew of series ``sid``'s board and strike, into their GWAVs."""
        board, strike = int(self.board_of[sid]), int(self.strike_of[sid])
        self.base_ivs[board] = base_iv
        self.skews[strike] = skew
        self._iv_gwav[board].write(max(base_iv, _MIN_GWAV_VALUE), now_seconds)
        self._skew_gwav[strike].write(_clamp_skew(skew, params), now_seconds)

    def iv_variance(self, board: int, now_seconds: float, params: OptionsAmmParams) -> float:
        """``|GWAV_IV(iv_gwav_seconds) - baseIV|`` of a board."""
        gwav = self._iv_gwav[board].average(now_seconds, params.iv_gwav_seconds)
        return abs(gwav - self.base_ivs[board])

    def skew_variance(self, strike: int, now_seconds: float, params: OptionsAmmParams) -> float:
        """``|GWAV_skew(skew_gwav_seconds) - skew|`` of a strike."""
        gwav = self._skew_gwav[strike].average(now_seconds, params.skew_gwav_seconds)
        return abs(gwav - self.skews[strike])

    def max_variances(
        self, ids: np.ndarray, now_seconds: float, params: OptionsAmmParams
    ) -> tuple[float, float]:
        """Largest IV variance over the boards and skew variance over the strikes of ``ids``."""
        if ids.size == 0:
            return 0.0, 0.0
        iv = max(self.iv_variance(b, now_seconds, params) for b in np.unique(self.board_of[ids]))
        sk = max(self.skew_variance(k, now_seconds, params) for k in np.unique(self.strike_of[ids]))
        return iv, sk


class OptionBook:
    """Positions per series of users and of the pool, with settlement.

    Parameters
    ----------
    name
        The AMM's name (tags events).
    ledger, events
        The world's ledger and event log.
    series
        The AMM's listed series.
    marks
        Their vol marks.
    pool_holder, quote_asset
        Ledger holder and symbol of the pool's cash (pays settlements).
    asset
        Underlying symbol (event rows).
    """

    def __init__(
        self,
        name: str,
        ledger: Ledger,
        events: EventLog,
        *,
        series: SeriesTable,
        marks: VolMarks,
        pool_holder: int,
        quote_asset: str,
        asset: str,
    ) -> None:
        self.name, self.asset, self.quote_asset = name, asset, quote_asset
        self.series, self.marks = series, marks
        self._ledger, self._events = ledger, events
        self._pool_holder = pool_holder
        self._quote_id = ledger.asset_id(quote_asset)
        self.pool_size = np.zeros(0)
        self._holdings: dict[int, dict[int, float]] = {}  # holder -> {series id: size}
        self.settlement_paid_total_usd = 0.0
        self.settlement_shortfall_total_usd = 0.0

    def register(
        self, ids: np.ndarray, step: int, spot_usd: float, params: OptionsAmmParams
    ) -> None:
        """Mark newly listed series and make room for their positions."""
        self.marks.register(ids, self.series, step, spot_usd, params)
        self.pool_size = np.concatenate([self.pool_size, np.zeros(len(ids))])

    def greeks(self, ids: np.ndarray, vols: np.ndarray, spot_usd: float, step: int) -> np.ndarray:
        """``(6, n)`` Black-76 price and Greeks (USD) of series ``ids`` at ``vols``."""
        s, n = self.series, ids.size
        return black76_greeks_usd(
            np.full(n, spot_usd),
            s.strike_usd[ids],
            s.t_years(ids, step),
            vols,
            np.ones(n),
            s.is_call[ids],
        )

    def valuation(
        self, spot_usd: float, step: int, params: OptionsAmmParams
    ) -> tuple[float, float, float, float]:
        """``(mark value USD, delta coins, vega USD/vol pt, standard vega)`` of the pool."""
        ids = np.flatnonzero(self.series.active & (self.pool_size != 0.0))
        if ids.size == 0:
            return 0.0, 0.0, 0.0, 0.0
        g = self.greeks(ids, self.marks.vols(ids, params), spot_usd, step)
        size = self.pool_size[ids]
        t_s = (self.series.expiry_step[ids] - step) * self.series.step_seconds
        std = np.array([std_vega_factor(float(t)) for t in t_s])
        vega = size * g[VEGA]
        return float(size @ g[PRICE]), float(size @ g[DELTA]), vega.sum(), float(vega @ std)

    def position(self, holder: int, series_id: int) -> float:
        """A user's size in a series (long > 0)."""
        return self._holdings.get(holder, {}).get(int(series_id), 0.0)

    def positions_of(self, holder: int) -> dict[int, float]:
        """A user's open positions, ``{series_id: size_base}``."""
        return dict(self._holdings.get(holder, {}))

    def fill(self, holder: int, series_id: int, size_base: float) -> None:
        """The user's position changes by ``size_base`` and the pool's by the opposite."""
        pos = self._holdings.setdefault(holder, {})
        new = pos.get(series_id, 0.0) + size_base
        if abs(new) > _SIZE_TOL:
            pos[series_id] = new
        else:
            pos.pop(series_id, None)
        if not pos:
            del self._holdings[holder]
        self.pool_size[series_id] -= size_base

    def locked_collateral_usd(self, spot_usd: float) -> float:
        """Collateral of the pool's short options: strike per put, spot per call, USD."""
        series = self.series
        short = np.minimum(self.pool_size, 0.0) * series.active
        per_unit = np.where(series.is_call, spot_usd, series.strike_usd)
        return float(-short @ per_unit)

    def settle(
        self,
        ids: np.ndarray,
        spot_usd: float,
        raise_cash: Callable[[float], None],
    ) -> None:
        """Pay the holders of expiring ``ids`` their intrinsic value at ``spot_usd``.

        ``raise_cash(usd)`` is called first with the amount the pool's USDC lacks (the AMM
        withdraws spare hedge margin). Payouts are pro rata if the pool still cannot pay.
        """
        strike = self.series.strike_usd[ids]
        intrinsic = np.where(self.series.is_call[ids], spot_usd - strike, strike - spot_usd)
        intrinsic = intrinsic.clip(min=0.0)
        long_base = np.zeros(ids.size)
        owed_by: dict[int, float] = {}
        for holder in list(self._holdings):
            pos = self._holdings[holder]
            for j, sid in enumerate(ids):
                n = pos.pop(int(sid), 0.0)
                long_base[j] += n
                owed_by[holder] = owed_by.get(holder, 0.0) + n * intrinsic[j]
            if not pos:
                del self._holdings[holder]
        owed = float(long_base @ intrinsic)
        cash = self._ledger.balance(self._pool_holder, self._quote_id)
        if owed > cash:
            raise_cash(owed - cash)
            cash = self._ledger.balance(self._pool_holder, self._quote_id)
        ratio = 1.0 if owed <= cash else cash / owed
        for holder, usd in owed_by.items():
            if usd > 0.0:
                self._ledger.transfer(self._pool_holder, holder, self._quote_id, usd * ratio)
        for j, sid in enumerate(ids):
            self._events.record(
                EventKind.SETTLEMENT,
                self.name,
                asset=self.asset,
                amount=long_base[j],
                value_usd=long_base[j] * intrinsic[j] * ratio,
                detail=f"series={sid} strike_usd={strike[j]:g} settle_usd={spot_usd:.8g}",
            )
        self.pool_size[ids] = 0.0
        self.settlement_paid_total_usd += owed * ratio
        shortfall = owed * (1.0 - ratio)
        if shortfall > 0.0:
            self.settlement_shortfall_total_usd += shortfall
            self._events.record(
                EventKind.BAD_DEBT,
                self.name,
                asset=self.quote_asset,
                amount=shortfall,
                value_usd=shortfall,
                detail="option settlement shortfall, holders paid pro rata",
            )
