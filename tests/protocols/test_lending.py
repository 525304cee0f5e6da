"""LendingMarket: Aave v3.3 liquidation rules, LTV, interest, bad debt (DOMAIN.md A5)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.lending import LendingMarket, LiquidationResult
from protocols.lending_params import (
    CollateralParams,
    LendingParams,
    RateCurve,
    default_lending_params,
)
from protocols.types import EventKind, FixedPrice, TxStatus

YEAR = 365 * 86400


class World:
    """A ledger, an event log, fixed-price oracles and a market with one big supplier."""

    def __init__(
        self, params=None, *, supply_usdc=1_000_000.0, eth=2000.0, btc=30000.0, step_seconds=60
    ):
        self.ledger = Ledger(("USDC", "ETH", "BTC"))
        self.events = EventLog()
        self.oracles = {"ETH": FixedPrice(eth), "BTC": FixedPrice(btc), "USDC": FixedPrice(1.0)}
        self.market = LendingMarket(
            "lending",
            self.ledger,
            self.events,
            oracles=self.oracles,
            params=params or default_lending_params(),
            step_seconds=step_seconds,
        )
        self.usdc = self.ledger.asset_id("USDC")
        self.eth = self.ledger.asset_id("ETH")
        self.ausdc = self.ledger.asset_id("aUSDC")
        self.supplier = self.wallet("supplier", USDC=supply_usdc)
        if supply_usdc:
            assert self.market.supply(self.supplier, supply_usdc)[0] == TxStatus.OK
        self.liquidator = self.wallet("liquidator", USDC=10_000_000.0)

    def wallet(self, name, **amounts):
        h = self.ledger.open_holder(name)
        for asset, amount in amounts.items():
            self.ledger.mint(h, self.ledger.asset_id(asset), amount, "test")
        return h

    def borrower(self, name, eth=0.0, btc=0.0, borrow=0.0):
        h = self.wallet(name, ETH=eth, BTC=btc)
        a = self.market.open_account(h)
        if eth:
            assert self.market.deposit(a, "ETH", eth) == TxStatus.OK
        if btc:
            assert self.market.deposit(a, "BTC", btc) == TxStatus.OK
        if borrow:
            assert self.market.borrow(a, borrow) == TxStatus.OK
        return h, a

    def check_invariants(self):
        m = self.market
        assets = m.available_liquidity + m.total_debt
        claims = m.total_shares * m.liquidity_index
        assert assets == pytest.approx(claims, rel=1e-9, abs=1e-6)
        self.ledger.check_conservation()


def test_default_lending_params_match_domain_sources():
    p = default_lending_params()
    eth, btc = p.collateral
    assert (eth.asset, eth.ltv, eth.liquidation_threshold, eth.liquidation_bonus) == (
        "ETH",
        0.80,
        0.83,
        1.05,
    )
    assert eth.liquidation_protocol_fee_frac == 0.10
    assert (btc.asset, btc.ltv, btc.liquidation_threshold, btc.liquidation_bonus) == (
        "BTC",
        0.72,
        0.82,
        1.052,
    )
    assert p.reserve_factor == 0.10
    assert (
        p.rate.optimal_utilisation,
        p.rate.base_rate_per_year,
        p.rate.slope1_per_year,
        p.rate.slope2_per_year,
    ) == (0.8, 0.015, 0.035, 0.25)
    assert (p.close_factor, p.close_factor_hf_threshold) == (0.5, 0.95)
    assert (p.min_base_max_close_factor_usd, p.min_leftover_usd) == (2000.0, 1000.0)


# ---------------------------------------------------------------- DOMAIN A5 worked example
def test_lending_worked_example_domain_a5():
    w = World(eth=2000.0)
    _, a = w.borrower("alice", eth=10.0, borrow=15_000.0)
    w.oracles["ETH"].price_usd = 1750.0
    m = w.market
    assert m.health_factor(a) == pytest.approx(0.968, abs=5e-4)
    assert m.health_factors()[a] == pytest.approx(14525.0 / 15000.0, rel=1e-12)
    assert m.liquidatable_accounts().tolist() == [a]
    assert m.max_liquidatable_debt(a) == pytest.approx(7500.0)  # 50% close factor

    usdc_before = w.ledger.balance(w.liquidator, w.usdc)
    res = m.liquidation_call(w.liquidator, a, "ETH", 7500.0)
    assert res.status == TxStatus.OK
    assert res.debt_repaid == pytest.approx(7500.0)
    assert res.collateral_seized == pytest.approx(4.4786, abs=1e-4)
    assert res.protocol_fee == pytest.approx(0.0214, abs=1e-4)
    assert res.bad_debt == 0.0
    assert w.ledger.balance(w.liquidator, w.eth) == pytest.approx(res.collateral_seized)
    assert w.ledger.balance(m.treasury_holder, w.eth) == pytest.approx(res.protocol_fee)
    paid = usdc_before - w.ledger.balance(w.liquidator, w.usdc)
    profit_usd = res.collateral_seized * 1750.0 - paid
    assert profit_usd == pytest.approx(337.5, rel=1e-9)
    assert m.collateral_of(a, "ETH") == pytest.approx(5.5)
    assert m.debt_of(a) == pytest.approx(7500.0)
    assert m.health_factor(a) == pytest.approx(1.065, abs=5e-4)
    assert w.events.count(EventKind.LIQUIDATION) == 1
    w.check_invariants()


def test_lending_worked_example_full_close_at_1700():
    w = World(eth=2000.0)
    _, a = w.borrower("alice", eth=10.0, borrow=15_000.0)
    w.oracles["ETH"].price_usd = 1700.0
    assert w.market.health_factor(a) == pytest.approx(0.941, abs=5e-4)
    assert w.market.max_liquidatable_debt(a) == pytest.approx(15_000.0)  # HF <= 0.95: 100%
    res = w.market.liquidation_call(w.liquidator, a, "ETH", math.inf)
    assert res.status == TxStatus.OK
    assert res.debt_repaid == pytest.approx(15_000.0)
    assert w.market.debt_of(a) == 0.0
    assert w.market.collateral_of(a, "ETH") == pytest.approx(10 - 15_000 * 1.05 / 1700)
    w.check_invariants()


@settings(max_examples=80, deadline=None)
@given(
    hf=st.floats(0.5, 0.999),
    debt_usd=st.floats(5_000.0, 1e6),
    repay_frac=st.floats(0.01, 1.0),
)
def test_lending_liquidation_hf_change_identity(hf, debt_usd, repay_frac):
    """HF' - HF = r (HF - LT(1+b)) / (B - r) at fixed prices (DOMAIN.md A5, leanbook)."""
    params = dataclasses.replace(default_lending_params(), min_leftover_usd=0.0)
    w = World(params, supply_usdc=2e6, eth=1e6)
    lt, bonus = 0.83, 0.05
    coll_eth = hf * debt_usd / (lt * 1750.0)
    _, a = w.borrower("bob", eth=coll_eth, borrow=debt_usd)
    w.oracles["ETH"].price_usd = 1750.0
    hf0 = w.market.health_factor(a)
    r = repay_frac * w.market.max_liquidatable_debt(a)
    # capped by collateral or a full close: outside the identity's assumptions
    assume(r * (1 + bonus) / 1750.0 < coll_eth * (1 - 1e-9) and r < debt_usd * (1 - 1e-9))
    res = w.market.liquidation_call(w.liquidator, a, "ETH", r)
    assert res.status == TxStatus.OK
    hf1 = w.market.health_factor(a)
    predicted = r * (hf0 - lt * (1 + bonus)) / (debt_usd - r)
    assert hf1 - hf0 == pytest.approx(predicted, rel=1e-7, abs=1e-10)
    # below LT(1+b) = 0.8715 a liquidation lowers HF (death-spiral zone), above it raises HF
    if abs(hf0 - lt * (1 + bonus)) > 1e-6:
        assert (hf1 < hf0) == (hf0 < lt * (1 + bonus))
    w.check_invariants()


