"""Positions of a portfolio-margin exchange and the margin pass over them.

:class:`PmBook` keeps every account's signed size and average entry price per instrument in dense
``(accounts x instruments)`` arrays that grow as accounts open and option boards are listed
(column 0 is the perpetual, column ``1 + s`` option series ``s``). Each margin pass gathers the
non-zero cells into one :class:`~protocols.margin.book.PositionBook` and runs one kernel call per
margin mode over all accounts of that mode (:func:`margin_by_mode`); the liquidation engine runs
the same function over a small book of *candidate* reductions of one account.

Marks: an option is worth Black-76 on the forward ``F`` = oracle price with the surface's vol at
``(F, K, T)`` and no discounting (zero rates; crypto options are quoted on futures, DOMAIN.md B1);
the perpetual is marked at the oracle price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.greek_kernels import DELTA, GAMMA, THETA, VEGA, black76_greeks_usd
from protocols.margin.option_kernels import black76_prices
from protocols.margin.portfolio_margin import portfolio_margin
from protocols.margin.standard_margin import MarginCurrency, standard_margin
from protocols.margin.surface import VolSurface
from protocols.option_series import SeriesTable
from protocols.perp_liquidation import fill_position
from protocols.pm_params import TOL_USD, MarginMode, PmExchangeParams

__all__ = [
    "InstrumentRows",
    "PmBook",
    "PmMarginState",
    "book_greeks",
    "book_margin",
    "instrument_rows",
    "margin_by_mode",
    "reduction_candidates",
    "stacked_margin",
    "trade_allowed",
]

_CALL = int(InstrumentKind.CALL)

_DUST_REL = 1e-9  # a remainder this small relative to the position closes it


class PmBook:
    """Account state of the exchange as struct-of-arrays (rows: accounts).

    Attributes
    ----------
    size_base, entry_usd
        ``(accounts, instruments)`` signed sizes (coins) and average entry prices (USD per coin;
        the cost basis, used to rank auto-deleveraging, never reset by settlement).
    perp_settle_usd
        ``(accounts,)`` price the perpetual position was last settled at (variation margin: the
        unsettled perp PnL is ``size (S - perp_settle_usd)``).
    pending_usd
        ``(accounts,)`` signed claim on the clearing pool: > 0 owed to the account, < 0 owed by it.
    mode, holder, owner
        ``(accounts,)`` :class:`MarginMode`, ledger holder of the account's USDC, and the ledger
        holder (wallet) that owns it.
    """

    _PER_ACCOUNT = (
        ("perp_settle_usd", np.float64),
        ("pending_usd", np.float64),
        ("mode", np.int64),
        ("holder", np.int64),
        ("owner", np.int64),
    )

    def __init__(self, n_instruments: int) -> None:
        cap, cols = 16, max(int(n_instruments), 1)
        self.n_accounts = 0
        self.n_instruments = int(n_instruments)
        self.size_base = np.zeros((cap, cols))
        self.entry_usd = np.zeros((cap, cols))
        for name, dtype in self._PER_ACCOUNT:
            setattr(self, name, np.zeros(cap, dtype=dtype))

    def add_account(self, mode: MarginMode, holder: int, owner: int) -> int:
        """A new flat account; returns its row."""
        if self.n_accounts == self.mode.shape[0]:
            self._resize(2 * self.n_accounts, self.size_base.shape[1])
        a = self.n_accounts
        self.mode[a], self.holder[a], self.owner[a] = int(mode), holder, owner
        self.n_accounts += 1
        return a

    def add_instruments(self, n_instruments: int) -> None:
        """Make room for ``n_instruments`` columns in total (new ones start flat)."""
        if n_instruments > self.size_base.shape[1]:
            self._resize(self.mode.shape[0], max(n_instruments, 2 * self.size_base.shape[1]))
        self.n_instruments = max(self.n_instruments, int(n_instruments))

    def _resize(self, rows: int, cols: int) -> None:
        for name in ("size_base", "entry_usd"):
            old = getattr(self, name)
            new = np.zeros((rows, cols))
            new[: old.shape[0], : old.shape[1]] = old
            setattr(self, name, new)
        for name, dtype in self._PER_ACCOUNT:
            old = getattr(self, name)
            new = np.zeros(rows, dtype=dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def fill(self, a: int, col: int, delta: float, price: float) -> None:
        """Change ``a``'s position in column ``col`` by ``delta`` at ``price`` (no cash moves).

        Entry prices follow :func:`~protocols.perp_liquidation.fill_position`; the perpetual's PnL
        against its settlement price joins ``pending_usd`` (settled in cash by the clearing).
        """
        size = float(self.size_base[a, col])
        new, entry, _ = fill_position(size, float(self.entry_usd[a, col]), delta, price)
        if col == 0:
            settle = float(self.perp_settle_usd[a]) if size != 0.0 else price
            _, settle_after, realised = fill_position(size, settle, delta, price)
            self.pending_usd[a] += realised
            self.perp_settle_usd[a] = settle_after
        self.size_base[a, col], self.entry_usd[a, col] = new, entry

    def live(self, accounts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(account, column)`` of every non-zero position (of ``accounts``, default all)."""
        if accounts is None:
            return np.nonzero(self.size_base[: self.n_accounts, : self.n_instruments])
        r, c = np.nonzero(self.size_base[accounts, : self.n_instruments])
        return np.asarray(accounts)[r], c


