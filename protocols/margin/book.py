"""The struct-of-arrays book of positions on one underlying, as the margin engines read it.

Deribit stresses each settlement currency separately (DOMAIN.md A2 [S]), so a book holds the
positions of every account on *one* underlying; the forward (or index) price is passed beside it
to each margin function, never stored, because it changes every step while the book does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = ["InstrumentKind", "PositionBook"]


class InstrumentKind(IntEnum):
    """What one row of a :class:`PositionBook` is (passed into kernels as ``int64``)."""

    FUTURE = 0
    """A future or perpetual: delta one, ``strike_usd``, ``t_years`` and ``iv`` are ignored."""
    CALL = 1
    PUT = 2


_FIELDS = ("account", "kind", "size_base", "strike_usd", "t_years", "iv")


@dataclass(frozen=True, kw_only=True)
class PositionBook:
    """Positions of all accounts on one underlying, one row per (account, instrument).

    Parameters
    ----------
    account
        ``(n,)`` int64 account ids in ``0 .. n_accounts - 1``; rows need not be sorted.
    kind
        ``(n,)`` int64 :class:`InstrumentKind` values.
    size_base
        ``(n,)`` signed size in coins of the underlying (long > 0, short < 0).
    strike_usd
        ``(n,)`` strike, USD per coin; > 0 for options (any finite value for futures).
    t_years
        ``(n,)`` time to expiry in years, >= 0 (0 means expiring now: intrinsic value).
    iv
        ``(n,)`` annualised implied volatility of each option (1.00 = 100%), > 0 for options.
    n_accounts
        Number of accounts; accounts without positions get zero margin.

    Notes
    -----
    Venues net positions per instrument, so one row per (account, instrument) is the expected
    layout; the per-strike contingency of the scenario grid counts short *rows*, which equals
    Deribit's per-strike rule only with that netting (see ``portfolio_kernels``).
    """

    account: np.ndarray
    kind: np.ndarray
    size_base: np.ndarray
    strike_usd: np.ndarray
    t_years: np.ndarray
    iv: np.ndarray
    n_accounts: int

    def __post_init__(self) -> None:
        name = type(self).__name__
        conv = {
            "account": np.int64,
            "kind": np.int64,
            "size_base": np.float64,
            "strike_usd": np.float64,
            "t_years": np.float64,
            "iv": np.float64,
        }
        for f in _FIELDS:
            arr = np.ascontiguousarray(getattr(self, f), dtype=conv[f])
            if arr.ndim != 1:
                raise ValueError(f"{name}.{f}: must be 1-D, got shape {arr.shape}")
            object.__setattr__(self, f, arr)
        n = self.account.shape[0]
        for f in _FIELDS[1:]:
            if getattr(self, f).shape[0] != n:
                raise ValueError(
                    f"{name}.{f}: must have the length of account ({n}), "
                    f"got {getattr(self, f).shape[0]}"
                )
        if isinstance(self.n_accounts, bool) or not isinstance(self.n_accounts, int | np.integer):
            raise ValueError(f"{name}.n_accounts: must be an int, got {self.n_accounts!r}")
        if self.n_accounts < 0:
            raise ValueError(f"{name}.n_accounts: must be >= 0, got {self.n_accounts}")
        if n and (self.account.min() < 0 or self.account.max() >= self.n_accounts):
            raise ValueError(
                f"{name}.account: must be in [0, n_accounts={self.n_accounts}), "
                f"got range [{self.account.min()}, {self.account.max()}]"
            )
        valid = np.isin(self.kind, [int(k) for k in InstrumentKind])
        if not valid.all():
            raise ValueError(
                f"{name}.kind: must be an InstrumentKind value, got {self.kind[~valid][0]}"
            )
        for f in _FIELDS[2:]:
            if not np.isfinite(getattr(self, f)).all():
                raise ValueError(f"{name}.{f}: must be finite")
        if (self.t_years < 0.0).any():
            raise ValueError(f"{name}.t_years: must be >= 0, got {self.t_years.min()}")
        option = self.kind != InstrumentKind.FUTURE
        if (self.iv[option] <= 0.0).any():
            raise ValueError(f"{name}.iv: must be > 0 for options, got {self.iv[option].min()}")
        if (self.strike_usd[option] <= 0.0).any():
            raise ValueError(
                f"{name}.strike_usd: must be > 0 for options, got {self.strike_usd[option].min()}"
            )

    @property
    def n_positions(self) -> int:
        """Number of rows."""
        return int(self.account.shape[0])

    def take(self, rows: np.ndarray) -> PositionBook:
        """A book of the selected rows (same account ids and ``n_accounts``)."""
        return PositionBook(
            **{f: getattr(self, f)[rows] for f in _FIELDS}, n_accounts=self.n_accounts
        )

    @staticmethod
    def concat(books: list[PositionBook]) -> PositionBook:
        """All rows of ``books`` in one book; ``n_accounts`` is the largest of theirs."""
        if not books:
            raise ValueError("PositionBook.concat: books must be non-empty, got []")
        return PositionBook(
            **{f: np.concatenate([getattr(b, f) for b in books]) for f in _FIELDS},
            n_accounts=max(b.n_accounts for b in books),
        )