def test_lending_liquidation_raises_hf_above_lt_times_bonus():
    w = World(eth=2000.0)
    _, a = w.borrower("carol", eth=10.0, borrow=15_000.0)
    w.oracles["ETH"].price_usd = 1750.0  # HF 0.968 > LT(1+b) = 0.8715
    hf0 = w.market.health_factor(a)
    assert w.market.liquidation_call(w.liquidator, a, "ETH", 3000.0).status == TxStatus.OK
    assert w.market.health_factor(a) > hf0


# ---------------------------------------------------------------- close factor and dust
def test_lending_small_position_allows_full_close():
    w = World(eth=2000.0)
    _, a = w.borrower("dan", eth=1.0, borrow=1500.0)  # debt < $2,000
    w.oracles["ETH"].price_usd = 1800.0  # HF = 0.996 > 0.95
    assert 0.95 < w.market.health_factor(a) < 1.0
    assert w.market.max_liquidatable_debt(a) == pytest.approx(1500.0)


def test_lending_dust_rule_rejects_small_leftover_debt():
    w = World(eth=2000.0)
    _, a = w.borrower("erin", eth=10.0, borrow=15_000.0)
    w.oracles["ETH"].price_usd = 1700.0
    res = w.market.liquidation_call(w.liquidator, a, "ETH", 14_600.0)  # would leave $400 debt
    assert res == LiquidationResult(TxStatus.INVALID_AMOUNT)
    assert w.market.debt_of(a) == pytest.approx(15_000.0)
    assert w.market.collateral_of(a, "ETH") == 10.0
    assert w.events.count(EventKind.LIQUIDATION) == 0
    # leaving >= $1,000 of both is fine
    assert w.market.liquidation_call(w.liquidator, a, "ETH", 5000.0).status == TxStatus.OK