class PmMarginState(NamedTuple):
    """Equity and requirements of accounts, USD arrays of shape ``(n_accounts,)``."""

    equity_usd: np.ndarray
    initial_usd: np.ndarray
    maintenance_usd: np.ndarray


@dataclass(frozen=True, slots=True)
class InstrumentRows:
    """Per-column margin inputs and marks of some instruments (arrays of equal length)."""

    kind: np.ndarray
    strike_usd: np.ndarray
    t_years: np.ndarray
    iv: np.ndarray
    mark_usd: np.ndarray


def instrument_rows(
    cols: np.ndarray, series: SeriesTable, surface: VolSurface, forward_usd: float, step: int
) -> InstrumentRows:
    """Kinds, strikes, times to expiry, mark vols and mark prices of columns ``cols``.

    Column 0 (the perpetual) is a FUTURE marked at ``forward_usd``; column ``1 + s`` is option
    series ``s`` at Black-76 with the surface vol (module docstring). Each distinct column is
    priced once.
    """
    cols, inv = np.unique(np.asarray(cols, dtype=np.int64), return_inverse=True)
    n = cols.size
    opt = cols > 0
    sid = cols[opt] - 1
    kind = np.full(n, int(InstrumentKind.FUTURE), dtype=np.int64)
    kind[opt] = np.where(series.is_call[sid], int(InstrumentKind.CALL), int(InstrumentKind.PUT))
    strike = np.full(n, forward_usd)
    strike[opt] = series.strike_usd[sid]
    t = np.zeros(n)
    t[opt] = series.t_years(sid, step)
    iv = np.zeros(n)
    mark = np.full(n, forward_usd)
    if sid.size:
        f = np.full(sid.size, forward_usd)
        iv[opt] = surface.implied_vol(f, strike[opt], t[opt])
        mark[opt] = black76_prices(
            f, strike[opt], t[opt], iv[opt], np.ones(sid.size), kind[opt] == _CALL
        )
    return InstrumentRows(kind[inv], strike[inv], t[inv], iv[inv], mark[inv])


