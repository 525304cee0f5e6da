"""LendingMarket invariants under random action sequences (Hypothesis).

After every action: pool cash + total debt == receipt shares x liquidity index; the ledger conserves
every asset; collateral and debt stay non-negative; the pool holds exactly the accounts' collateral;
the running total debt equals the sum of account debts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.events import EventLog
from protocols.ledger import Ledger
from protocols.lending import LendingMarket
from protocols.lending_params import default_lending_params
from protocols.types import FixedPrice, TxStatus

N_SUPPLIERS, N_BORROWERS = 3, 4

frac = st.floats(0.0, 1.0)
price_move = st.tuples(st.just("price"), st.sampled_from(["ETH", "BTC"]), st.floats(-0.9, 0.3))
liquidate = st.tuples(
    st.just("liquidate"),
    st.integers(0, N_BORROWERS - 1),
    st.sampled_from(["ETH", "BTC"]),
    st.one_of(st.just(math.inf), frac),
)
actions = st.one_of(
    st.tuples(st.just("supply"), st.integers(0, N_SUPPLIERS), st.floats(1.0, 50_000.0)),
    st.tuples(st.just("withdraw_supply"), st.integers(0, N_SUPPLIERS), frac),
    st.tuples(
        st.just("deposit"), st.integers(0, N_BORROWERS - 1), st.sampled_from(["ETH", "BTC"]), frac
    ),
    st.tuples(
        st.just("withdraw"), st.integers(0, N_BORROWERS - 1), st.sampled_from(["ETH", "BTC"]), frac
    ),
    st.tuples(st.just("borrow"), st.integers(0, N_BORROWERS - 1), frac),
    st.tuples(st.just("repay"), st.integers(0, N_BORROWERS - 1), frac),
    st.tuples(st.just("accrue"), st.integers(1, 5_000)),
    price_move,
    price_move,  # twice: crashes and liquidations are the interesting part
    liquidate,
    liquidate,
)


class Sim:
    def __init__(self) -> None:
        self.ledger = Ledger(("USDC", "ETH", "BTC"))
        self.oracles = {"ETH": FixedPrice(2000.0), "BTC": FixedPrice(30_000.0)}
        self.market = LendingMarket(
            "lend",
            self.ledger,
            EventLog(),
            oracles=self.oracles,
            params=default_lending_params(),
            step_seconds=3600,
        )
        self.usdc, self.ausdc = self.ledger.asset_id("USDC"), self.ledger.asset_id("aUSDC")
        self.suppliers = [self._wallet(f"s{i}", USDC=100_000.0) for i in range(N_SUPPLIERS)]
        self.suppliers.append(self.market.treasury_holder)  # the treasury may redeem its shares
        self.borrowers = []
        for i in range(N_BORROWERS):
            h = self._wallet(f"b{i}", USDC=5_000.0, ETH=20.0, BTC=1.0)
            self.borrowers.append((h, self.market.open_account(h)))
        self.liquidator = self._wallet("liq", USDC=1e9)
        self.step = 0
        self.market.supply(self.suppliers[0], 50_000.0)

    def _wallet(self, name, **amounts):
        h = self.ledger.open_holder(name)
        for asset, amount in amounts.items():
            self.ledger.mint(h, self.ledger.asset_id(asset), amount, "test")
        return h

    def apply(self, action) -> None:
        m, kind = self.market, action[0]
        if kind == "supply":
            holder = self.suppliers[action[1]]
            amount = min(action[2], self.ledger.balance(holder, self.usdc))
            if amount > 0.0:
                assert m.supply(holder, amount)[0] == TxStatus.OK
        elif kind == "withdraw_supply":
            holder = self.suppliers[action[1]]
            shares = action[2] * self.ledger.balance(holder, self.ausdc)
            if shares > 0.0:
                status, _ = m.withdraw_supply(holder, shares)
                assert status in (TxStatus.OK, TxStatus.INSUFFICIENT_LIQUIDITY)
        elif kind == "deposit":
            h, a = self.borrowers[action[1]]
            aid = self.ledger.asset_id(action[2])
            amount = action[3] * self.ledger.balance(h, aid)
            if amount > 0.0:
                assert m.deposit(a, action[2], amount) == TxStatus.OK
        elif kind == "withdraw":
            _, a = self.borrowers[action[1]]
            amount = action[3] * m.collateral_of(a, action[2])
            if amount > 0.0:
                assert m.withdraw(a, action[2], amount) in (TxStatus.OK, TxStatus.HEALTH_TOO_LOW)
        elif kind == "borrow":
            _, a = self.borrowers[action[1]]
            amount = action[2] * float(m.available_borrows_usd()[a])
            if amount > 0.0:
                assert m.borrow(a, amount) in (TxStatus.OK, TxStatus.INSUFFICIENT_LIQUIDITY)
        elif kind == "repay":
            h, a = self.borrowers[action[1]]
            amount = min(action[2] * m.debt_of(a), self.ledger.balance(h, self.usdc))
            if amount > 0.0:
                assert m.repay(a, amount)[0] == TxStatus.OK
        elif kind == "accrue":
            self.step += action[1]
            m.accrue(self.step)
        elif kind == "price":
            self.oracles[action[1]].price_usd *= math.exp(action[2])
        elif kind == "liquidate":
            _, a = self.borrowers[action[1]]
            cover = action[3] if math.isinf(action[3]) else action[3] * m.debt_of(a)
            if cover > 0.0:
                res = m.liquidation_call(self.liquidator, a, action[2], cover)
                assert res.status in (
                    TxStatus.OK,
                    TxStatus.NOT_LIQUIDATABLE,
                    TxStatus.INVALID_AMOUNT,
                )
                if res.status == TxStatus.OK:
                    assert res.collateral_seized >= 0.0 and res.protocol_fee >= 0.0

    def check(self) -> None:
        m, n = self.market, self.market.n_accounts
        cash, debt = m.available_liquidity, m.total_debt
        claims = m.total_shares * m.liquidity_index
        assert cash + debt == pytest.approx(claims, rel=1e-9, abs=1e-6)
        self.ledger.check_conservation()
        debts = np.array([m.debt_of(a) for a in range(n)])
        assert (debts >= 0.0).all()
        assert debts.sum() == pytest.approx(debt, rel=1e-9, abs=1e-6)
        for asset in ("ETH", "BTC"):
            coll = np.array([m.collateral_of(a, asset) for a in range(n)])
            assert (coll >= 0.0).all()
            pool = self.ledger.balance(m.pool_holder, self.ledger.asset_id(asset))
            assert coll.sum() == pytest.approx(pool, rel=1e-9, abs=1e-12)
        assert m.liquidity_index > 0.0 and m.borrow_index >= 1.0
        assert 0.0 <= m.utilisation <= 1.0


def _levered_sim() -> Sim:
    """Every supplier in, every borrower near its LTV limit: price drops reach liquidations."""
    sim = Sim()
    for i in range(N_SUPPLIERS):
        sim.apply(("supply", i, 50_000.0))
    for i in range(N_BORROWERS):
        sim.apply(("deposit", i, "ETH", 0.5))
        if i % 2:  # odd borrowers hold both collaterals, even ones ETH only
            sim.apply(("deposit", i, "BTC", 0.5))
        sim.apply(("borrow", i, 0.95))
    return sim


@settings(max_examples=150, deadline=None)
@given(st.lists(actions, min_size=10, max_size=50))
def test_lending_invariants_hold_under_random_actions(seq):
    sim = _levered_sim()
    sim.check()
    for action in seq:
        sim.apply(action)
        sim.check()


def test_lending_invariants_hold_through_a_crash_with_bad_debt():
    sim = Sim()
    for i in range(N_SUPPLIERS):
        sim.apply(("supply", i, 50_000.0))
    for i in range(N_BORROWERS):
        sim.apply(("deposit", i, "ETH", 1.0))
        sim.apply(("borrow", i, 1.0))
    sim.apply(("accrue", 2_000))
    sim.apply(("price", "ETH", -0.5))
    liquidated = sim.market.liquidatable_accounts()
    assert liquidated.size == N_BORROWERS
    for a in liquidated:
        sim.apply(("liquidate", int(a), "ETH", math.inf))
        sim.check()
    assert sim.market.bad_debt_total > 0.0
    assert sim.market.liquidatable_accounts().size == 0