def test_lending_liquidation_refusals():
    w = World(eth=2000.0)
    _, a = w.borrower("fred", eth=10.0, borrow=10_000.0)
    assert w.market.liquidation_call(w.liquidator, a, "ETH", 100.0).status == (
        TxStatus.NOT_LIQUIDATABLE
    )
    w.oracles["ETH"].price_usd = 1000.0
    poor = w.wallet("poor", USDC=10.0)
    assert w.market.liquidation_call(poor, a, "ETH", 5000.0).status == (
        TxStatus.INSUFFICIENT_BALANCE
    )
    assert w.market.liquidation_call(w.liquidator, a, "BTC", 5000.0).status == (
        TxStatus.NOT_LIQUIDATABLE
    )  # no BTC collateral to seize
    assert w.market.liquidation_call(w.liquidator, 99, "ETH", 5.0).status == (
        TxStatus.UNKNOWN_ACCOUNT
    )
    assert w.market.debt_of(a) == pytest.approx(10_000.0)
    with pytest.raises(ValueError, match="amount"):
        w.market.liquidation_call(w.liquidator, a, "ETH", -1.0)
    with pytest.raises(ValueError, match="collateral asset"):
        w.market.liquidation_call(w.liquidator, a, "DOGE", 1.0)


# ---------------------------------------------------------------- borrowing and withdrawing
def test_lending_borrow_refused_above_ltv_and_ltv_scale_lowers_it():
    w = World(eth=2000.0)
    h, a = w.borrower("gina", eth=10.0)  # $20,000 of ETH, LTV 0.80 -> $16,000
    m = w.market
    assert m.available_borrows_usd()[a] == pytest.approx(16_000.0)
    assert m.borrow(a, 16_001.0) == TxStatus.HEALTH_TOO_LOW
    m.params = dataclasses.replace(m.params, ltv_scale=0.5)  # -> $8,000
    assert m.available_borrows_usd()[a] == pytest.approx(8_000.0)
    assert m.borrow(a, 8_001.0) == TxStatus.HEALTH_TOO_LOW
    assert m.borrow(a, 8_000.0) == TxStatus.OK
    assert w.ledger.balance(h, w.usdc) == pytest.approx(8_000.0)
    assert m.debt_of(a) == pytest.approx(8_000.0)
    m.params = dataclasses.replace(m.params, ltv_scale=1.0)
    assert m.borrow(a, 8_000.0) == TxStatus.OK
    assert m.borrow(a, 1.0) == TxStatus.HEALTH_TOO_LOW
    w.check_invariants()