def margin_by_mode(
    account: np.ndarray,
    size_base: np.ndarray,
    rows: InstrumentRows,
    modes: np.ndarray,
    forward_usd: float,
    params: PmExchangeParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial and maintenance margin (USD) of ``modes.size`` accounts, one kernel call per mode.

    Parameters
    ----------
    account, size_base
        ``(n,)`` account index (into ``modes``) and signed size of each position row.
    rows
        Instrument data of each row (:func:`instrument_rows`).
    modes
        ``(n_accounts,)`` :class:`MarginMode` of every account.
    forward_usd
        Oracle price, USD per coin.
    params
        The exchange's params (``grid`` for PORTFOLIO, ``standard`` for STANDARD, USD-margined).
    """
    n_accounts = int(modes.shape[0])
    im = np.zeros(n_accounts)
    mm = np.zeros(n_accounts)
    row_mode = modes[account]
    for mode in MarginMode:
        take = np.flatnonzero(row_mode == mode)
        if take.size == 0:
            continue
        book = PositionBook(
            account=account[take],
            kind=rows.kind[take],
            size_base=size_base[take],
            strike_usd=rows.strike_usd[take],
            t_years=rows.t_years[take],
            iv=np.where(rows.kind[take] == int(InstrumentKind.FUTURE), 0.0, rows.iv[take]),
            n_accounts=n_accounts,
        )
        if mode is MarginMode.PORTFOLIO:
            pm = portfolio_margin(book, forward_usd, params.grid)
            i_req, m_req = pm.initial_usd, pm.maintenance_usd
        else:
            sm = standard_margin(book, forward_usd, params.standard, currency=MarginCurrency.USD)
            i_req, m_req = sm.initial, sm.maintenance
        mine = modes == mode
        im[mine] = i_req[mine]
        mm[mine] = m_req[mine]
    return im, mm


def book_margin(
    book: PmBook,
    accounts: np.ndarray,
    cash_usd: np.ndarray,
    rows_of: Callable[[np.ndarray], InstrumentRows],
    forward_usd: float,
    params: PmExchangeParams,
) -> PmMarginState:
    """``(equity, initial, maintenance)`` USD of ``accounts`` of ``book``.

    ``equity = cash + pending + perp size x (S - settle price) + sum option size x mark``;
    ``rows_of(cols)`` gives the instrument rows (marks) of columns.
    """
    local = np.full(book.n_accounts, -1, dtype=np.int64)
    local[accounts] = np.arange(accounts.size)
    a_idx, cols = book.live(accounts)
    sizes = book.size_base[a_idx, cols]
    rows = rows_of(cols)
    perp_pnl = sizes * (forward_usd - book.perp_settle_usd[a_idx])
    value = np.where(cols == 0, perp_pnl, sizes * rows.mark_usd)
    equity = cash_usd + book.pending_usd[accounts]
    equity += np.bincount(local[a_idx], weights=value, minlength=accounts.size)
    im, mm = margin_by_mode(local[a_idx], sizes, rows, book.mode[accounts], forward_usd, params)
    return PmMarginState(equity, im, mm)


def stacked_margin(
    books: list[tuple[np.ndarray, np.ndarray]],
    modes: np.ndarray,
    rows_of: Callable[[np.ndarray], InstrumentRows],
    forward_usd: float,
    params: PmExchangeParams,
) -> tuple[np.ndarray, np.ndarray]:
    """IM and MM (USD) of hypothetical books ``[(cols, sizes), ...]`` in ``modes``.

    Book ``i`` is evaluated as account ``i``: one kernel call per mode for all of them (trade
    checks, liquidation candidates).
    """
    account = np.concatenate([np.full(len(c), i, np.int64) for i, (c, _) in enumerate(books)])
    cols = np.concatenate([np.asarray(c, np.int64) for c, _ in books])
    sizes = np.concatenate([np.asarray(q, float) for _, q in books])
    keep = sizes != 0.0
    rows = rows_of(cols[keep])
    modes = np.asarray(modes, dtype=np.int64)
    return margin_by_mode(account[keep], sizes[keep], rows, modes, forward_usd, params)


def trade_allowed(
    requirements: Callable[[list, np.ndarray], tuple[np.ndarray, np.ndarray]],
    book: PmBook,
    sides: tuple[tuple[int, float, float], ...],
    col: int,
    price_usd: float,
    equity_usd: np.ndarray,
    rows_of: Callable[[np.ndarray], InstrumentRows],
) -> bool:
    """Whether every side ``(account, delta, fee_usd)`` of a trade of column ``col`` at
    ``price_usd`` keeps ``equity >= IM`` after it, or does not raise its IM.

    ``requirements(books, modes)`` prices the before/after books of all sides in one pass
    (:func:`stacked_margin`); ``equity_usd`` is each side's equity before the trade, which moves
    by ``delta (mark - price) - fee``.
    """
    books, modes = [], []
    for a, delta, _ in sides:
        _, cols = book.live(np.array([a]))
        after_cols = np.union1d(cols, [col])
        after = book.size_base[a, after_cols].copy()
        after[np.searchsorted(after_cols, col)] += delta  # netted: one row per instrument
        books += [(cols, book.size_base[a, cols]), (after_cols, after)]
        modes += [book.mode[a]] * 2
    im, _ = requirements(books, np.array(modes))
    mark = float(rows_of(np.array([col])).mark_usd[0])
    for i, (_, delta, fee) in enumerate(sides):
        after_usd = equity_usd[i] + delta * (mark - price_usd) - fee
        if im[2 * i + 1] > im[2 * i] + TOL_USD and after_usd < im[2 * i + 1] - TOL_USD:
            return False
    return True


def reduction_candidates(
    size_base: np.ndarray, chunk_base: np.ndarray, chunk_frac: float
) -> np.ndarray:
    """``(p + 1, p)`` candidate books after one liquidation step of a ``p``-position account.

    Row ``j < p`` closes one chunk of position ``j`` (``min(|s_j|, chunk_j)``, toward zero);
    row ``p`` scales the whole book by ``1 - chunk_frac`` (or closes it when every position is
    within its last chunk).

    Notes
    -----
    The proportional row is what makes liquidation never *raise* the maintenance requirement:
    portfolio margin (scan, minimum delta, contingencies) is positively homogeneous of degree 1
    in the sizes, and standard margin is linear in option sizes and increasing in futures size,
    so ``MM((1 - f) x book) <= MM(book)``; closing one position alone can raise it (the leg of a
    hedge).
    """
    size = np.asarray(size_base, dtype=float)
    chunk = np.asarray(chunk_base, dtype=float)
    p = size.size
    out = np.tile(size, (p + 1, 1))
    qty = np.minimum(np.abs(size), chunk)
    closed = qty >= np.abs(size) * (1.0 - _DUST_REL)
    idx = np.arange(p)
    out[idx, idx] = np.where(closed, 0.0, size - np.sign(size) * qty)
    if np.all(np.abs(size) <= chunk * (1.0 + _DUST_REL)):
        out[p] = 0.0
    else:
        out[p] = size * (1.0 - chunk_frac)
    return out


def book_greeks(
    cols: np.ndarray, size_base: np.ndarray, rows: InstrumentRows, forward_usd: float
) -> tuple[float, float, float, float]:
    """``(delta_base, gamma_base_per_usd, vega_usd_per_vol_point, theta_usd_per_day)`` of a book.

    Options by ``black76_greeks_usd`` (undiscounted, on ``forward_usd``, at the mark vols); the
    perpetual (column 0) adds its size to delta.
    """
    opt = np.asarray(cols) > 0
    n = int(opt.sum())
    g = black76_greeks_usd(
        np.full(n, forward_usd),
        rows.strike_usd[opt],
        rows.t_years[opt],
        rows.iv[opt],
        np.ones(n),
        rows.kind[opt] == _CALL,
    )
    q = size_base[opt]
    delta = float(q @ g[DELTA] + size_base[~opt].sum())
    return delta, float(q @ g[GAMMA]), float(q @ g[VEGA]), float(q @ g[THETA])
