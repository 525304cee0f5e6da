"""The fused Taylor kernel against the Greek-based path, and its building blocks against libm."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.margin.book import InstrumentKind, PositionBook
from protocols.margin.margin_references import random_book
from protocols.margin.portfolio_kernels import greek_aggregates
from protocols.margin.scenario_grid import deribit_grid, span_grid
from protocols.margin.taylor_kernels import CHUNK_ROWS, taylor_aggregates

F = 60_000.0
FUT, CALL, PUT = int(InstrumentKind.FUTURE), int(InstrumentKind.CALL), int(InstrumentKind.PUT)
GRIDS = {
    "deribit": deribit_grid(),
    "span_lookahead": span_grid(0.12, 0.35),  # 1-day look-ahead: exercises the carry
    "no_delta_cap": dataclasses.replace(deribit_grid(), net_delta_frac=0.0, hedged_delta_frac=0.0),
}


def _both(book: PositionBook, grid, forward: float = F):
    _, _, _, term, charges = grid.kernel_arrays()
    args = (book.account, book.kind, book.size_base, book.strike_usd, book.t_years, book.iv)
    return (
        taylor_aggregates(*args, forward, term, charges, book.n_accounts),
        greek_aggregates(*args, forward, term, charges, book.n_accounts),
    )


def _assert_same_sums(new: np.ndarray, old: np.ndarray, floor: float = 0.0) -> None:
    """Equal to rounding: per column, relative to that column's largest |value| (sums cancel),
    or within ``floor`` (absolute) where the whole column is itself a cancellation. Columns
    below 1e-200 count as zero: the fused ``exp`` returns 0 where libm returns a subnormal."""
    assert new.shape == old.shape
    scale = np.maximum(np.abs(old).max(axis=0, initial=0.0), 1e-200)
    ok = np.abs(new - old) <= 1e-12 * scale + floor
    assert ok.all(), f"max diff / scale {np.max(np.abs(new - old) / scale, axis=0)}"


def _price_floor(book: PositionBook, forward: float) -> float:
    """Rounding of ``V(T - lookahead) - V(T)``: a few ulps of ``max(F, K)`` per coin."""
    return 1e-14 * float(np.sum(np.abs(book.size_base) * np.maximum(book.strike_usd, forward)))


def _assert_fused_matches_greek_path(book: PositionBook, grid, forward: float = F) -> None:
    (g_new, a_new, s_new), (g_old, a_old, s_old) = _both(book, grid, forward)
    _assert_same_sums(g_new[:, :5], g_old[:, :5])
    _assert_same_sums(g_new[:, 5:], g_old[:, 5:], _price_floor(book, forward))
    # the premium column is a signed sum of prices (longs minus shorts): it cancels like a price
    _assert_same_sums(a_new, a_old, _price_floor(book, forward))
    np.testing.assert_array_equal(s_new, s_old)


def _edge_book(rng: np.random.Generator, n: int, n_accounts: int) -> PositionBook:
    """Every kind, expired (t = 0) and live options, zero sizes, deep ITM/OTM strikes on a
    $500 grid and a few distinct ones, rows unsorted."""
    b = random_book(rng, n, n_accounts, F)
    strike = np.where(rng.random(n) < 0.7, np.round(b.strike_usd / 500.0) * 500.0, b.strike_usd)
    strike[rng.random(n) < 0.05] = F * rng.choice([0.05, 20.0], size=1)[0]
    size = np.where(rng.random(n) < 0.05, 0.0, b.size_base)
    t = np.where(rng.random(n) < 0.3, rng.choice([0.0, 1 / 365, 30 / 365], size=n), b.t_years)
    return dataclasses.replace(b, strike_usd=np.maximum(strike, 1.0), size_base=size, t_years=t)


@pytest.mark.parametrize("grid_name", sorted(GRIDS))
@pytest.mark.parametrize(
    ("seed", "n", "n_accounts"), [(1, 0, 3), (2, 1, 1), (3, 2 * CHUNK_ROWS + 7, 40), (4, 5000, 900)]
)
def test_taylor_aggregates_match_greek_path_on_random_books(grid_name, seed, n, n_accounts):
    book = _edge_book(np.random.default_rng(seed), n, n_accounts)
    _assert_fused_matches_greek_path(book, GRIDS[grid_name])


def test_taylor_aggregates_match_on_grouped_book_with_empty_accounts():
    rng = np.random.default_rng(9)
    book = _edge_book(rng, 3000, 400)
    order = np.argsort(book.account, kind="stable")
    grouped = dataclasses.replace(book.take(order), n_accounts=600)  # accounts 400.. empty
    _assert_fused_matches_greek_path(grouped, deribit_grid())
    (g, a, _), _ = _both(grouped, deribit_grid())
    assert not g[400:].any() and not a[400:].any()


def test_taylor_aggregates_match_for_futures_only_and_expired_only_books():
    rng = np.random.default_rng(5)
    n = 700
    base = random_book(rng, n, 50, F)
    futures = dataclasses.replace(base, kind=np.full(n, FUT))
    expired = dataclasses.replace(base, kind=rng.choice([CALL, PUT], size=n), t_years=np.zeros(n))
    for book in (futures, expired):
        for grid in GRIDS.values():
            _assert_fused_matches_greek_path(book, grid)
    (g, _, _), _ = _both(futures, deribit_grid())
    assert not g[:, 1:].any()  # futures have delta only


def test_taylor_aggregates_on_a_book_of_distinct_expiries_and_strikes():
    rng = np.random.default_rng(6)
    book = random_book(rng, 20_000, 2000, F)  # every t and strike distinct
    _assert_fused_matches_greek_path(book, GRIDS["span_lookahead"])


def test_taylor_aggregates_independent_of_row_order():
    rng = np.random.default_rng(8)
    book = _edge_book(rng, 4000, 300)
    shuffled = book.take(rng.permutation(book.n_positions))
    (g1, a1, _), _ = _both(book, deribit_grid())
    (g2, a2, _), _ = _both(shuffled, deribit_grid())
    _assert_same_sums(g2, g1)
    _assert_same_sums(a2, a1)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 300),
    n_accounts=st.integers(1, 20),
    forward=st.floats(100.0, 1e6),
    grid_name=st.sampled_from(sorted(GRIDS)),
)
def test_taylor_aggregates_match_greek_path_property(seed, n, n_accounts, forward, grid_name):
    book = _edge_book(np.random.default_rng(seed), n, n_accounts)
    _assert_fused_matches_greek_path(book, GRIDS[grid_name], forward)