def test_lending_borrow_refused_beyond_pool_cash():
    w = World(supply_usdc=5_000.0, eth=2000.0)
    _, a = w.borrower("hank", eth=10.0)
    assert w.market.borrow(a, 6_000.0) == TxStatus.INSUFFICIENT_LIQUIDITY
    assert w.market.borrow(99, 1.0) == TxStatus.UNKNOWN_ACCOUNT
    assert w.market.borrow(a, 0.0) == TxStatus.INVALID_AMOUNT


def test_lending_withdraw_refused_if_hf_would_drop_below_one():
    w = World(eth=2000.0)
    h, a = w.borrower("ivy", eth=10.0, borrow=15_000.0)
    m = w.market
    # HF = 20,000 * 0.83 / 15,000 = 1.107; withdrawing 1 ETH -> 0.996
    assert m.withdraw(a, "ETH", 1.0) == TxStatus.HEALTH_TOO_LOW
    assert m.collateral_of(a, "ETH") == 10.0
    assert m.withdraw(a, "ETH", 0.9) == TxStatus.OK  # HF 1.0072
    assert m.health_factor(a) >= 1.0
    assert w.ledger.balance(h, w.eth) == pytest.approx(0.9)
    assert m.withdraw(a, "ETH", 100.0) == TxStatus.INSUFFICIENT_BALANCE
    status, repaid = m.repay(a, math.inf)
    assert (status, repaid) == (TxStatus.OK, pytest.approx(15_000.0))
    assert m.debt_of(a) == 0.0
    assert m.withdraw(a, "ETH", math.inf) == TxStatus.OK
    assert w.ledger.balance(h, w.eth) == pytest.approx(10.0)
    w.check_invariants()


def test_lending_repay_partial_and_refusals():
    w = World(eth=2000.0)
    h, a = w.borrower("jon", eth=10.0, borrow=1000.0)
    m = w.market
    assert m.repay(a, 400.0) == (TxStatus.OK, 400.0)
    assert m.debt_of(a) == pytest.approx(600.0)
    w.ledger.transfer(h, w.supplier, w.usdc, 600.0)  # spend the loan elsewhere
    assert m.repay(a, 600.0) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    _, b = w.borrower("kim", eth=1.0)
    assert m.repay(b, 10.0) == (TxStatus.INVALID_AMOUNT, 0.0)
    w.check_invariants()


def test_lending_deposit_requires_wallet_balance():
    w = World()
    _, a = w.borrower("lee", eth=1.0)
    assert w.market.deposit(a, "ETH", 5.0) == TxStatus.INSUFFICIENT_BALANCE
    assert w.market.collateral_of(a, "ETH") == 1.0
    with pytest.raises(ValueError, match="amount"):
        w.market.deposit(a, "ETH", float("nan"))


# ---------------------------------------------------------------- interest
def _reference_accrual(cash, debt, shares, steps, step_seconds, curve, rf):
    """Plain loop of the kinked-curve accrual; returns (debt, liquidity index, treasury shares)."""
    index, treasury = 1.0, 0.0
    for _ in range(steps):
        u = debt / (cash + debt)
        if u <= curve.optimal_utilisation:
            r = curve.base_rate_per_year + curve.slope1_per_year * u
        else:
            r = (
                curve.base_rate_per_year
                + curve.slope1_per_year * curve.optimal_utilisation
                + curve.slope2_per_year * (u - curve.optimal_utilisation)
            )
        x = r * step_seconds / YEAR
        interest = debt * (x + x * x / 2 + x**3 / 6)
        debt += interest
        index += (1 - rf) * interest / (shares + treasury)
        treasury += rf * interest / index
    return debt, index, treasury


