"""Scenario-grid portfolio margin of every account: full revaluation, Taylor, and their basis.

Thin wrappers over ``portfolio_kernels`` and ``taylor_kernels``: unpack a :class:`PositionBook`
and a :class:`ScenarioGrid`, run the one-pass kernel of the chosen method, and split the
requirement into initial and maintenance margin by the grid's ``scan_level`` and ``im_over_mm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from protocols.margin.book import PositionBook
from protocols.margin.portfolio_kernels import (
    margin_from_greeks,
    margin_from_pnl,
    scenario_pnl_full,
)
from protocols.margin.scenario_grid import ScenarioGrid
from protocols.margin.taylor_kernels import taylor_aggregates

__all__ = [
    "BasisRiskResult",
    "MarginMethod",
    "PortfolioMarginResult",
    "basis_risk",
    "check_forward",
    "portfolio_margin",
    "scenario_pnl",
]


class MarginMethod(IntEnum):
    """How scenario P&L is computed."""

    FULL = 0
    """Black-76 repricing of every option in every scenario."""
    TAYLOR = 1
    """Delta-gamma-vega (plus exact carry) from per-account aggregate Greeks."""


@dataclass(frozen=True, kw_only=True)
class PortfolioMarginResult:
    """Per-account portfolio margin, USD; every array has shape ``(n_accounts,)``.

    ``requirement_usd = max(scan_usd, min_delta_usd, som_usd) + contingency_usd``; ``initial_usd``
    and ``maintenance_usd`` derive from it (:meth:`ScenarioGrid.initial_and_maintenance`);
    ``status`` holds :class:`~protocols.margin.portfolio_kernels.MarginStatus` codes.
    """

    initial_usd: np.ndarray
    maintenance_usd: np.ndarray
    requirement_usd: np.ndarray
    scan_usd: np.ndarray
    min_delta_usd: np.ndarray
    som_usd: np.ndarray
    contingency_usd: np.ndarray
    status: np.ndarray


def check_forward(forward_usd: float, where: str) -> float:
    """``forward_usd`` as a float, or a ``ValueError`` naming ``where`` and the rule."""
    f = float(forward_usd)
    if not (math.isfinite(f) and f > 0.0):
        raise ValueError(f"{where}.forward_usd: must be > 0 and finite, got {forward_usd!r}")
    return f


def _book_args(book: PositionBook) -> tuple[np.ndarray, ...]:
    return book.account, book.kind, book.size_base, book.strike_usd, book.t_years, book.iv


def scenario_pnl(
    book: PositionBook, forward_usd: float, grid: ScenarioGrid
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-revaluation ``(pnl_usd (n_accounts, n_scenarios), agg, status)`` of every account."""
    f = check_forward(forward_usd, "scenario_pnl")
    spot, vol, _, term, charges = grid.kernel_arrays()
    vol_levels, vol_index = np.unique(vol, return_inverse=True)
    index = vol_index.astype(np.int64)
    args = (f, spot, vol_levels, index, term, charges, book.n_accounts)
    return scenario_pnl_full(*_book_args(book), *args)


def portfolio_margin(
    book: PositionBook,
    forward_usd: float,
    grid: ScenarioGrid,
    *,
    method: MarginMethod = MarginMethod.FULL,
) -> PortfolioMarginResult:
    """Initial and maintenance portfolio margin of every account of ``book``.

    Parameters
    ----------
    book
        Positions of all accounts on one underlying.
    forward_usd
        Forward (index) price, USD per coin.
    grid
        Scenarios, weights and charges (:func:`~protocols.margin.scenario_grid.deribit_grid`,
        :func:`~protocols.margin.scenario_grid.span_grid`, ...).
    method
        :attr:`MarginMethod.FULL` (exact repricing) or :attr:`MarginMethod.TAYLOR` (fast).

    Notes
    -----
    DOMAIN.md A2/A3: ``SCAN = max(0, max_k -w_k PnL_k)``, ``requirement = max(SCAN, MinDelta,
    SOM) + contingencies``. Long options alone never need more than their mark value (the
    minimum-delta charge caps their delta, and the scan is capped at the premium), as Deribit's
    standard margin charges a long option its premium only.
    """
    f = check_forward(forward_usd, "portfolio_margin")
    method = MarginMethod(method)
    spot, vol, weights, term, charges = grid.kernel_arrays()
    if method is MarginMethod.FULL:
        pnl, agg, status = scenario_pnl(book, f, grid)
        out = margin_from_pnl(pnl, agg, weights, charges, f)
    else:
        greeks, agg, status = taylor_aggregates(
            *_book_args(book), f, term, charges, book.n_accounts
        )
        out = margin_from_greeks(greeks, agg, spot, vol, weights, charges, f)
    req = out[:, 0]
    im, mm = grid.initial_and_maintenance(req)
    return PortfolioMarginResult(
        initial_usd=im,
        maintenance_usd=mm,
        requirement_usd=req,
        scan_usd=out[:, 1],
        min_delta_usd=out[:, 2],
        som_usd=out[:, 3],
        contingency_usd=out[:, 4],
        status=status,
    )


@dataclass(frozen=True, kw_only=True)
class BasisRiskResult:
    """Taylor versus full-revaluation requirement, per account and summarised (USD).

    ``diff_usd = approx_usd - full_usd`` (negative: the approximation under-margins);
    relative errors are ``|diff| / full`` over accounts with ``full > 0``.
    """

    full_usd: np.ndarray
    approx_usd: np.ndarray
    diff_usd: np.ndarray
    max_abs_diff_usd: float
    p99_abs_diff_usd: float
    max_rel_diff: float
    p99_rel_diff: float
    under_margined_frac: float


def basis_risk(book: PositionBook, forward_usd: float, grid: ScenarioGrid) -> BasisRiskResult:
    """How far the delta-gamma-vega margin is from full revaluation on ``book``.

    Notes
    -----
    The gap is the convexity the quadratic misses (large moves on short-dated or far OTM
    options, the vol-of-the-smile terms vanna and volga); it is zero for futures-only books.
    """
    full = portfolio_margin(book, forward_usd, grid, method=MarginMethod.FULL).requirement_usd
    approx = portfolio_margin(book, forward_usd, grid, method=MarginMethod.TAYLOR).requirement_usd
    diff = approx - full
    abs_diff = np.abs(diff)
    pos = full > 0.0
    rel = abs_diff[pos] / full[pos]
    empty = abs_diff.size == 0
    return BasisRiskResult(
        full_usd=full,
        approx_usd=approx,
        diff_usd=diff,
        max_abs_diff_usd=0.0 if empty else float(abs_diff.max()),
        p99_abs_diff_usd=0.0 if empty else float(np.percentile(abs_diff, 99)),
        max_rel_diff=float(rel.max()) if rel.size else 0.0,
        p99_rel_diff=float(np.percentile(rel, 99)) if rel.size else 0.0,
        under_margined_frac=0.0 if empty else float(np.mean(diff < 0.0)),
    )
