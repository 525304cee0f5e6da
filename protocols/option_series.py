"""Listed option series of one underlying: strikes x expiries, rolled as boards expire.

Both option venues (the options AMM and the portfolio-margin exchange) list their options with a
:class:`SeriesTable`, so "the 28-day 90% put" means the same thing on both. A *board* is every
strike of one expiry, calls and puts (Lyra v1's word, DOMAIN.md A6). Each tenor of
:class:`ListingParams` keeps one live board; when it expires a new one is listed at ``now + tenor``
with strikes around the spot price of that moment, so a long run always has short and long dated
options to trade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SECONDS_PER_YEAR", "ListingParams", "SeriesTable"]

SECONDS_PER_YEAR = 365.0 * 86_400.0


@dataclass(frozen=True, kw_only=True)
class ListingParams:
    """Which series a venue lists.

    Parameters
    ----------
    expiries_days
        Tenor of each board when it is listed, days (one live board per tenor). Deribit lists
        dailies, weeklies, monthlies and quarterlies; Lyra v1 listed weekly and monthly boards
        [S]. The default keeps a weekly, a two-week and a four-week board.
    strikes_moneyness
        Strikes as multiples of the spot price at listing.
    strike_tick_usd
        Strikes are rounded to a multiple of this (Deribit ETH strikes are multiples of 25 or 50),
        or of a finer 1-2-2.5-5 step when this is more than 1% of spot (ETH at $195 in 2020 had
        $5 and $10 strikes), so the moneyness ladder survives rounding at any price.
    """

    expiries_days: tuple[float, ...] = (7.0, 14.0, 28.0)
    strikes_moneyness: tuple[float, ...] = (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25)
    strike_tick_usd: float = 25.0

    def __post_init__(self) -> None:
        name = type(self).__name__
        for fld in ("expiries_days", "strikes_moneyness"):
            values = getattr(self, fld)
            if not values:
                raise ValueError(f"{name}.{fld}: must be non-empty, got {values!r}")
            if not all(math.isfinite(v) and v > 0.0 for v in values):
                raise ValueError(f"{name}.{fld}: every value must be > 0 and finite, got {values}")
        if not (math.isfinite(self.strike_tick_usd) and self.strike_tick_usd > 0.0):
            raise ValueError(f"{name}.strike_tick_usd: must be > 0, got {self.strike_tick_usd}")


def _nice_step(x: float) -> float:
    """The largest 1, 2, 2.5 or 5 times a power of ten that is <= ``x`` (``x > 0``)."""
    exp = 10.0 ** math.floor(math.log10(x))
    return max(m for m in (1.0, 2.0, 2.5, 5.0) if m * exp <= x * (1 + 1e-12)) * exp


class SeriesTable:
    """Every series a venue has listed (active or settled), as struct-of-arrays.

    Series ids are row numbers and are never reused, so positions keyed by series id stay valid
    after their series settles.
    """

    def __init__(self, params: ListingParams, *, step_seconds: int) -> None:
        self.params = params
        self.step_seconds = step_seconds
        self.strike_usd = np.zeros(0)
        self.expiry_step = np.zeros(0, dtype=np.int64)
        self.is_call = np.zeros(0, dtype=bool)
        self.active = np.zeros(0, dtype=bool)
        self.slot = np.zeros(0, dtype=np.int64)  # which tenor of params.expiries_days

    @property
    def n_series(self) -> int:
        """Number of series ever listed."""
        return int(self.strike_usd.size)

    def tenor_steps(self, slot: int) -> int:
        """Length of tenor ``slot`` in steps (at least one)."""
        days = self.params.expiries_days[slot]
        return max(1, round(days * 86_400.0 / self.step_seconds))

    def list_board(self, slot: int, step: int, spot_usd: float) -> np.ndarray:
        """List calls and puts at every strike of tenor ``slot``, expiring ``tenor`` from ``step``.

        Returns the new series ids. Strikes that round to the same tick are listed once.
        """
        if not (math.isfinite(spot_usd) and spot_usd > 0.0):
            raise ValueError(f"SeriesTable.list_board: spot_usd must be > 0, got {spot_usd!r}")
        tick = min(self.params.strike_tick_usd, _nice_step(0.01 * spot_usd))
        strikes = np.unique(
            np.maximum(tick, np.round(np.asarray(self.params.strikes_moneyness) * spot_usd / tick))
            * tick
        )
        strikes = np.maximum(strikes, tick)
        n = strikes.size
        first = self.n_series
        self.strike_usd = np.concatenate([self.strike_usd, strikes, strikes])
        expiry = step + self.tenor_steps(slot)
        self.expiry_step = np.concatenate([self.expiry_step, np.full(2 * n, expiry, np.int64)])
        self.is_call = np.concatenate([self.is_call, np.ones(n, bool), np.zeros(n, bool)])
        self.active = np.concatenate([self.active, np.ones(2 * n, bool)])
        self.slot = np.concatenate([self.slot, np.full(2 * n, slot, np.int64)])
        return np.arange(first, first + 2 * n)

    def list_all(self, step: int, spot_usd: float) -> np.ndarray:
        """List one board per tenor (the venue's opening listing)."""
        ids = [self.list_board(s, step, spot_usd) for s in range(len(self.params.expiries_days))]
        return np.concatenate(ids)

    def expiring(self, step: int) -> np.ndarray:
        """Ids of active series whose expiry step has come."""
        return np.flatnonzero(self.active & (self.expiry_step <= step))

    def settle(self, ids: np.ndarray, step: int, spot_usd: float) -> np.ndarray:
        """Deactivate ``ids`` and list a replacement board for each tenor slot that expired.

        Returns the ids of the newly listed series.
        """
        ids = np.asarray(ids, dtype=np.int64)
        self.active[ids] = False
        new = [self.list_board(int(s), step, spot_usd) for s in np.unique(self.slot[ids])]
        return np.concatenate(new) if new else np.zeros(0, dtype=np.int64)

    def t_years(self, ids: np.ndarray | int, step: int) -> np.ndarray:
        """Time to expiry of ``ids`` at ``step``, years (0 once expired)."""
        left = np.maximum(self.expiry_step[ids] - step, 0)
        return left * (self.step_seconds / SECONDS_PER_YEAR)

    def active_ids(self) -> np.ndarray:
        """Ids of the series that can trade (not yet settled)."""
        return np.flatnonzero(self.active)

    def find(self, *, is_call: bool, strike_usd: float, tenor_days: float, step: int) -> int:
        """The active series nearest to (``tenor_days``, ``strike_usd``), or -1 if none is listed.

        Nearest expiry first (in steps), then nearest strike; ties go to the lower id.
        """
        ids = np.flatnonzero(self.active & (self.is_call == bool(is_call)))
        ids = ids[self.expiry_step[ids] > step]
        if ids.size == 0:
            return -1
        target = step + tenor_days * 86_400.0 / self.step_seconds
        gap_t = np.abs(self.expiry_step[ids] - target)
        ids = ids[gap_t == gap_t.min()]
        gap_k = np.abs(self.strike_usd[ids] - strike_usd)
        return int(ids[np.argmin(gap_k)])