@pytest.mark.parametrize("borrow", [5_000.0, 9_000.0])  # U = 0.5 (below kink), 0.9 (above)
def test_lending_interest_accrual_matches_kinked_curve(borrow):
    w = World(supply_usdc=10_000.0, eth=2000.0, step_seconds=3600)
    _, a = w.borrower("max", eth=10.0)
    w.market.params = dataclasses.replace(w.market.params, ltv_scale=1.0)
    assert w.market.borrow(a, borrow) == TxStatus.OK
    curve = w.market.params.rate
    u = borrow / 10_000.0
    expected_rate = 0.015 + 0.035 * min(u, 0.8) + 0.25 * max(u - 0.8, 0.0)
    assert w.market.borrow_rate_per_year == pytest.approx(expected_rate)
    assert w.market.supply_rate_per_year == pytest.approx(expected_rate * u * 0.9)
    steps = 24 * 365  # one year of hourly steps
    for step in range(1, steps + 1):
        w.market.accrue(step)
    debt, index, treasury = _reference_accrual(
        10_000.0 - borrow, borrow, 10_000.0, steps, 3600, curve, 0.10
    )
    assert w.market.total_debt == pytest.approx(debt, rel=1e-10)
    assert w.market.debt_of(a) == pytest.approx(debt, rel=1e-10)
    assert w.market.liquidity_index == pytest.approx(index, rel=1e-10)
    assert w.ledger.balance(w.market.treasury_holder, w.ausdc) == pytest.approx(treasury, rel=1e-9)
    # about one year of interest at roughly the starting rate (utilisation drifts up slowly)
    assert debt / borrow - 1 == pytest.approx(math.expm1(expected_rate), rel=0.1)
    w.check_invariants()


def test_lending_accrue_is_idempotent_per_step_and_skips_empty_pool():
    w = World(eth=2000.0)
    w.market.accrue(10)
    assert w.market.liquidity_index == 1.0  # no debt, no interest
    w.borrower("ned", eth=10.0, borrow=10_000.0)
    w.market.accrue(20)
    idx = w.market.borrow_index
    assert idx > 1.0
    w.market.accrue(20)
    w.market.accrue(15)
    assert w.market.borrow_index == idx


def test_lending_supplier_earns_interest_and_withdraws_it():
    w = World(supply_usdc=100_000.0, eth=2000.0, step_seconds=86400)
    h, a = w.borrower("ola", eth=100.0, borrow=80_000.0)
    for step in range(1, 366):
        w.market.accrue(step)
    owed = w.market.debt_of(a)
    w.ledger.mint(h, w.usdc, owed - 80_000.0, "test")
    assert w.market.repay(a, math.inf)[0] == TxStatus.OK
    status, paid = w.market.withdraw_supply(w.supplier, math.inf)
    assert status == TxStatus.OK
    interest = owed - 80_000.0
    assert interest > 0.0
    treasury_value = w.ledger.balance(w.market.treasury_holder, w.ausdc) * w.market.liquidity_index
    assert paid - 100_000.0 + treasury_value == pytest.approx(interest, rel=1e-9)
    assert treasury_value == pytest.approx(0.10 * interest, rel=0.02)
    w.check_invariants()


# ---------------------------------------------------------------- suppliers
def test_lending_withdraw_supply_partial_when_liquidity_short():
    w = World(supply_usdc=10_000.0, eth=2000.0)
    w.borrower("pat", eth=10.0, borrow=8_000.0)
    status, paid = w.market.withdraw_supply(w.supplier, 10_000.0)
    assert status == TxStatus.INSUFFICIENT_LIQUIDITY
    assert paid == pytest.approx(2_000.0)
    assert w.market.available_liquidity == pytest.approx(0.0, abs=1e-9)
    assert w.ledger.balance(w.supplier, w.ausdc) == pytest.approx(8_000.0)
    assert w.market.utilisation == pytest.approx(1.0)
    assert w.market.withdraw_supply(w.supplier, 1.0) == (TxStatus.INSUFFICIENT_LIQUIDITY, 0.0)
    assert w.market.withdraw_supply(w.supplier, 1e9)[0] == TxStatus.INSUFFICIENT_BALANCE
    w.check_invariants()


