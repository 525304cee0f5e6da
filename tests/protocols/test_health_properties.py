"""Properties of the lending and perp health kernels: liquidatable sets are monotone in prices,
debt and maintenance scale, and independent of account order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from protocols.margin import lending_kernels, perp_kernels
from protocols.perp_params import PerpParams

PROPS = settings(max_examples=60, deadline=None)
amounts = st.floats(0.0, 1e4, allow_nan=False, allow_infinity=False)


@st.composite
def lending_books(draw):
    n = draw(st.integers(1, 30))
    k = draw(st.integers(1, 3))
    collateral = draw(hnp.arrays(np.float64, (n, k), elements=amounts))
    debt = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 5e7)))
    prices = draw(hnp.arrays(np.float64, k, elements=st.floats(1.0, 1e5)))
    lts = draw(hnp.arrays(np.float64, k, elements=st.floats(0.3, 0.95)))
    return collateral, prices, lts, debt


def _lending_set(collateral, prices, lts, debt, debt_price=1.0) -> set[int]:
    ids = lending_kernels.find_liquidatable(collateral, prices, lts, debt, debt_price)
    return set(ids.tolist())


@PROPS
@given(book=lending_books(), cut=st.floats(0.0, 1.0))
def test_lending_lower_collateral_prices_never_shrink_the_liquidatable_set(book, cut):
    collateral, prices, lts, debt = book
    assert _lending_set(collateral, prices, lts, debt) <= _lending_set(
        collateral, prices * cut, lts, debt
    )


@PROPS
@given(book=lending_books(), data=st.data())
def test_lending_higher_debt_never_shrinks_the_liquidatable_set(book, data):
    collateral, prices, lts, debt = book
    extra = data.draw(hnp.arrays(np.float64, debt.shape, elements=st.floats(0.0, 1e7)))
    base = _lending_set(collateral, prices, lts, debt)
    assert base <= _lending_set(collateral, prices, lts, debt + extra)
    assert base <= _lending_set(collateral, prices, lts, debt, debt_price=1.5)


@PROPS
@given(book=lending_books(), seed=st.integers(0, 2**32 - 1))
def test_lending_liquidatable_set_is_independent_of_account_order(book, seed):
    collateral, prices, lts, debt = book
    perm = np.random.default_rng(seed).permutation(debt.size)
    shuffled = _lending_set(collateral[perm], prices, lts, debt[perm])
    assert {int(perm[i]) for i in shuffled} == _lending_set(collateral, prices, lts, debt)


@st.composite
def perp_books(draw, long_only=False):
    params = PerpParams()
    n_m = len(params.markets)
    n = draw(st.integers(1, 25))
    n_c = draw(st.integers(1, 3))
    collateral = draw(hnp.arrays(np.float64, (n, n_c), elements=amounts))
    value = draw(hnp.arrays(np.float64, n_c, elements=st.floats(0.5, 5e4)))
    debt = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 1e6)))
    lo = 0.0 if long_only else -50.0
    size = draw(hnp.arrays(np.float64, (n, n_m), elements=st.floats(lo, 50.0)))
    entry = draw(hnp.arrays(np.float64, (n, n_m), elements=st.floats(100.0, 1e5)))
    mark = draw(hnp.arrays(np.float64, n_m, elements=st.floats(100.0, 1e5)))
    return collateral, value, debt, size, entry, mark


def _perp_set(collateral, value, debt, size, entry, mark, mm_scale=1.0) -> set[int]:
    floors, mmr, cum, imr, n_tiers = PerpParams(mm_scale=mm_scale).tier_arrays()
    equity, maintenance, _, _ = perp_kernels.account_margin(
        collateral, value, debt, size, entry, mark, floors, mmr, cum, imr, n_tiers
    )
    return set(perp_kernels.find_liquidatable(equity, maintenance, 0.0).tolist())


@PROPS
@given(book=perp_books(), cut=st.floats(0.0, 1.0))
def test_perp_lower_collateral_prices_never_shrink_the_liquidatable_set(book, cut):
    collateral, value, debt, size, entry, mark = book
    base = _perp_set(*book)
    assert base <= _perp_set(collateral, value * cut, debt, size, entry, mark)


@PROPS
@given(book=perp_books(), data=st.data(), scale=st.floats(1.0, 3.0))
def test_perp_higher_debt_or_maintenance_never_shrinks_the_liquidatable_set(book, data, scale):
    collateral, value, debt, size, entry, mark = book
    extra = data.draw(hnp.arrays(np.float64, debt.shape, elements=st.floats(0.0, 1e6)))
    base = _perp_set(*book)
    assert base <= _perp_set(collateral, value, debt + extra, size, entry, mark)
    assert base <= _perp_set(*book, mm_scale=scale)


@PROPS
@given(book=perp_books(long_only=True), cut=st.floats(0.05, 1.0))
def test_perp_lower_mark_never_shrinks_the_set_of_long_only_accounts(book, cut):
    collateral, value, debt, size, entry, mark = book
    # equity falls by size x dmark, maintenance by at most MMR_max (<= 1) x size x dmark
    assert _perp_set(*book) <= _perp_set(collateral, value, debt, size, entry, mark * cut)


@PROPS
@given(book=perp_books(), seed=st.integers(0, 2**32 - 1))
def test_perp_liquidatable_set_is_independent_of_account_order(book, seed):
    collateral, value, debt, size, entry, mark = book
    perm = np.random.default_rng(seed).permutation(debt.size)
    shuffled = _perp_set(collateral[perm], value, debt[perm], size[perm], entry[perm], mark)
    assert {int(perm[i]) for i in shuffled} == _perp_set(*book)
