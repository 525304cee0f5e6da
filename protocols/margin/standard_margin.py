"""Standard (non-portfolio) margin of options and futures, Deribit style, per position and account.

Coin-margined (Deribit: margins in coin per coin of underlying) and USD-margined (Aevo: the same
formulas with a USD spot multiplier) conventions are explicit: every function takes a
:class:`MarginCurrency` and its outputs are named for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from protocols.margin._jit import kernel
from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.option_kernels import black76_price

__all__ = [
    "MarginCurrency",
    "StandardMarginParams",
    "StandardMarginResult",
    "aevo_params",
    "position_standard_margin",
    "standard_margin",
]

_FUTURE = int(InstrumentKind.FUTURE)
_CALL = int(InstrumentKind.CALL)


class MarginCurrency(IntEnum):
    """Unit of a margin requirement."""

    COIN = 0
    """Coin of the underlying per position (Deribit inverse, coin-settled)."""
    USD = 1
    """USD (Aevo, linear USDC-settled)."""


@dataclass(frozen=True, kw_only=True)
class StandardMarginParams:
    """Rates of the standard margin formulas (defaults: Deribit BTC).

    Parameters
    ----------
    option_im_frac, option_im_floor_frac
        Short option IM ``max(option_im_frac - OTM/S, option_im_floor_frac) + mark``
        (0.15, 0.10; DOMAIN.md A1 [S]).
    short_call_mm_frac
        Short call MM ``short_call_mm_frac + mark`` (Deribit 0.075 [S]; Aevo 0.10 [S]).
    short_put_mm_frac
        Short put MM ``max(short_put_mm_frac, short_put_mm_frac x mark) + mark`` (same values).
    future_im_frac, future_mm_frac
        Futures IM/MM rate at zero size (Deribit BTC 2.0% and 1.5% [S],
        test.deribit.com/pages/docs/futures).
    future_frac_per_base
        Increase of both rates per coin of position (0.5% per 100 BTC [S], same page).

    Notes
    -----
    All values in coin per coin of underlying (USD margins multiply by ``S``); they are venue
    defaults to calibrate from, not live values.
    """

    option_im_frac: float = 0.15
    option_im_floor_frac: float = 0.10
    short_call_mm_frac: float = 0.075
    short_put_mm_frac: float = 0.075
    future_im_frac: float = 0.02
    future_mm_frac: float = 0.015
    future_frac_per_base: float = 0.005 / 100.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"StandardMarginParams.{f.name}: must be >= 0, got {v!r}")
        if self.option_im_floor_frac > self.option_im_frac:
            raise ValueError(
                "StandardMarginParams.option_im_floor_frac: must be <= option_im_frac, "
                f"got {self.option_im_floor_frac} > {self.option_im_frac}"
            )

    def as_array(self) -> np.ndarray:
        """The seven rates in field order, for kernels."""
        return np.array([getattr(self, f.name) for f in fields(self)])


def aevo_params() -> StandardMarginParams:
    """Aevo's USD-margined rates (DOMAIN.md A1 [S]); its futures rates are Deribit's [R]."""
    return StandardMarginParams(short_call_mm_frac=0.10, short_put_mm_frac=0.10)


@kernel
def position_standard_margin(kind, size_base, strike_usd, t_years, iv, index_usd, rates, usd):
    """Initial and maintenance margin of every position, coin (``usd`` False) or USD.

    Parameters
    ----------
    kind, size_base, strike_usd, t_years, iv
        Book arrays.
    index_usd
        Underlying mark ``S``, USD per coin.
    rates
        :meth:`StandardMarginParams.as_array`.
    usd
        True for USD-margined results.

    Returns
    -------
    im, mm : (n,) per-position requirements.

    Notes
    -----
    Per coin, with ``mark`` the Black-76 value in coin and ``OTM`` the out-of-the-money amount
    (DOMAIN.md A1 [S]): long option IM = mark, MM = 0; short call IM = ``max(0.15 - OTM/S, 0.10)
    + mark``, MM = ``0.075 + mark``; short put MM = ``max(0.075, 0.075 mark) + mark``, IM =
    ``max(max(0.15 - OTM/S, 0.10) + mark, MM)``. Futures: ``|q| (r0 + r1 |q|)``. Times ``|q|``,
    times ``S`` in USD.
    """
    n = kind.shape[0]
    im = np.zeros(n)
    mm = np.zeros(n)
    unit = index_usd if usd else 1.0
    for i in range(n):
        q = abs(size_base[i])
        if q == 0.0:
            continue
        if kind[i] == _FUTURE:
            im[i] = q * (rates[4] + rates[6] * q) * unit
            mm[i] = q * (rates[5] + rates[6] * q) * unit
            continue
        is_call = kind[i] == _CALL
        mark = black76_price(index_usd, strike_usd[i], t_years[i], iv[i], 1.0, is_call) / index_usd
        if size_base[i] > 0.0:
            im[i] = q * mark * unit
            continue
        if is_call:
            otm = max(strike_usd[i] - index_usd, 0.0) / index_usd
            m = rates[2] + mark
        else:
            otm = max(index_usd - strike_usd[i], 0.0) / index_usd
            m = max(rates[3], rates[3] * mark) + mark
        i_req = max(rates[0] - otm, rates[1]) + mark
        if not is_call:
            i_req = max(i_req, m)
        im[i] = q * i_req * unit
        mm[i] = q * m * unit
    return im, mm


@dataclass(frozen=True, kw_only=True)
class StandardMarginResult:
    """Per-account standard margin in ``currency`` units, arrays of shape ``(n_accounts,)``."""

    initial: np.ndarray
    maintenance: np.ndarray
    currency: MarginCurrency


def standard_margin(
    book: PositionBook,
    index_usd: float,
    params: StandardMarginParams | None = None,
    *,
    currency: MarginCurrency = MarginCurrency.COIN,
) -> StandardMarginResult:
    """Initial and maintenance standard margin of every account: the sum over its positions.

    Parameters
    ----------
    book
        Positions (futures net per instrument: one row per account and future).
    index_usd
        Underlying mark price ``S``, USD per coin.
    params
        Rates (default Deribit BTC, :class:`StandardMarginParams`).
    currency
        ``COIN`` (Deribit) or ``USD`` (Aevo; pass :func:`aevo_params`).
    """
    s = float(index_usd)
    if not (math.isfinite(s) and s > 0.0):
        raise ValueError(f"standard_margin.index_usd: must be > 0 and finite, got {index_usd!r}")
    params = StandardMarginParams() if params is None else params
    currency = MarginCurrency(currency)
    usd = currency is MarginCurrency.USD
    rows = (book.kind, book.size_base, book.strike_usd, book.t_years, book.iv)
    im, mm = position_standard_margin(*rows, s, params.as_array(), usd)
    n = book.n_accounts
    return StandardMarginResult(
        initial=np.bincount(book.account, weights=im, minlength=n),
        maintenance=np.bincount(book.account, weights=mm, minlength=n),
        currency=currency,
    )