def test_lending_supply_mints_scaled_shares():
    w = World(supply_usdc=10_000.0, eth=2000.0, step_seconds=86400)
    w.borrower("quin", eth=10.0, borrow=5_000.0)
    for step in range(1, 101):
        w.market.accrue(step)
    late = w.wallet("late", USDC=1_000.0)
    status, shares = w.market.supply(late, 1_000.0)
    assert status == TxStatus.OK
    assert shares == pytest.approx(1_000.0 / w.market.liquidity_index)
    assert shares < 1_000.0
    assert w.market.share_price_usd == w.market.liquidity_index
    assert w.market.supply(late, 1.0) == (TxStatus.INSUFFICIENT_BALANCE, 0.0)
    w.check_invariants()


# ---------------------------------------------------------------- bad debt
def _crash_account(w):
    _, a = w.borrower("rex", eth=10.0, borrow=15_000.0)  # at ETH $2,000
    w.oracles["ETH"].price_usd = 1000.0  # collateral $10,000 < debt
    return a


def test_lending_bad_debt_socialised_after_reserve():
    w = World(supply_usdc=100_000.0, eth=2000.0)
    m = w.market
    reserve = w.wallet("dao", USDC=1_000.0)
    # the treasury's own receipt shares are the reserve
    w.ledger.transfer(reserve, m.treasury_holder, w.usdc, 1_000.0)
    assert m.supply(m.treasury_holder, 1_000.0)[0] == TxStatus.OK
    a = _crash_account(w)
    supplier_value_before = w.ledger.balance(w.supplier, w.ausdc) * m.liquidity_index
    res = m.liquidation_call(w.liquidator, a, "ETH", math.inf)
    assert res.status == TxStatus.OK
    assert res.collateral_seized + res.protocol_fee == pytest.approx(10.0)
    assert res.debt_repaid == pytest.approx(10_000.0 / 1.05)
    deficit = 15_000.0 - 10_000.0 / 1.05
    assert res.bad_debt == pytest.approx(deficit)
    assert m.debt_of(a) == 0.0 and m.collateral_of(a, "ETH") == 0.0
    assert w.ledger.balance(m.treasury_holder, w.ausdc) == pytest.approx(0.0, abs=1e-9)
    socialised = deficit - 1_000.0
    supplier_value_after = w.ledger.balance(w.supplier, w.ausdc) * m.liquidity_index
    assert supplier_value_before - supplier_value_after == pytest.approx(socialised, rel=1e-9)
    assert m.liquidity_index < 1.0
    assert m.bad_debt_total == pytest.approx(deficit)
    assert m.deficit_socialised_total == pytest.approx(socialised)
    assert w.events.count(EventKind.BAD_DEBT) == 1
    assert w.events.count(EventKind.SOCIALISED_LOSS) == 1
    assert m.liquidatable_accounts().size == 0
    w.check_invariants()


def test_lending_bad_debt_covered_by_reserve_first():
    w = World(supply_usdc=100_000.0, eth=2000.0)
    m = w.market
    dao = w.wallet("dao", USDC=20_000.0)
    w.ledger.transfer(dao, m.treasury_holder, w.usdc, 20_000.0)
    m.supply(m.treasury_holder, 20_000.0)
    a = _crash_account(w)
    res = m.liquidation_call(w.liquidator, a, "ETH", math.inf)
    deficit = 15_000.0 - 10_000.0 / 1.05
    assert res.bad_debt == pytest.approx(deficit)
    assert m.liquidity_index == 1.0  # suppliers untouched
    assert w.ledger.balance(m.treasury_holder, w.ausdc) == pytest.approx(20_000.0 - deficit)
    assert w.events.count(EventKind.BAD_DEBT) == 1
    assert w.events.count(EventKind.SOCIALISED_LOSS) == 0
    assert m.deficit_socialised_total == 0.0
    w.check_invariants()


