"""Lending kernels against plain NumPy / Python references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.margin.lending_kernels import (
    available_borrows_usd,
    find_liquidatable,
    health_factors,
    liquidation_amounts,
)


# ---------------------------------------------------------------- references
def health_factors_ref(collateral, prices, lts, debt, debt_price):
    debt_usd = debt * debt_price
    adjusted = (collateral * prices * lts).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        hf = adjusted / debt_usd
    return np.where(debt_usd > 0.0, hf, np.inf)


def available_borrows_ref(collateral, prices, ltvs, debt, debt_price):
    return np.maximum((collateral * prices * ltvs).sum(axis=1) - debt * debt_price, 0.0)


def liquidation_amounts_ref(cover, balance, p_coll, p_debt, bonus, fee_frac):
    """LiquidationLogic._calculateAvailableCollateralToLiquidate, written out plainly."""
    if p_coll <= 0.0:
        return balance, 0.0, 0.0
    base_collateral = cover * p_debt / p_coll
    max_collateral = base_collateral * bonus
    if max_collateral > balance:
        collateral = balance
        debt_needed = balance * p_coll / p_debt / bonus
    else:
        collateral = max_collateral
        debt_needed = cover
    bonus_collateral = collateral - collateral / bonus
    return collateral, debt_needed, bonus_collateral * fee_frac


def _random_book(rng, n, k):
    collateral = rng.uniform(0.0, 100.0, size=(n, k))
    collateral[rng.random((n, k)) < 0.2] = 0.0
    debt = rng.uniform(0.0, 2e5, size=n)
    debt[rng.random(n) < 0.25] = 0.0  # zero debt -> inf
    prices = rng.uniform(1.0, 5e4, size=k)
    lts = rng.uniform(0.5, 0.9, size=k)
    return collateral, prices, lts, debt


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize(("n", "k"), [(0, 2), (1, 1), (500, 2), (1000, 3)])
def test_health_factors_kernel_matches_numpy_reference(n, k):
    rng = np.random.default_rng(n + 17 * k)
    collateral, prices, lts, debt = _random_book(rng, n, k)
    debt_price = 1.0003
    got = health_factors(collateral, prices, lts, debt, debt_price)
    want = health_factors_ref(collateral, prices, lts, debt, debt_price)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.isinf(got[debt == 0.0]).all()
    assert np.isfinite(got[debt > 0.0]).all()


def test_health_factors_kernel_zero_collateral_with_debt_is_zero():
    hf = health_factors(
        np.zeros((2, 2)), np.array([1.0, 2.0]), np.array([0.8, 0.8]), np.array([10.0, 0.0]), 1.0
    )
    assert hf[0] == 0.0
    assert hf[1] == np.inf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_available_borrows_kernel_matches_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    collateral, prices, lts, debt = _random_book(rng, 800, 2)
    ltvs = lts * 0.9
    got = available_borrows_usd(collateral, prices, ltvs, debt, 1.0)
    want = available_borrows_ref(collateral, prices, ltvs, debt, 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-6)
    assert (got >= 0.0).all()


@pytest.mark.parametrize("seed", [3, 4])
def test_find_liquidatable_kernel_matches_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    collateral, prices, lts, debt = _random_book(rng, 1000, 2)
    # put many accounts near HF = 1 so both sides are populated
    debt = (collateral * prices * lts).sum(axis=1) * rng.uniform(0.8, 1.25, size=1000)
    debt[::7] = 0.0
    got = find_liquidatable(collateral, prices, lts, debt, 1.0)
    want = np.flatnonzero(health_factors_ref(collateral, prices, lts, debt, 1.0) < 1.0)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert 0 < got.size < 1000


def test_find_liquidatable_kernel_empty_book():
    got = find_liquidatable(np.zeros((0, 2)), np.ones(2), np.ones(2) * 0.8, np.zeros(0), 1.0)
    assert got.shape == (0,)


@settings(max_examples=200, deadline=None)
@given(
    cover=st.floats(0.0, 1e7),
    balance=st.floats(0.0, 1e4),
    p_coll=st.floats(0.0, 1e5),
    p_debt=st.floats(0.5, 2.0),
    bonus=st.floats(1.0001, 1.2),
    fee_frac=st.floats(0.0, 1.0),
)
def test_liquidation_amounts_kernel_matches_python_reference(
    cover, balance, p_coll, p_debt, bonus, fee_frac
):
    got = liquidation_amounts(cover, balance, p_coll, p_debt, bonus, fee_frac)
    want = liquidation_amounts_ref(cover, balance, p_coll, p_debt, bonus, fee_frac)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    coll, repaid, fee = got
    assert 0.0 <= coll <= balance + 1e-9
    assert 0.0 <= fee <= coll
    assert repaid <= cover * (1 + 1e-12) + 1e-12


def test_liquidation_amounts_kernel_worked_example():
    # DOMAIN.md A5: repay 7,500 USDC against WETH at $1,750, LB 1.05, fee 10% of the bonus.
    coll, repaid, fee = liquidation_amounts(7500.0, 10.0, 1750.0, 1.0, 1.05, 0.10)
    assert repaid == 7500.0
    assert coll == pytest.approx(4.5, rel=1e-12)
    assert fee == pytest.approx(0.0214286, abs=1e-7)
    assert coll - fee == pytest.approx(4.4786, abs=1e-4)


def test_liquidation_amounts_kernel_caps_at_balance():
    coll, repaid, fee = liquidation_amounts(15000.0, 5.0, 1000.0, 1.0, 1.05, 0.10)
    assert coll == 5.0
    assert repaid == pytest.approx(5000.0 / 1.05)
    assert fee == pytest.approx((5.0 - 5.0 / 1.05) * 0.10)