def test_lending_no_write_off_while_other_collateral_remains():
    w = World(supply_usdc=100_000.0, eth=2000.0, btc=30_000.0)
    _, a = w.borrower("sue", eth=10.0, btc=0.01, borrow=15_000.0)
    w.oracles["ETH"].price_usd = 1000.0
    res = w.market.liquidation_call(w.liquidator, a, "ETH", math.inf)
    assert res.status == TxStatus.OK and res.bad_debt == 0.0
    assert w.market.debt_of(a) == pytest.approx(15_000.0 - 10_000.0 / 1.05)
    assert w.events.count(EventKind.BAD_DEBT) == 0
    # the BTC is now the only collateral: seizing it all writes the rest off
    res = w.market.liquidation_call(w.liquidator, a, "BTC", math.inf)
    assert res.status == TxStatus.OK and res.bad_debt > 0.0
    assert w.market.debt_of(a) == 0.0
    w.check_invariants()


# ---------------------------------------------------------------- params
@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: CollateralParams(
                asset="ETH", ltv=0.9, liquidation_threshold=0.83, liquidation_bonus=1.05
            ),
            r"CollateralParams\.ltv: must be in",
        ),
        (
            lambda: CollateralParams(
                asset="ETH", ltv=0.8, liquidation_threshold=0.83, liquidation_bonus=0.99
            ),
            r"CollateralParams\.liquidation_bonus: must be in \(1",
        ),
        (
            lambda: CollateralParams(
                asset="ETH", ltv=0.8, liquidation_threshold=0.95, liquidation_bonus=1.10
            ),
            r"CollateralParams\.liquidation_bonus: must satisfy liquidation_threshold",
        ),
        (
            lambda: CollateralParams(
                asset="", ltv=0.8, liquidation_threshold=0.83, liquidation_bonus=1.05
            ),
            r"CollateralParams\.asset: must be",
        ),
        (
            lambda: CollateralParams(
                asset="ETH",
                ltv=0.8,
                liquidation_threshold=0.83,
                liquidation_bonus=1.05,
                liquidation_protocol_fee_frac=1.5,
            ),
            r"CollateralParams\.liquidation_protocol_fee_frac: must be in \[0, 1\]",
        ),
        (
            lambda: RateCurve(
                base_rate_per_year=-0.01,
                slope1_per_year=0.1,
                slope2_per_year=1.0,
                optimal_utilisation=0.8,
            ),
            r"RateCurve\.base_rate_per_year: must be",
        ),
        (
            lambda: RateCurve(
                base_rate_per_year=0.0,
                slope1_per_year=0.1,
                slope2_per_year=1.0,
                optimal_utilisation=1.0,
            ),
            r"RateCurve\.optimal_utilisation: must be in \(0, 1\)",
        ),
        (
            lambda: LendingParams(collateral=default_lending_params().collateral, rate=0.05),
            r"LendingParams\.rate: must be a RateCurve",
        ),
        (
            lambda: dataclasses.replace(default_lending_params(), reserve_factor=1.0),
            r"LendingParams\.reserve_factor: must be in \[0, 1\)",
        ),
        (
            lambda: dataclasses.replace(default_lending_params(), close_factor=0.0),
            r"LendingParams\.close_factor: must be in \(0, 1\]",
        ),
        (
            lambda: dataclasses.replace(default_lending_params(), ltv_scale=1.1),
            r"LendingParams\.ltv_scale: must keep ltv \* ltv_scale <= liquidation_threshold",
        ),
        (
            lambda: dataclasses.replace(default_lending_params(), ltv_scale=float("nan")),
            r"LendingParams\.ltv_scale: must be a finite number",
        ),
        (
            lambda: dataclasses.replace(default_lending_params(), min_leftover_usd=-1.0),
            r"LendingParams\.min_leftover_usd: must be in \[0",
        ),
        (
            lambda: dataclasses.replace(default_lending_params(), collateral=()),
            r"LendingParams\.collateral: must be a non-empty tuple",
        ),
        (
            lambda: dataclasses.replace(
                default_lending_params(), collateral=default_lending_params().collateral[:1] * 2
            ),
            r"LendingParams\.collateral: assets must be unique",
        ),
    ],
)
def test_lending_params_validation_names_field_and_rule(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_lending_params_setter_validates_layout():
    w = World()
    p = w.market.params
    with pytest.raises(ValueError, match="must be LendingParams"):
        w.market.params = {"ltv_scale": 0.5}
    with pytest.raises(ValueError, match="must not change"):
        w.market.params = dataclasses.replace(p, collateral=p.collateral[::-1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.ltv_scale = 0.5
    assert w.market.params is p


def test_lending_market_constructor_errors():
    ledger, events = Ledger(("USDC", "ETH", "BTC")), EventLog()
    with pytest.raises(ValueError, match="must price all collateral"):
        LendingMarket(
            "x",
            ledger,
            events,
            oracles={"ETH": FixedPrice(1.0)},
            params=default_lending_params(),
            step_seconds=60,
        )
    with pytest.raises(ValueError, match="step_seconds"):
        LendingMarket(
            "x",
            ledger,
            events,
            oracles={"ETH": FixedPrice(1.0), "BTC": FixedPrice(1.0)},
            params=default_lending_params(),
            step_seconds=0,
        )


# ---------------------------------------------------------------- reads and performance
def test_lending_account_reads_and_totals():
    w = World(eth=2000.0, btc=30_000.0)
    _, a = w.borrower("tom", eth=2.0, btc=0.5, borrow=5_000.0)
    _, b = w.borrower("uma", eth=1.0)
    m = w.market
    assert m.account_value_usd(a) == pytest.approx((19_000.0, 5_000.0))
    assert m.total_collateral_usd == pytest.approx(21_000.0)
    hf = m.health_factors()
    assert hf.shape == (2,)
    assert hf[a] == pytest.approx((4_000 * 0.83 + 15_000 * 0.82) / 5_000.0)
    assert hf[b] == np.inf
    assert m.n_accounts == 2 and m.owner_of(b) == w.ledger.holder_id("uma")
    assert m.utilisation == pytest.approx(5_000.0 / 1_000_000.0)
    assert m.total_supplied == pytest.approx(1_000_000.0)


def test_lending_accounts_grow_past_initial_capacity():
    w = World(eth=2000.0)
    h = w.wallet("many", ETH=1000.0)
    ids = [w.market.open_account(h) for _ in range(300)]
    for a in ids:
        assert w.market.deposit(a, "ETH", 1.0) == TxStatus.OK
    assert w.market.health_factors().shape == (300,)
    assert w.market.collateral_of(ids[-1], "ETH") == 1.0
    assert w.market.total_collateral_usd == pytest.approx(300 * 2000.0)


def test_lending_vector_health_matches_per_account_on_1000_accounts():
    w = World(supply_usdc=1e8, eth=2000.0)
    rng = np.random.default_rng(0)
    h = w.wallet("crowd", ETH=1e6)
    for _ in range(1000):
        a = w.market.open_account(h)
        w.market.deposit(a, "ETH", float(rng.uniform(1, 10)))
        w.market.borrow(a, float(rng.uniform(0.3, 1.0)) * w.market.available_borrows_usd()[a])
    w.oracles["ETH"].price_usd = 1700.0
    assert w.market.liquidatable_accounts().size > 0
    hf = w.market.health_factors()
    one_by_one = np.array([w.market.health_factor(a) for a in range(1000)])
    np.testing.assert_allclose(hf, one_by_one, rtol=1e-12)
    np.testing.assert_array_equal(w.market.liquidatable_accounts(), np.flatnonzero(hf < 1.0))
    w.check_invariants()
